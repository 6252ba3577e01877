/**
 * `--format header` of a DPoP-bound token (README, "Sender-constrained tokens"): the token alone is
 * of no use to a curl command line, which needs a proof for its one request too. So `--url URL`
 * (and `--method M`, default GET) names that request, and the output is two header lines,
 * `Authorization: DPoP <token>` and `DPoP: <proof>`, for `curl -H @FILE`. Without --url there is
 * nothing to prove: exit 2 saying so. A bearer token ignores --url. Light on purpose: the proof's
 * code loads only when a proof is made, so a DPoP cache hit in any other format makes none.
 */
import {UsageError} from '../errors.js'
import {formatToken, type TokenFormat} from '../output.js'
import type {ResourceProver} from './dpop.js'
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
    throw new UsageError('--url goes with --format header: it names the request a DPoP-bound token\'s proof is for', 'usage_error', {
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

/** Said before a DPoP token is fetched when the connection asks for one, and after when a token turns out bound. */
export function assertProofRequestFor(format: string, request: ProofRequest | undefined): void {
  if (format !== 'header' || request !== undefined) return
  throw new UsageError('a DPoP-bound token needs a proof for each request: --format header needs --url URL (and --method M, default GET) to make one', 'usage_error', {
    suggestions: ['tokenctl token client NAME --format header --url https://api.example.com/things > headers && curl -H @headers https://api.example.com/things'],
  })
}

/**
 * The token in the format asked for; a DPoP-bound token's header with a fresh proof for the request
 * (the API's last nonce in it, when it gave one).
 */
export async function presentToken(token: AccessToken, format: TokenFormat, request: ProofRequest | undefined, prover: () => Promise<ResourceProver>): Promise<string> {
  if (format !== 'header' || token.token_type !== 'DPoP') return formatToken(token, format)
  assertProofRequestFor(format, request)
  const proof = await (await prover()).proof(request!.method, request!.url, token.access_token)
  return `${formatToken(token, format)}\nDPoP: ${proof}`
}
