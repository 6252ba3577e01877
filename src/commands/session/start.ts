import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {assertionFlags, connectionFlags, outputFlag, sessionKey} from '../../lib/flags.js'
import {sessionStart} from '../../lib/operations/on-behalf-of.js'
import type {TokenJson} from '../../lib/output.js'

export default class SessionStart extends BaseCommand {
  static override args = {
    name: Args.string({description: 'named client: the web API that keeps working for the user', ignoreStdin: true}),
  }

  static override description = `Starts a long-running on-behalf-of session, as Microsoft.Identity.Web's LongRunningWebApiSessionKey does:
an OBO request with offline_access whose refresh token is kept in the secure store under the session key
(token exchange: an answer without one is asked once more with requested_token_type refresh_token, as Keycloak needs).
Without --session-key the key is base64url(SHA-256(assertion)), as MSAL allocates it, and starting again with the same assertion replaces that session.
Prints the session key on stdout.`

  static override examples = [
    'KEY=$(<%= config.bin %> <%= command.id %> api --assertion-env USER_TOKEN --scope https://graph.microsoft.com/User.Read)',
    '<%= config.bin %> <%= command.id %> api --assertion-stdin --scope downstream.read --session-key nightly-report',
  ]

  static override flags = {
    ...connectionFlags,
    ...assertionFlags,
    ...outputFlag,
    replace: Flags.boolean({description: 'replace an existing session with this --session-key'}),
    'session-key': Flags.string(sessionKey('key', 'the session\'s key: 1–128 characters of A-Z a-z 0-9 . _ : - (default: from the assertion)')),
  }

  static override summary = 'Start a long-running OBO session'

  async run(): Promise<TokenJson> {
    return sessionStart(await this.parse(SessionStart), this.shell)
  }
}
