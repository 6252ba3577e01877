import {BaseCommand} from '../../lib/base-command.js'
import {sessionStart} from '../../lib/operations/on-behalf-of.js'
import * as commandLine from '../../lib/operations/session-start.flags.js'
import type {TokenJson} from '../../lib/output.js'

export default class SessionStart extends BaseCommand {
  static override args = commandLine.args

  static override description = `Starts a long-running on-behalf-of session, as Microsoft.Identity.Web's LongRunningWebApiSessionKey does:
an OBO request with offline_access whose refresh token is kept in the secure store under the session key
(token exchange: an answer without one is asked once more with requested_token_type refresh_token, as Keycloak needs).
Without --session-key the key is base64url(SHA-256(assertion)), as MSAL allocates it, and starting again with the same assertion replaces that session.
Prints the session key on stdout.`

  static override examples = [
    'KEY=$(<%= config.bin %> <%= command.id %> api --assertion-env USER_TOKEN --scope https://graph.microsoft.com/User.Read)',
    '<%= config.bin %> <%= command.id %> api --assertion-stdin --scope downstream.read --session-key nightly-report',
  ]

  static override flags = commandLine.flags

  static override summary = 'Start a long-running OBO session'

  async run(): Promise<TokenJson> {
    return sessionStart(await this.parse(SessionStart), this.shell)
  }
}
