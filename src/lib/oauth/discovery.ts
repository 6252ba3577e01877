/**
 * Discovery of an authorization server's metadata from its issuer, in the order README's "Commands"
 * gives: OpenID Connect Discovery 1.0 §4 (`ISSUER/.well-known/openid-configuration`), then RFC 8414
 * §3.1 (`/.well-known/oauth-authorization-server` inserted between host and path), then the same
 * segment appended after the path, which many servers answer too. Any answer that is not a metadata document
 * — a 404 or other 4xx whatever its body, a redirect, HTML, JSON without an issuer — means "not
 * here": the next location is asked. 5xx, 429 and connection failures are retried, then reported
 * (exit 6); a document naming another issuer is refused (exit 3).
 *
 * Every location is fetched by openid-client's `discovery()`: the first two from the issuer with
 * `algorithm` 'oidc' / 'oauth2' (it builds those URLs and checks the issuer, Entra's multi-tenant
 * `{tenantid}` issuer included); the appended one, which it has no algorithm for, as a URL already
 * holding `/.well-known/`, which it fetches as given without an issuer check, so the check is here.
 */
import type {Configuration, DiscoveryRequestOptions, ServerMetadata} from 'openid-client'

import {secureUrl} from '../config/urls.js'
import {ConfigError, NetworkError, TokenctlError} from '../errors.js'
import {escapeControls} from '../terminal-text.js'
import {bodyStart} from '../http/bodies.js'
import type {HttpContext} from '../http/context.js'
import {retriesStatus} from '../http/policy.js'
import {translateOAuthError} from './errors.js'

const OIDC_WELL_KNOWN = '.well-known/openid-configuration'
const RFC8414_WELL_KNOWN = '.well-known/oauth-authorization-server'

/** Server text quoted in a message: at most this many characters. */
const QUOTE_LENGTH = 64
/** Of an error page, only the start is read: enough to quote. */
const ERROR_PAGE_BYTES = 4096

export interface DiscoveryLocation {
  /** openid-client builds the URL from the issuer with this algorithm (and checks the issuer). */
  algorithm?: 'oauth2' | 'oidc'
  url: URL
}

/**
 * Where the metadata of `issuer` may be, in the order asked. For an issuer without a path the
 * inserted and appended forms are one URL, asked once.
 */
export function discoveryLocations(issuer: URL): DiscoveryLocation[] {
  // RFC 8414 §3.1: a terminating "/" of the issuer's path is removed before the segment is inserted.
  const path = issuer.pathname.replace(/\/$/, '')
  const at = (pathname: string) => Object.assign(new URL(issuer.href), {pathname})
  const locations: DiscoveryLocation[] = [
    {algorithm: 'oidc', url: at(`${path}/${OIDC_WELL_KNOWN}`)},
    {algorithm: 'oauth2', url: at(`/${RFC8414_WELL_KNOWN}${path}`)},
  ]
  const appended = at(`${path}/${RFC8414_WELL_KNOWN}`)
  if (appended.href !== locations[1].url.href) locations.push({url: appended})
  return locations
}

/** Control characters escaped (a terminal must not act on them), long text cut. */
function quote(text: string): string {
  const escaped = escapeControls(text)
  return escaped.length > QUOTE_LENGTH ? `${escaped.slice(0, QUOTE_LENGTH - 1)}…` : escaped
}

function contentType(response: Response): string {
  return quote(response.headers.get('content-type')?.split(';')[0]?.trim() || 'no content type')
}

/** What a non-200 answer said, short: `404 {"error":"not_found"}`, `404 text/html`, `302 redirect to …`. */
async function describeAnswer(response: Response): Promise<string> {
  const {status} = response
  const location = response.headers.get('location')
  if (status >= 300 && status < 400 && location) return `${status} redirect to ${quote(location)}`
  const text = await bodyStart(response, ERROR_PAGE_BYTES)
  if (text.trim() === '') return String(status)
  try {
    const json = JSON.parse(text) as unknown
    if (typeof json === 'object' && json !== null) return `${status} ${quote(JSON.stringify(json))}`
  } catch {
    // not JSON (or cut at the read limit): the content type says what it was
  }

  return `${status} ${contentType(response)}`
}

function isResponse(value: unknown): value is Response {
  return typeof value === 'object' && value !== null && 'status' in value && 'headers' in value
}

interface LibraryError {
  cause?: unknown
  code?: string
  name?: string
}

/**
 * What openid-client's failure says about this location when it means "no metadata document here";
 * undefined for anything else (a server error, a network failure, an issuer mismatch).
 */
