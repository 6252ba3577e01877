/**
 * The failure policy of every request tokenctl sends, in one table: for each kind of request, which
 * answers are worth another attempt, which methods may be sent again, how many attempts and how long
 * to wait between them, and how much of an answer is read. What it means for a user is in the README
 * (Commands: token requests are retried…; "Call an API with a managed token": Retries; Exit codes).
 *
 * A failure to reach the server at all (refused, reset, TLS, a timeout) is judged alike for every kind
 * by ./failure.ts; ./retry.ts runs the attempts. The kinds:
 *
 *   token     a token request, introspection, revocation, the GitHub Actions runner's OIDC token. 429
 *             and every 5xx say "try again later" (an authorization server's `temporarily_unavailable`
 *             comes as a 503); the request is sent again although it is a POST: a grant run twice
 *             costs one more token at worst, and the grant is re-run so that a client assertion is fresh.
 *   document  a discovery document or a key set: the same statuses.
 *   api       `call`: 429, 502, 503 and 504 only. An API's 500 is its answer to this request, which
 *             may have done something: it is shown (exit 8), not repeated. And only an idempotent
 *             method is sent again, unless the user asks for every method (--retry-all).
 */

export type RequestKind = 'api' | 'document' | 'token'

export interface HttpPolicy {
  /** The first wait when the server does not say (Retry-After); each later one doubles, with jitter. */
  readonly baseDelayMs: number
  /** The most an answer's body may hold, in bytes; none for `api`, whose body streams to the user. */
  readonly maxBodyBytes?: number
  /** All waits between attempts together stay within this: a Retry-After beyond it ends the retries. */
  readonly maxTotalWaitMs: number
  /** Methods sent again without --retry-all; undefined: any. */
  readonly repeatableMethods?: ReadonlySet<string>
  /** Attempts after the first one, unless the user says (`call --retries`). */
  readonly retries: number
  /** Statuses that say "try again later" rather than "this request is wrong". */
  readonly retryStatus: (status: number) => boolean
}

const TRY_AGAIN_LATER = (status: number): boolean => status === 429 || (status >= 500 && status <= 599)
const GATEWAY_OR_THROTTLED = new Set([429, 502, 503, 504])
/** RFC 9110 §9.2.2: a method whose effect is the same when it is sent twice. */
const IDEMPOTENT = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PUT', 'TRACE'])
/** A token response, a metadata document or a key set is a few KB (Entra's key set ~10 KB): far more is not one. */
const MAX_DOCUMENT_BYTES = 1024 * 1024

/** The same waits for every kind: the first backoff step, the budget of all waits, attempts after the first. */
export const WAITS = {baseDelayMs: 250, maxTotalWaitMs: 60_000, retries: 3} as const

export const HTTP_POLICY: Readonly<Record<RequestKind, HttpPolicy>> = {
  api: {...WAITS, repeatableMethods: IDEMPOTENT, retryStatus: (status) => GATEWAY_OR_THROTTLED.has(status)},
  document: {...WAITS, maxBodyBytes: MAX_DOCUMENT_BYTES, retryStatus: TRY_AGAIN_LATER},
  token: {...WAITS, maxBodyBytes: MAX_DOCUMENT_BYTES, retryStatus: TRY_AGAIN_LATER},
}

/** Whether this status, answered to a request of this kind, is worth another attempt. */
export function retriesStatus(kind: RequestKind, status: number): boolean {
  return HTTP_POLICY[kind].retryStatus(status)
}

/** Whether a request of this kind and method may be sent again; `retryAll` is the user's --retry-all. */
export function mayRepeat(kind: RequestKind, method: string, retryAll = false): boolean {
  const methods = HTTP_POLICY[kind].repeatableMethods
  return retryAll || methods === undefined || methods.has(method.toUpperCase())
}
