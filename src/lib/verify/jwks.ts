/**
 * An issuer's signing keys (its JWKS, from discovery's `jwks_uri`), fetched through tokenctl's HTTP
 * layer (proxy, --ca-file, --timeout, --verbose traces) and cached under TOKENCTL_HOME for 24 h, like
 * the discovery metadata. A key rotated since the cache was written is fetched again on demand
 * (see ./signature.ts): the cache never makes a fresh token unverifiable.
 */
import {createHash, randomBytes} from 'node:crypto'
import {readFile, rename, rm, writeFile} from 'node:fs/promises'

import type {JSONWebKeySet} from 'jose'

import {NetworkError} from '../errors.js'
import {boundedText} from '../http/bounded-body.js'
import type {HttpContext} from '../http/context.js'
import {parseRetryAfter} from '../http/retry.js'
import {translateOAuthError} from '../oauth/errors.js'
import {homePath} from '../paths.js'

/** Where a key set came from this run: the cache, the network, or the network again after a miss. */
export type JwksOrigin = 'cache' | 'fetched' | 'fetched again'

export interface LoadedJwks {
  jwks: JSONWebKeySet
  origin: JwksOrigin
  uri: URL
}

interface CachedJwks {
  fetchedAt: number
  jwks: JSONWebKeySet
  uri: string
}

const JWKS_TTL_MS = 24 * 60 * 60 * 1000
/** A key set is a few KB (Entra's is ~10 KB); anything far larger is not one. */
const MAX_JWKS_BYTES = 1024 * 1024

function cachePath(uri: URL): string {
  const digest = createHash('sha256').update(uri.href).digest('hex').slice(0, 32)
  return homePath('cache', 'jwks', `${digest}.json`)
}

/** The shape jose's createLocalJWKSet accepts: `{keys: [{kty: …}, …]}`. */
export function isJwkSet(value: unknown): value is JSONWebKeySet {
  if (typeof value !== 'object' || value === null) return false
  const {keys} = value as {keys?: unknown}
  return Array.isArray(keys) && keys.every((key) => typeof key === 'object' && key !== null && typeof (key as {kty?: unknown}).kty === 'string')
}

async function readCached(uri: URL, now: number): Promise<JSONWebKeySet | undefined> {
  try {
    const cached = JSON.parse(await readFile(cachePath(uri), 'utf8')) as CachedJwks
    const age = now - cached.fetchedAt
    // A fetch time in the future (a clock set back, a planted file) is not trusted to be fresh.
    if (cached.uri === uri.href && age >= 0 && age < JWKS_TTL_MS && isJwkSet(cached.jwks)) return cached.jwks
  } catch {
    // missing or unreadable: fetch again
  }

  return undefined
}

/** Written whole (temp file, 0600, then rename) or not at all: the cache only saves a request. */
async function writeCached(uri: URL, jwks: JSONWebKeySet): Promise<void> {
  const file = cachePath(uri)
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeFile(temp, JSON.stringify({fetchedAt: Date.now(), jwks, uri: uri.href} satisfies CachedJwks), {flag: 'wx', mode: 0o600})
    await rename(temp, file)
  } catch {
    await rm(temp, {force: true})
  }
}

/** The body as text, refusing more than MAX_JWKS_BYTES without reading them all. */
async function jwksText(response: Response, uri: URL): Promise<string> {
  return boundedText(response, MAX_JWKS_BYTES, () => new NetworkError(`the JWKS at ${uri.href} is larger than ${MAX_JWKS_BYTES / 1024} KiB: not a key set`, 'invalid_response'))
}

function isAbort(error: unknown): boolean {
  const name = (error as {name?: string} | undefined)?.name
  return name === 'TimeoutError' || name === 'AbortError'
}

async function download(uri: URL, http: HttpContext): Promise<JSONWebKeySet> {
  const fetch = await http.fetch()
  const timeout = () => new NetworkError(`no answer from ${uri.host} within ${http.timeoutSeconds} s (its JWKS)`, 'timeout', {
    suggestions: ['raise --timeout if the server is just slow'],
  })
  return http.retrying(async () => {
    const signal = AbortSignal.timeout(http.timeoutSeconds * 1000)
    let response: Response
    let text: string
    try {
      // Redirects are not followed, as openid-client follows none: the https-or-loopback rule holds for every URL we fetch.
      response = await fetch(uri.href, {headers: {accept: 'application/jwk-set+json, application/json'}, redirect: 'manual', signal})
      if (response.status >= 500 || response.status === 429) {
        throw new NetworkError(`the JWKS at ${uri.href} is unavailable (HTTP ${response.status})`, 'server_error', {
          details: {status: response.status},
          retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
          retryable: true,
        })
      }

      if (response.status !== 200) {
        throw new NetworkError(`the JWKS at ${uri.href} answered HTTP ${response.status}, not a key set`, 'invalid_response', {
          details: {status: response.status},
          suggestions: ['check the jwks_uri of the issuer\'s discovery document'],
        })
      }

      text = await jwksText(response, uri)
    } catch (error) {
      if (error instanceof NetworkError) throw error
      if (isAbort(error)) throw timeout()
      throw await translateOAuthError(error, {grant: 'discovery', host: uri.host, timeoutSeconds: http.timeoutSeconds})
    }

    let jwks: unknown
    try {
      jwks = JSON.parse(text)
    } catch {
      jwks = undefined
    }

    if (!isJwkSet(jwks)) throw new NetworkError(`the JWKS at ${uri.href} is not a JSON Web Key Set ({"keys":[…]})`, 'invalid_response')
    return jwks
  })
}

/** The key set from the network, cached for the next run. */
export async function fetchJwks(uri: URL, http: HttpContext, origin: JwksOrigin = 'fetched'): Promise<LoadedJwks> {
  http.hooks.progress?.({message: `fetching the signing keys from ${uri.host}`, state: 'request'})
  try {
    const jwks = await download(uri, http)
    await writeCached(uri, jwks)
    return {jwks, origin, uri}
  } finally {
    http.hooks.progress?.({state: 'done'})
  }
}

/** The key set from TOKENCTL_HOME's cache while it is younger than 24 h, else from the network. */
export async function loadJwks(uri: URL, http: HttpContext): Promise<LoadedJwks> {
  const cached = await readCached(uri, Date.now())
  if (cached) return {jwks: cached, origin: 'cache', uri}
  return fetchJwks(uri, http)
}