async function notHere(error: unknown): Promise<string | undefined> {
  const err = error as LibraryError | undefined
  if (err?.name !== 'ClientError') return undefined
  // Our own refusal inside the request (an answer beyond the policy's bound) is reported as it is.
  if (err.cause instanceof TokenctlError || (err.cause as LibraryError | undefined)?.cause instanceof TokenctlError) return undefined
  switch (err.code) {
    case 'OAUTH_RESPONSE_IS_NOT_CONFORM': {
      // Any status but 200. Those the policy retries (5xx, 429) say "try again later", not "not here".
      if (!isResponse(err.cause) || retriesStatus('document', err.cause.status)) return undefined
      return describeAnswer(err.cause)
    }

    case 'OAUTH_RESPONSE_IS_NOT_JSON': {
      return isResponse(err.cause) ? `${err.cause.status} ${contentType(err.cause)}, not JSON` : 'not JSON'
    }

    case 'OAUTH_PARSE_ERROR': {
      return '200 application/json that does not parse'
    }

    case 'OAUTH_INVALID_RESPONSE': {
      const body = ((err.cause as LibraryError | undefined)?.cause as {body?: unknown} | undefined)?.body
      return typeof body === 'object' && body !== null && !Array.isArray(body) ? '200 JSON without an issuer' : '200 JSON that is not an object'
    }
  }

  return undefined
}

function namesIssuer(named: string, issuer: URL): boolean {
  try {
    return new URL(named).href === issuer.href
  } catch {
    return false
  }
}

function anotherIssuer(url: URL, named: unknown, issuer: URL): ConfigError {
  return new ConfigError(`the discovery document at ${url.href} names another issuer, ${quote(String(named))}, not ${issuer.href}`, 'config_error', {
    suggestions: ['pass --issuer exactly as the server spells its issuer (trailing slash included)'],
  })
}

/** The document at one location, or what the location answered instead. */
async function documentAt(location: DiscoveryLocation, issuer: URL, http: HttpContext): Promise<ServerMetadata | string> {
  const client = await import('openid-client')
  const options: DiscoveryRequestOptions = {
    [client.customFetch]: await http.fetch(),
    execute: issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [],
    timeout: http.timeoutSeconds,
  }
  let config: Configuration
  try {
    config = location.algorithm
      ? await client.discovery(issuer, 'tokenctl-discovery', undefined, client.None(), {...options, algorithm: location.algorithm})
      : await client.discovery(location.url, 'tokenctl-discovery', undefined, client.None(), options)
  } catch (error) {
    const answer = await notHere(error)
    if (answer !== undefined) return answer
    const err = error as LibraryError
    if (err?.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED') {
      throw anotherIssuer(location.url, (err.cause as {body?: {issuer?: unknown}} | undefined)?.body?.issuer, issuer)
    }

    // openid-client compares `new URL(issuer)`: an issuer that is not a URL fails there.
    if ((error as {code?: string})?.code === 'ERR_INVALID_URL') throw anotherIssuer(location.url, 'one that is not a URL', issuer)
    throw await translateOAuthError(error, {grant: 'discovery', host: issuer.host, timeoutSeconds: http.timeoutSeconds})
  }

  const metadata = {...config.serverMetadata()}
  if (!location.algorithm && !namesIssuer(metadata.issuer, issuer)) throw anotherIssuer(location.url, metadata.issuer, issuer)
  return metadata
}

/** Every endpoint we may call must pass the same https-or-loopback rule as the issuer. */
function checkEndpoints(metadata: ServerMetadata): void {
  for (const name of ['token_endpoint', 'revocation_endpoint', 'device_authorization_endpoint'] as const) {
    const value = metadata[name]
    if (typeof value === 'string') secureUrl(value, `the discovered ${name}`)
  }
}

/** The issuer's metadata from the first location that has it; exit 3 `no_discovery_document` when none has. */
export async function discover(issuer: URL, http: HttpContext): Promise<ServerMetadata> {
  const tried: string[] = []
  for (const location of discoveryLocations(issuer)) {
    const found = await http
      .retrying(() => documentAt(location, issuer, http), 'document')
      .catch((error: unknown) => {
        throw error instanceof NetworkError ? error.at(`discovery: ${location.url.href}`) : error
      })
    if (typeof found !== 'string') {
      checkEndpoints(found)
      return found
    }

    tried.push(`${location.url.href} answered ${found}`)
  }

  throw new ConfigError(`no discovery document for ${issuer.href}: ${tried.join('; ')}`, 'no_discovery_document', {
    suggestions: ['check --issuer (the issuer exactly as the server names it, path included), or pass --token-endpoint URL to skip discovery'],
  })
}
