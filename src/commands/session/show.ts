import {BaseCommand} from '../../lib/base-command.js'
import type {SessionSummary} from '../../lib/config/session-index.js'
import * as commandLine from '../../lib/operations/session-show.flags.js'
import {sessionShow} from '../../lib/operations/sessions.js'

export default class SessionShow extends BaseCommand {
  static override description =
    "Shows a session: status (active or needs_reauthentication, with the server's error), client, the credential its refresh uses (named client, kept with the session), the token endpoint, scopes, created, last refreshed, refresh count, access-token expiry. Never a token."
  static override examples = ['<%= config.bin %> <%= command.id %> --session-key nightly-report', '<%= config.bin %> <%= command.id %> --session-key nightly-report --json']
  static override flags = commandLine.flags
  static override summary = 'Show a session'

  async run(): Promise<SessionSummary> {
    return sessionShow(await this.parse(SessionShow), this.shell)
  }
}
