import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {findClient, getClient} from '../../lib/config/clients.js'
import {resolveConnection, resolveIssuer} from '../../lib/config/connection.js'
import {type ConnectionFlags, splitScopes} from '../../lib/config/settings.js'
import {ExitCode, TokenInvalidError, UsageError} from '../../lib/errors.js'
import {connectionFlags} from '../../lib/flags.js'
import {audienceOptions, checkTokenSyntax, readTokenFromStdin, tokenArguments} from '../../lib/verify/input.js'
import {checkLines, failedNames, uncheckedAudienceWarning, verifyJson, type VerifyJson} from '../../lib/verify/report.js'
import {introspectToken, type VerifyOptions, verifyJwt} from '../../lib/verify/verify.js'

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
    const {args, flags} = await this.parse(TokenVerify)
    const {clientName, token: argument} = tokenArguments(args, (value) => findClient(value) !== undefined)
    if (argument === undefined && flags['client-secret-stdin']) {
      throw new UsageError('stdin cannot carry both the token and the client secret: pass the token as the argument, or the secret with --client-secret-env / --client-secret-file')
    }

    const token = checkTokenSyntax(argument ?? (await readTokenFromStdin()))
    const client = clientName === undefined ? undefined : {name: clientName, settings: getClient(clientName)}
    const options: VerifyOptions = {
      ...audienceOptions(flags.audience, client),
      clockSkewSeconds: flags['clock-skew'],
      roles: flags.role ?? [],
      scopes: splitScopes(flags.scope) ?? [],
    }
    const connection: ConnectionFlags = {...flags, audience: undefined, scope: undefined}
    const result = flags.introspect
      ? await introspectToken(token, resolveConnection(clientName, connection), options, this.runtime())
      : await verifyJwt(token, resolveIssuer(clientName, connection), options, this.hooks())

    const json = verifyJson(result)
    if (this.jsonEnabled()) {
      if (!result.valid) process.exitCode = ExitCode.tokenInvalid
      return json
    }

    for (const line of checkLines(result)) this.log(line)
    const warning = uncheckedAudienceWarning(result)
    if (warning) this.logToStderr(`warning: ${warning}`)
    const failures = failedNames(result)
    if (failures.length > 0) {
      throw new TokenInvalidError(`the token fails ${failures.length === 1 ? 'a check' : `${failures.length} checks`}: ${failures.join(', ')}`, {
        suggestions: ['each check\'s line on stdout says what was compared'],
      })
    }

    return json
  }
}
