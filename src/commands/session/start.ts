import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {resolveConnection} from '../../lib/config/connection.js'
import {assertionSourceOf} from '../../lib/config/settings.js'
import {readSecret} from '../../lib/config/secrets.js'
import {assertionFlags, connectionFlags, outputFlag} from '../../lib/flags.js'
import {assertSessionKey, startSession} from '../../lib/oauth/sessions.js'
import type {Flavor} from '../../lib/oauth/token.js'
import {tokenJson, type TokenJson} from '../../lib/output.js'

export default class SessionStart extends BaseCommand {
  static override args = {
    name: Args.string({description: 'named client: the web API that keeps working for the user', ignoreStdin: true}),
  }

  static override description = `Starts a long-running on-behalf-of session, as Microsoft.Identity.Web's LongRunningWebApiSessionKey does:
an OBO request with offline_access whose refresh token is kept in the secure store under the session key
(token exchange: an answer without one is asked once more with requested_token_type refresh_token, as Keycloak needs).
Without --key the key is base64url(SHA-256(assertion)), as MSAL allocates it, and starting again with the same assertion replaces that session.
Prints the session key on stdout.`

  static override examples = [
    'KEY=$(<%= config.bin %> <%= command.id %> api --assertion-env USER_TOKEN --scope https://graph.microsoft.com/User.Read)',
    '<%= config.bin %> <%= command.id %> api --assertion-stdin --scope downstream.read --key nightly-report',
  ]

  static override flags = {
    ...connectionFlags,
    ...assertionFlags,
    ...outputFlag,
    key: Flags.string({description: 'session key: 1–128 characters of A-Z a-z 0-9 . _ : - (default: from the assertion)'}),
    replace: Flags.boolean({description: 'replace an existing session with this --key'}),
  }

  static override summary = 'Start a long-running OBO session'

  async run(): Promise<TokenJson> {
    const {args, flags} = await this.parse(SessionStart)
    // Usage errors before configuration errors: a bad key or a missing assertion is told first.
    if (flags.key !== undefined) assertSessionKey(flags.key)
    const assertionSource = assertionSourceOf(flags)
    const connection = resolveConnection(args.name, flags)
    const assertion = (await readSecret(assertionSource, 'assertion')).trim()
    const options = {assertion, flavor: flags.flavor as Flavor | undefined, key: flags.key, replace: flags.replace}
    const {result, summary} = await startSession(connection, options, this.runtime())
    this.log(summary.session_key)
    return {session_key: summary.session_key, ...tokenJson(result, {client: summary.client, flavor: summary.flavor})}
  }
}
