import {BaseCommand} from '../../lib/base-command.js'
import type {EndResult} from '../../lib/oauth/sessions.js'
import * as commandLine from '../../lib/operations/session-end.flags.js'
import {sessionEnd} from '../../lib/operations/sessions.js'

export default class SessionEnd extends BaseCommand {
  static override description = `Ends a session: revokes its refresh token at the server's revocation_endpoint (RFC 7009, token_type_hint=refresh_token) when there is one, then removes it.
A failed revocation is a warning: the local session is removed all the same.`

  static override examples = ['<%= config.bin %> <%= command.id %> --session-key nightly-report', '<%= config.bin %> <%= command.id %> --session-key nightly-report --no-revoke']
  static override flags = commandLine.flags

  static override summary = 'End a session'

  async run(): Promise<EndResult> {
    return sessionEnd(await this.parse(SessionEnd), this.shell)
  }
}
