/**
 * `token verify`: checks a token as the web API that receives it would (Microsoft.Identity.Web's
 * JwtBearer validation with [RequiredScope]) and says which check fails and why.
 */
import type {CommandShell} from '../command-shell.js'
import {findClient, getClient} from '../config/clients.js'
import {resolveConnection, resolveIssuer} from '../config/connection.js'
import {splitScopes} from '../config/settings.js'
import {ExitCode, TokenInvalidError, UsageError} from '../errors.js'
import type {ConnectionFlags} from '../flags.js'
import {bindingEvidenceOf} from '../verify/binding-input.js'
import {audienceOptions, checkTokenSyntax, readTokenFromStdin, tokenArguments} from '../verify/input.js'
import {checkLines, failedNames, uncheckedAudienceWarning, verifyJson, type VerifyJson} from '../verify/report.js'
import {introspectToken, type VerifyOptions, verifyJwt} from '../verify/verify.js'
import type {CommandInput} from './input.js'
import type * as TokenVerify from './token-verify.flags.js'

export async function tokenVerify({args, flags}: CommandInput<typeof TokenVerify>, shell: CommandShell): Promise<VerifyJson> {
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
    binding: await bindingEvidenceOf(flags),
  }
  // --audience and --scope here are what the token must carry, not what a token request asks for;
  // --certificate-file the certificate it must be bound to, not a credential.
  const connection: ConnectionFlags = {...flags, audience: undefined, 'certificate-file': undefined, 'certificate-password-env': undefined, scope: undefined}
  const result = flags.introspect
    ? await introspectToken(token, resolveConnection(clientName, connection), options, shell.runtime())
    : await verifyJwt(token, resolveIssuer(clientName, connection), options, shell.hooks())

  const json = verifyJson(result)
  if (shell.json) {
    if (!result.valid) process.exitCode = ExitCode.tokenInvalid
    return json
  }

  for (const line of checkLines(result)) shell.log(line)
  const warning = uncheckedAudienceWarning(result)
  if (warning) shell.logToStderr(`warning: ${warning}`)
  const failures = failedNames(result)
  if (failures.length > 0) {
    throw new TokenInvalidError(`the token fails ${failures.length === 1 ? 'a check' : `${failures.length} checks`}: ${failures.join(', ')}`, {
      suggestions: ["each check's line on stdout says what was compared"],
    })
  }

  return json
}
