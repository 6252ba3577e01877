import {BaseCommand} from '../../lib/base-command.js'
import * as commandLine from '../../lib/operations/token-verify.flags.js'
import {tokenVerify} from '../../lib/operations/token-verify.js'
import type {VerifyJson} from '../../lib/verify/report.js'

export default class TokenVerify extends BaseCommand {
  static override args = commandLine.args

  static override description = `Checks a token as the web API that receives it would (Microsoft.Identity.Web's JwtBearer validation with [RequiredScope]) and says which check fails and why: signature (the issuer's JWKS from discovery, cached 24 h; an unknown kid fetches it again), iss, aud, exp/nbf with the clock skew, scopes in scp, app roles in roles.
One line per check on stdout (passed / failed / skipped, with the values compared, never the token). Exit 0 when every check passes, 9 when any fails, 6 when the keys cannot be fetched.
A lone NAME that is a configured client reads the token from stdin. --introspect asks the issuer instead (RFC 7662, for opaque tokens), with the client's credentials.
A sender-constrained token (cnf) is checked as the API checks it: a DPoP-bound one with the proof it is sent with (--dpop-proof, --method, --url: signature with the proof's jwk, its thumbprint equal to cnf.jkt, htm, htu, iat within the clock skew, ath), a certificate-bound one against --certificate-file (cnf.x5t#S256). Checked without them, the binding check fails: an API refuses a bound token as a bearer token.`

  static override examples = [
    '<%= config.bin %> token user cli --scope access_as_user | <%= config.bin %> <%= command.id %> --issuer https://login.microsoftonline.com/$TENANT/v2.0 --audience api://$API_APP_ID --scope access_as_user',
    'printf %s "$USER_TOKEN" | <%= config.bin %> <%= command.id %> - api --audience $API_APP_ID --json',
    'printf %s "$OPAQUE_TOKEN" | <%= config.bin %> <%= command.id %> api --introspect',
    '<%= config.bin %> <%= command.id %> "$TOKEN" --issuer https://idp.example.com --dpop-proof "$PROOF" --method GET --url https://api.example.com/things',
  ]

  static override flags = commandLine.flags

  static override summary = 'Check a token as a web API would, and say which check fails and why'

  async run(): Promise<VerifyJson> {
    return tokenVerify(await this.parse(TokenVerify), this.shell)
  }
}
