import {decodeJwtClaims} from '../jwt.js'

/** The two on-behalf-of dialects: Entra's jwt-bearer grant, and RFC 8693 token exchange. */
export type Flavor = 'entra' | 'rfc8693'

/** An access token as tokenctl keeps and prints it. Times are epoch milliseconds. */
export interface AccessToken {
  access_token: string
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

/** RFC 6750 spells it Bearer; servers that say `N_A` (RFC 8693) keep their word. */
function displayTokenType(type: string): string {
  if (type === 'bearer') return 'Bearer'
  if (type === 'dpop') return 'DPoP'
  return type
}

/** The expiry a response states, else the JWT's own `exp`, else unknown (then nothing is cached). */
function expiresAt(response: TokenEndpointResponse, now: number): number | undefined {
  if (typeof response.expires_in === 'number') return now + response.expires_in * 1000
  const exp = decodeJwtClaims(response.access_token)?.exp
  return typeof exp === 'number' ? exp * 1000 : undefined
}

export function accessTokenFrom(response: TokenEndpointResponse, now = Date.now()): AccessToken {
  const token: AccessToken = {access_token: response.access_token, token_type: displayTokenType(response.token_type)}
  const expiry = expiresAt(response, now)
  if (expiry !== undefined) token.expires_at = expiry
  if (response.scope) token.scope = response.scope
  if (response.issued_token_type) token.issued_token_type = response.issued_token_type
  return token
}

/** Seconds of life left, never negative; undefined when unknown. */
export function secondsLeft(token: AccessToken, now = Date.now()): number | undefined {
  if (token.expires_at === undefined) return undefined
  return Math.max(0, Math.floor((token.expires_at - now) / 1000))
}

/** The contract's lifetime buffer: a cached token is used while it has more than max(minTtl, 60) s left. */
export const LIFETIME_BUFFER_SECONDS = 60

export function isUsable(token: AccessToken, minTtlSeconds = 0, now = Date.now()): boolean {
  const left = secondsLeft(token, now)
  return left !== undefined && left > Math.max(minTtlSeconds, LIFETIME_BUFFER_SECONDS)
}
