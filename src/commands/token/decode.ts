import {BaseCommand} from '../../lib/base-command.js'
import * as commandLine from '../../lib/operations/token-decode.flags.js'
import {type DecodedJson, tokenDecode} from '../../lib/operations/token-decode.js'

export default class TokenDecode extends BaseCommand {
  static override args = commandLine.args

  static override description = `Prints a JWT's header and claims, with exp/iat/nbf as dates and as "expires in 53m" / "expired 2h ago", and what a cnf claim binds the token to (a DPoP key, a client certificate).
The signature is NOT verified: whoever accepts the token must verify it.`

  static override examples = ['<%= config.bin %> token client ci | <%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> eyJhbGciOi… --json']

  static override summary = 'Show what is inside a JWT (signature not verified)'

  async run(): Promise<DecodedJson> {
    return tokenDecode(await this.parse(TokenDecode), this.shell)
  }
}
