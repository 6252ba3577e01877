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
A lone NAME that is a configured client reads the token from stdin. --introspect asks the issuer instead (RFC 7662, for opaque tokens), with the client's credentials.`

  static override examples = [
    '<%= config.bin %> token user cli --scope access_as_user | <%= config.bin %> <%= command.id %> --issuer https://login.microsoftonline.com/$TENANT/v2.0 --audience api://$API_APP_ID --scope access_as_user',
    'printf %s "$USER_TOKEN" | <%= config.bin %> <%= command.id %> - api --audience $API_APP_ID --json',
    'printf %s "$OPAQUE_TOKEN" | <%= config.bin %> <%= command.id %> api --introspect',
  ]

  static override flags = {
    audience: Flags.string({
      description: 'an audience the web API accepts (repeatable); an Entra app\'s client id X and app ID URI api://X count as one. Default with a named client that authenticates: its client id and api://{client id}, as Microsoft.Identity.Web; else aud is not checked (and the verdict says so)',
      multiple: true,
    }),
    'clock-skew': Flags.integer({default: 300, description: 'seconds of clock difference tolerated on exp and nbf (Microsoft.Identity.Web\'s default)', helpValue: 'SECONDS', max: 86_400, min: 0}),
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
