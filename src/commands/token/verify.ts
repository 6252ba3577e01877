import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {connectionFlags} from '../../lib/flags.js'
import {tokenVerify} from '../../lib/operations/token-verify.js'
import type {VerifyJson} from '../../lib/verify/report.js'

/** Client credentials matter only to --introspect; anywhere else they would be silently ignored. */
const forIntrospection = <T extends object>(flag: T): T => ({...flag, dependsOn: ['introspect']})

export default class TokenVerify extends BaseCommand {
  static override args = {
    token: Args.string({ignoreStdin: true, description: 'the token, or - (the default) to read it from stdin'}),
    name: Args.string({ignoreStdin: true, description: 'named client: its issuer (and, for --introspect, its credentials)'}),
  }

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

  static override flags = {
    audience: Flags.string({
      description: 'an audience the web API accepts (repeatable); an Entra app\'s client id X and app ID URI api://X count as one. Default with a named client that authenticates: its client id and api://{client id}, as Microsoft.Identity.Web; else aud is not checked (and the verdict says so)',
      multiple: true,
    }),
    'certificate-file': Flags.string({description: 'a certificate-bound token (cnf.x5t#S256): the certificate it must be bound to (PEM, or PKCS#12 with --certificate-password-env)', helpValue: 'PATH'}),
    'certificate-password-env': {...connectionFlags['certificate-password-env'], helpGroup: undefined},
    'clock-skew': Flags.integer({default: 300, description: 'seconds of clock difference tolerated on exp and nbf, and on a DPoP proof\'s iat (Microsoft.Identity.Web\'s default)', helpValue: 'SECONDS', max: 86_400, min: 0}),
    'dpop-proof': Flags.string({description: 'a DPoP-bound token (cnf.jkt): the proof it is sent with (the DPoP header\'s value), checked as the API checks it', dependsOn: ['url'], helpValue: 'PROOF'}),
    method: Flags.string({description: 'the method of the request the DPoP proof is for [default: GET]', dependsOn: ['dpop-proof'], helpValue: 'METHOD'}),
    url: Flags.string({description: 'the URL of the request the DPoP proof is for', dependsOn: ['dpop-proof'], helpValue: 'URL'}),
    introspect: Flags.boolean({description: 'ask the issuer\'s RFC 7662 introspection endpoint instead (opaque tokens), with the client\'s credentials'}),
    role: Flags.string({description: 'an app role the token must carry in roles (repeatable)', multiple: true}),
    scope: Flags.string({description: 'a scope the token must carry in scp (repeatable, or space separated)', multiple: true}),
    issuer: connectionFlags.issuer,
    'ca-file': connectionFlags['ca-file'],
    timeout: connectionFlags.timeout,
    'client-id': forIntrospection(connectionFlags['client-id']),
    'auth-method': forIntrospection(connectionFlags['auth-method']),
    'client-secret-env': forIntrospection(connectionFlags['client-secret-env']),
    'client-secret-file': forIntrospection(connectionFlags['client-secret-file']),
    'client-secret-stdin': forIntrospection(connectionFlags['client-secret-stdin']),
    'private-key-file': forIntrospection(connectionFlags['private-key-file']),
    'federated-token-file': forIntrospection(connectionFlags['federated-token-file']),
    'federated-token-env': forIntrospection(connectionFlags['federated-token-env']),
    'federated-token-github': forIntrospection(connectionFlags['federated-token-github']),
    'federated-audience': forIntrospection(connectionFlags['federated-audience']),
    'key-id': forIntrospection(connectionFlags['key-id']),
    alg: forIntrospection(connectionFlags.alg),
  }

  static override summary = 'Check a token as a web API would, and say which check fails and why'

  async run(): Promise<VerifyJson> {
    return tokenVerify(await this.parse(TokenVerify), this.shell)
  }
}
