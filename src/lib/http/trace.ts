/**
 * What --verbose shows of an HTTP exchange. Everything here is already masked: client secrets and
 * assertions never appear, tokens only as their length and a short hash — never one of their
 * characters. The library hands these events to the command layer, which prints them.
 */
import {createHash} from 'node:crypto'

export interface HttpExchange {
  /** Set when the request failed before any response (connection refused, timeout, TLS). */
  error?: string
  method: string
  ms: number
  /** Masked request parameters (form bodies). */
  request?: Record<string, string>
  /** Masked request headers. */
  requestHeaders?: Record<string, string>
  /** Masked top-level fields of a JSON response. */
  response?: Record<string, string>
  /** Masked response headers. */
  responseHeaders?: Record<string, string>
  status?: number
  url: string
}

export type TraceSink = (exchange: HttpExchange) => void

/**
 * Parameters whose value must never be shown, not even in part. These lists are exported for
 * test/e2e/redaction.test.ts, which holds them to its own table of names, both ways.
 */
export const NEVER_SHOWN = new Set([
  'actor_token',
  'assertion',
  'client_assertion',
  'client_secret',
  'code',
  'code_verifier',
  'device_code',
  'password',
  'subject_token',
  // The GitHub Actions runner's answer: {"value": "<the federated token>"}.
  'value',
])

/** Parameters that carry tokens: shown as a length and a short hash. */
export const TOKEN_LIKE = new Set(['access_token', 'id_token', 'refresh_token', 'token'])

/**
 * A token as a trace shows it: its length and the first 8 hex digits of its SHA-256, enough to tell
 * two tokens apart and to match one a script holds (`printf %s "$TOKEN" | sha256sum`), and not one
 * of its characters (a JWT's first ones are its header; a short token's would be all of it).
 */
export function maskToken(token: string): string {
  return `<${token.length} chars, sha256:${createHash('sha256').update(token).digest('hex').slice(0, 8)}>`
}

export function maskValue(name: string, value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  if (NEVER_SHOWN.has(name)) return '<redacted>'
  if (TOKEN_LIKE.has(name)) return maskToken(text)
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

export function maskParams(entries: Iterable<[string, unknown]>): Record<string, string> {
  const masked: Record<string, string> = {}
  for (const [name, value] of entries) masked[name] = maskValue(name, value)
  return masked
}

/** Headers whose value is a credential. */
export const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization'])
export const COOKIE_HEADERS = new Set(['cookie', 'set-cookie'])
/** A DPoP proof (RFC 9449): good for one request, yet a replay within its window is what servers guard against: shown as a length and a short hash. */
export const PROOF_HEADERS = new Set(['dpop'])

/** Authorization keeps its scheme and shows a bearer token as a length and a short hash; cookies never. */
export function maskHeader(name: string, value: string): string {
  const lower = name.toLowerCase()
  if (COOKIE_HEADERS.has(lower)) return '<redacted>'
  if (PROOF_HEADERS.has(lower)) return maskToken(value)
  if (!CREDENTIAL_HEADERS.has(lower)) return value
  const [scheme, credentials] = value.split(/\s+/, 2)
  if (!credentials) return '<redacted>'
  return /^(bearer|dpop)$/i.test(scheme) ? `${scheme} ${maskToken(credentials)}` : `${scheme} <redacted>`
}

export function maskHeaders(headers: Iterable<[string, string]>): Record<string, string> {
  const masked: Record<string, string> = {}
  for (const [name, value] of headers) masked[name.toLowerCase()] = maskHeader(name, value)
  return masked
}

/**
 * The userinfo (`user:password@`) of every URL in a text, as a URL parser reads it: from `//` to the
 * last `@` before the path. Error messages and traces are made of such texts (fetch's own errors
 * repeat the URL it was given).
 */
const URL_USERINFO = /\b([a-z][\d+.a-z-]*:\/\/)[^\s/?#]*@/gi

export function stripUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO, '$1')
}

/** The URL without userinfo and with a masked query string (tokens sometimes travel there). */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(stripUrlCredentials(url))
    parsed.username = ''
    parsed.password = ''
    for (const [name, value] of [...parsed.searchParams]) parsed.searchParams.set(name, maskValue(name, value))
    return parsed.toString()
  } catch {
    return '<unparseable URL>'
  }
}
