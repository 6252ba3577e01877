import {BaseCommand} from '../../lib/base-command.js'
import type {SessionSummary} from '../../lib/config/session-index.js'
import {listSessions} from '../../lib/oauth/sessions.js'

export default class SessionList extends BaseCommand {
  static override description = 'Lists the sessions from the session index (the non-secret index of TOKENCTL_HOME, or the shared store\'s own with TOKENCTL_STORE=redis): key, status, client, scopes, refresh count, access-token expiry.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override summary = 'List sessions'

  async run(): Promise<SessionSummary[]> {
    await this.parse(SessionList)
    const sessions = await listSessions(this.runtime())
    if (sessions.length === 0) this.logToStderr('no sessions: tokenctl session start …')
    for (const session of sessions) {
      const expires = session.access_token_expires_at ?? '-'
      this.log([session.session_key, session.status, session.client, session.scopes.join(' '), `refreshed ${session.refresh_count}×`, `expires ${expires}`].join('\t'))
    }

    return sessions
  }
}
