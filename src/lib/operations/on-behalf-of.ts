/**
 * `token obo` and `session start`: a web API's on-behalf-of exchange of the user's token it received
 * (the assertion), once (cached like token client) or as a long-running session, as
 * Microsoft.Identity.Web's GetAccessTokenForUserAsync and LongRunningWebApiSessionKey do.
 */
import type {CommandShell} from '../command-shell.js'
import {type Connection, resolveConnection} from '../config/connection.js'
import {assertionSourceOf} from '../config/settings.js'
import {readSecret} from '../config/secrets.js'
import type {AssertionFlags, ConnectionFlags} from '../flags.js'
import {dpopOwnerOf} from '../oauth/client-credentials.js'
import {oboToken} from '../oauth/obo.js'
import {assertSessionKey, startSession} from '../oauth/sessions.js'
import type {Flavor} from '../oauth/token.js'
import {assertDpopFormat, dpopGivenOf, presentToken, proofRequestOf} from '../oauth/token-header.js'
import {checkTokenFormat, type TokenFormat, tokenJson, type TokenJson} from '../output.js'
import type {CommandInput} from './input.js'
import type * as SessionStart from './session-start.flags.js'
import {orWithoutCache} from './store-advice.js'
import type * as TokenObo from './token-obo.flags.js'

/**
 * What both exchanges start from, in the order a user is told of mistakes: no assertion source (a
 * usage error) before a missing configuration, and both before the assertion is read.
 */
async function exchangeInput(name: string | undefined, flags: AssertionFlags & ConnectionFlags): Promise<{assertion: string; connection: Connection}> {
  const source = assertionSourceOf(flags)
  const connection = resolveConnection(name, flags)
  const assertion = (await readSecret(source, 'assertion')).trim()
  return {assertion, connection}
}

export async function tokenObo({args, flags}: CommandInput<typeof TokenObo>, shell: CommandShell): Promise<TokenJson> {
  const {assertion, connection} = await exchangeInput(args.name, flags)
  checkTokenFormat(flags.format)
  const proofRequest = proofRequestOf(flags)
  const dpopGiven = dpopGivenOf(flags, connection)
  if (connection.dpop) assertDpopFormat(flags.format, proofRequest, dpopGiven)
  const request = {assertion, flavor: flags.flavor as Flavor | undefined, requestedTokenType: flags['requested-token-type']}
  const options = {force: flags.force, minTtlSeconds: flags['min-ttl'], noCache: flags['no-cache']}
  const runtime = shell.runtime()
  const result = await oboToken(connection, request, options, runtime).catch(orWithoutCache(connection, options.noCache))
  const prover = async () => (await import('../oauth/dpop.js')).resourceProverFor(dpopOwnerOf(connection), runtime.openStore)
  shell.log(await presentToken(result.token, flags.format as TokenFormat, proofRequest, prover, dpopGiven))
  return tokenJson(result, {client: args.name ?? null, flavor: result.token.flavor ?? null})
}

export async function sessionStart({args, flags}: CommandInput<typeof SessionStart>, shell: CommandShell): Promise<TokenJson> {
  // A bad key is a usage error too, told before anything else.
  if (flags['session-key'] !== undefined) assertSessionKey(flags['session-key'])
  const {assertion, connection} = await exchangeInput(args.name, flags)
  const options = {assertion, flavor: flags.flavor as Flavor | undefined, key: flags['session-key'], replace: flags.replace}
  const {result, summary} = await startSession(connection, options, shell.runtime())
  shell.log(summary.session_key)
  // The key alone on stdout (KEY=$(tokenctl session start …)); what was done, for the person, on stderr.
  shell.logToStderr(`started session ${summary.session_key} for client ${summary.client} (scopes ${summary.scopes.join(' ')}; its refresh token is in the secure store)`)
  return {session_key: summary.session_key, ...tokenJson(result, {client: summary.client, flavor: summary.flavor})}
}
