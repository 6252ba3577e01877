/**
 * `--format header` of a DPoP-bound token (README, "Sender-constrained tokens"): the token alone is
 * of no use to a curl command line, which needs a proof for its one request too. So `--url URL`
 * (and `--method M`, default GET) names that request, and the output is two header lines,
 * `Authorization: DPoP <token>` and `DPoP: <proof>`, for `curl -H @FILE`. Without --url there is
 * nothing to prove: exit 2 saying so. A bearer token ignores --url. Light on purpose: the proof's
 * code loads only when a proof is made, so a DPoP cache hit in any other format makes none.
 *
 * Where a token leaves tokenctl's hands to be sent as a bearer token — kubectl's ExecCredential,
 * `exec`'s environment — a DPoP-bound one is refused (exit 2, as --format header without --url is):
 * with no key to prove with, the API would refuse it, and a failure there says nothing of why.
 */
import {UsageError} from '../errors.js'
import {formatToken, type TokenFormat} from '../output.js'
import type {ResourceProver} from './dpop.js'
import type {DpopKeyLocation} from './dpop-keys.js'
import type {AccessToken} from './token.js'

export interface ProofRequestFlags {
  format: string
  method?: string
  url?: string
}

/** The one request a header's proof is for. */
export interface ProofRequest {
  method: string
  url: URL
}

const METHOD = /^[!#$%&'*+.^`|~\w-]+$/

/** --url / --method, checked before any request is made: they go with --format header only. */
export function proofRequestOf(flags: ProofRequestFlags): ProofRequest | undefined {
  if (flags.url === undefined) return undefined
  if (flags.format !== 'header') {
    throw new UsageError("--url goes with --format header: it names the request a DPoP-bound token's proof is for", 'usage_error', {
      suggestions: ['add --format header, or drop --url'],
    })
  }

  const url = URL.canParse(flags.url) ? new URL(flags.url) : undefined
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new UsageError(`--url must be an absolute http(s) URL, not "${flags.url.slice(0, 80)}"`, 'usage_error', {suggestions: ['e.g. --url https://api.example.com/things']})
  }

  const method = (flags.method ?? 'GET').toUpperCase()
  if (!METHOD.test(method)) throw new UsageError(`--method takes an HTTP method such as GET or POST, not "${method.slice(0, 40)}"`)
  return {method, url}
}

/**
 * What bound a connection's tokens to a DPoP key, as the command line gave it: the flag, a named
 * client that keeps a key, a session that started with one. The advice names what the user can change.
 */
export interface DpopGiven {
  client?: string
  flag?: '--dpop' | '--dpop-key-file'
  session?: string
}

/** A connection's DpopGiven: the flag when given, the named client when its stored key is the one used. */
export function dpopGivenOf(flags: {dpop?: boolean; 'dpop-key-file'?: string}, connection: {dpop?: DpopKeyLocation}): DpopGiven {
  const flag = flags['dpop-key-file'] === undefined ? (flags.dpop ? '--dpop' : undefined) : '--dpop-key-file'
  return {...(flag ? {flag} : {}), ...(connection.dpop?.kind === 'named_client' ? {client: connection.dpop.name} : {})}
}

/** The places a token goes on from as a bearer token, out of tokenctl's hands. */
export type BearerHandoff = 'exec' | 'exec-credential'

const HANDOFFS: Record<BearerHandoff, {message: string; who: string}> = {
  exec: {message: 'a DPoP-bound token cannot be handed to a command: it could only send it as a bearer token, which an API refuses from a bound token', who: 'a command'},
  'exec-credential': {message: 'a DPoP-bound token cannot go in an ExecCredential: kubectl sends it as a bearer token, which an API refuses from a bound token', who: 'kubectl'},
}

/** Exit 2: a DPoP-bound token asked for where it would go on as a bearer token; the advice fits what bound it. */
export function boundTokenRefused(handoff: BearerHandoff, given: DpopGiven): UsageError {
  const {message, who} = HANDOFFS[handoff]
  const instead = given.flag
    ? `drop ${given.flag}${given.client ? ` and use a client added without --dpop` : ''} for ${who}`
    : given.session
      ? `for ${who} use a session started without --dpop; tokenctl call URL --session-key ${given.session} sends this one with a proof per request`
      : given.client
        ? `for ${who} use a client added without --dpop; tokenctl call URL --client ${given.client} sends this one with a proof per request`
        : `for ${who} ask for a token without --dpop`
  return new UsageError(message, 'usage_error', {suggestions: [instead]})
}

/**
 * Said before a DPoP token is fetched when the connection asks for one, and after when a token turns
 * out bound: a header needs --url for its proof, an ExecCredential cannot carry a bound token.
 */
export function assertDpopFormat(format: string, request: ProofRequest | undefined, given: DpopGiven): void {
  if (format === 'exec-credential') throw boundTokenRefused('exec-credential', given)
  if (format !== 'header' || request !== undefined) return
  throw new UsageError('a DPoP-bound token needs a proof for each request: --format header needs --url URL (and --method M, default GET) to make one', 'usage_error', {
    suggestions: ['tokenctl token client NAME --format header --url https://api.example.com/things > headers && curl -H @headers https://api.example.com/things'],
  })
}

/**
 * The token in the format asked for; a DPoP-bound token's header with a fresh proof for the request
 * (the API's last nonce in it, when it gave one).
 */
export async function presentToken(token: AccessToken, format: TokenFormat, request: ProofRequest | undefined, prover: () => Promise<ResourceProver>, given: DpopGiven): Promise<string> {
  if (token.token_type !== 'DPoP' || (format !== 'header' && format !== 'exec-credential')) return formatToken(token, format)
  assertDpopFormat(format, request, given)
  const proof = await (await prover()).proof(request!.method, request!.url, token.access_token)
  return `${formatToken(token, format)}\nDPoP: ${proof}`
}
