import {BaseCommand} from '../../lib/base-command.js'
import {tokenObo} from '../../lib/operations/on-behalf-of.js'
import * as commandLine from '../../lib/operations/token-obo.flags.js'
import type {TokenJson} from '../../lib/output.js'

export default class TokenObo extends BaseCommand {
  static override args = commandLine.args

  static override description = `Exchanges an incoming user access token (the assertion) for a downstream token, as a web API does:
entra: grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer, requested_token_use=on_behalf_of;
rfc8693: grant_type=urn:ietf:params:oauth:grant-type:token-exchange, subject_token_type=…:access_token.
Default flavor: entra on Microsoft's login hosts, rfc8693 when the server's metadata lists token exchange, else entra.
Cached like token client, under a key holding the assertion's SHA-256 (never the assertion) and the flavor.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> api --assertion-env USER_TOKEN --scope https://graph.microsoft.com/.default',
    '<%= config.bin %> token user cli --scope access_as_user --device | <%= config.bin %> <%= command.id %> api --assertion-stdin --scope read',
  ]

  static override flags = commandLine.flags

  static override summary = "Exchange a user's token on-behalf-of"

  async run(): Promise<TokenJson> {
    return tokenObo(await this.parse(TokenObo), this.shell)
  }
}
