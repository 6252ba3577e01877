import {BaseCommand} from '../../lib/base-command.js'
import type {SessionSummary} from '../../lib/config/session-index.js'
import {sessionList} from '../../lib/operations/sessions.js'

export default class SessionList extends BaseCommand {
  static override description = `Lists the sessions from the session index (the non-secret index of TOKENCTL_HOME, or the shared store's own with TOKENCTL_STORE=redis): key, status, client, scopes, refresh count and last refresh, access-token expiry.
On a terminal: a table with a header, times in ISO 8601 with "in 54m" / "2h ago" beside them. Piped: one tab-separated row of plain values per session, without header or colour (key, status, client, scopes, refresh count, last refresh, token expiry; times in ISO 8601, - for none), as gh pipes its tables. --json for scripts.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override summary = 'List sessions'

  async run(): Promise<SessionSummary[]> {
    return sessionList(await this.parse(SessionList), this.shell)
  }
}
