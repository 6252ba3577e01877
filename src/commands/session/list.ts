import {BaseCommand, stdoutColors} from '../../lib/base-command.js'
import type {SessionSummary} from '../../lib/config/session-index.js'
import {listSessions} from '../../lib/oauth/sessions.js'
import {formatTable, timeCell} from '../../lib/output.js'

export default class SessionList extends BaseCommand {
  static override description = `Lists the sessions from the session index (the non-secret index of TOKENCTL_HOME, or the shared store's own with TOKENCTL_STORE=redis): key, status, client, scopes, refresh count and last refresh, access-token expiry.
On a terminal: a table with a header; piped: the same rows, tab-separated, without header or colour. Times are ISO 8601 with "in 54m" / "2h ago" beside them. --json for scripts.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override summary = 'List sessions'

  async run(): Promise<SessionSummary[]> {
    await this.parse(SessionList)
    const sessions = await listSessions(this.runtime())
    if (sessions.length === 0) {
      this.logToStderr('no sessions: tokenctl session start …')
      return sessions
    }

    const colors = await stdoutColors()
    const now = Date.now()
    const rows = sessions.map((session) => [
      session.session_key,
      session.status === 'active' ? colors.green(session.status) : colors.red(session.status),
      session.client,
      session.scopes.join(' '),
      `${session.refresh_count}×${session.last_refreshed_at ? `, last ${timeCell(session.last_refreshed_at, now)}` : ''}`,
      timeCell(session.access_token_expires_at, now),
    ])
    const headers = ['KEY', 'STATUS', 'CLIENT', 'SCOPES', 'REFRESHED', 'TOKEN EXPIRES']
    for (const line of formatTable(headers, rows, {header: colors.bold, terminal: Boolean(process.stdout.isTTY)})) this.log(line)
    return sessions
  }
}
