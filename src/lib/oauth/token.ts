import {NetworkError} from '../errors.js'
import {decodeJwtClaims} from '../jwt.js'

/** The two on-behalf-of dialects: Entra's jwt-bearer grant, and RFC 8693 token exchange. */
export type Flavor = 'entra' | 'rfc8693'

/** An access token as tokenctl keeps and prints it. Times are epoch milliseconds. */
export interface AccessToken {
  access_token: string
  /** A DPoP-bound token (token_type DPoP): the thumbprint of the key it is bound to. */
  dpop_jkt?: string
  expires_at?: number
  /** How an on-behalf-of token was obtained. */
  flavor?: Flavor
  issued_token_type?: string
  scope?: string
  token_type: string
}

export type TokenSource = 'cache' | 'identity_provider'

export interface TokenResult {
  source: TokenSource
  token: AccessToken
}

/** What openid-client hands back from a token endpoint (it lower-cases token_type). */
export interface TokenEndpointResponse {
  access_token: string
  expires_in?: number
  issued_token_type?: string
  refresh_token?: string
  scope?: string
  token_type: string
}

/** RFC 6750 spells it Bearer; servers that say `N_A` (RFC 8693 §2.2.1, not an access token) keep their word. */
function displayTokenType(type: string): string {
  if (type === 'bearer') return 'Bearer'
  if (type === 'dpop') return 'DPoP'
  if (type === 'n_a') return 'N_A'
  return type
}

/** RFC 6750 §2.1's b64token: all that an Authorization header, `--format header` or `env` may carry. */
const B64TOKEN = /^[\w\-.~+/]+=*$/
/** RFC 6749 Appendix A.17: a refresh token is printable ASCII (it is stored and sent back, never shown). */
const REFRESH_TOKEN = /^[\u0020-\u007E]+$/
/** Whether a token fits RFC 6750's syntax, so that an Authorization header can carry it. */
export function isB64Token(token: string): boolean {
  return B64TOKEN.test(token)
}

/**
 * The latest expiry tokenctl accepts: the end of year 9999, the last instant an ISO 8601 date with a
 * four-digit year (`expires_at`) can state. Later, or not a number, is a malformed response.
 */
export const LATEST_EXPIRY_MS = Date.UTC(9999, 11, 31, 23, 59, 59)

/** Whether a time (epoch ms: an expiry, a JWT's exp/iat/nbf) is one tokenctl can keep and print. */
export function isTimeInRange(epochMs: unknown): epochMs is number {
  return typeof epochMs === 'number' && Number.isFinite(epochMs) && epochMs >= 0 && epochMs <= LATEST_EXPIRY_MS
}

function malformed(what: string): NetworkError {
  return new NetworkError(`the token response is malformed: ${what}`, 'invalid_response', {
    suggestions: ['the authorization server sent something no client can use: report it to whoever runs it'],
  })
}

/** The expiry a response states, else the JWT's own `exp`, else unknown (then nothing is cached). */
function expiresAt(response: TokenEndpointResponse, now: number): number | undefined {
  if (response.expires_in !== undefined) {
    const expiry = now + response.expires_in * 1000
    if (!(response.expires_in >= 0) || !isTimeInRange(expiry)) {
      throw malformed(`expires_in ${String(response.expires_in)} is out of range (0 to the year 9999)`)
    }

    return expiry
  }

  const claims = decodeJwtClaims(response.access_token)
  if (claims?.exp === undefined) return undefined
  const exp = claims.exp as unknown
  if (typeof exp !== 'number' || !isTimeInRange(exp * 1000)) {
    throw malformed(`the access token's exp ${typeof exp === 'number' ? String(exp) : `(a ${typeof exp})`} is out of range (0 to the year 9999)`)
  }

  return exp * 1000
}

/** A refresh token as a response carries it: printable ASCII, else a malformed response (exit 6). */
export function checkedRefreshToken(token: string): string {
  if (!REFRESH_TOKEN.test(token)) throw malformed("the refresh token has characters outside RFC 6749's syntax (printable ASCII)")
  return token
}

/**
 * The one place a token response becomes a token tokenctl keeps and prints: an access token outside
 * RFC 6750's syntax (a space, CR/LF, a control character: header injection into whatever reads
 * `--format header`) or an expiry out of range is a malformed response (exit 6), before anything is
 * printed or cached. The token itself never appears in the message.
 */
export function accessTokenFrom(response: TokenEndpointResponse, now = Date.now()): AccessToken {
  if (!B64TOKEN.test(response.access_token)) {
    throw malformed("the access token has characters outside RFC 6750's token syntax (letters, digits, - . _ ~ + / and trailing =)")
  }

  if (response.refresh_token !== undefined) checkedRefreshToken(response.refresh_token)

  const token: AccessToken = {access_token: response.access_token, token_type: displayTokenType(response.token_type)}
  const expiry = expiresAt(response, now)
  if (expiry !== undefined) token.expires_at = expiry
  if (response.scope) token.scope = response.scope
  if (response.issued_token_type) token.issued_token_type = response.issued_token_type
  return token
}

/** A token as tokenctl itself accepts one (accessTokenFrom): a kept value that is not (a damaged entry) is never used. */
export function isWellFormed(token: unknown): token is AccessToken {
  if (typeof token !== 'object' || token === null) return false
  const {access_token: accessToken, expires_at: expiresAt, token_type: tokenType} = token as Partial<AccessToken>
  return typeof accessToken === 'string' && B64TOKEN.test(accessToken) && typeof tokenType === 'string' && (expiresAt === undefined || isTimeInRange(expiresAt))
}

/** Seconds of life left, never negative; undefined when unknown. */
export function secondsLeft(token: AccessToken, now = Date.now()): number | undefined {
  if (token.expires_at === undefined) return undefined
  return Math.max(0, Math.floor((token.expires_at - now) / 1000))
}

/** The lifetime buffer (README, "Commands"): a cached token is used while it has more than max(minTtl, 60) s left. */
export const LIFETIME_BUFFER_SECONDS = 60

export function isUsable(token: AccessToken, minTtlSeconds = 0, now = Date.now()): boolean {
  const left = secondsLeft(token, now)
  return left !== undefined && left > Math.max(minTtlSeconds, LIFETIME_BUFFER_SECONDS)
}
