/**
 * An issuer's signing keys (its JWKS, from discovery's `jwks_uri`) as jose's remote key set
 * (createRemoteJWKSet): it fetches the set, finds the key a token's header names, and fetches the set
 * again when a token names a key it does not hold. tokenctl gives it two things:
 *  - its fetch (`[customFetch]`): tokenctl's HTTP layer (proxy, --ca-file, --timeout, --verbose
 *    traces), the retries and the bound of the document policy (../http/policy.ts), and tokenctl's
 *    errors (exit 6);
 *  - a cache kept across runs (`[jwksCache]`) in TOKENCTL_HOME, fresh for 24 h like the discovery
 *    metadata (../document-cache.ts).
 * A set from the cache is fetched again once when a token names a key it does not hold — a key rotated
 * since the cache was written (the README's `token verify` section): the cache never makes a fresh
 * token unverifiable. A set fetched in this run is not fetched again.
 */
import type {CryptoKey, FetchImplementation, FlattenedJWSInput, JSONWebKeySet, JWKSCacheInput, JWSHeaderParameters} from 'jose'

import {documentPath, DOCUMENT_TTL_MS, isFresh, readDocument, writeDocument} from '../document-cache.js'
import {NetworkError} from '../errors.js'
import type {HttpContext} from '../http/context.js'
import {connectionFailure, type Destination, unavailable} from '../http/failure.js'
import {retriesStatus} from '../http/policy.js'

/** Where a key set's keys came from this run: the cache, the network, or the network again after a miss. */
export type JwksOrigin = 'cache' | 'fetched' | 'fetched again'

/** An issuer's key set as token verify uses it. */
export interface LoadedJwks {
  /** jose's key lookup, for compactVerify: it fetches as it needs to, and caches what it fetched. */
  readonly getKey: (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>
  /** The keys it holds now, for a message about them. */
  jwks(): JSONWebKeySet
  origin(): JwksOrigin
  readonly uri: URL
}

interface CachedJwks {
  fetchedAt: number
  jwks: JSONWebKeySet
  uri: string
}

const KEY_SET_SOURCE = "the jwks_uri of the issuer's discovery document"

/** The shape jose's createLocalJWKSet accepts: `{keys: [{kty: …}, …]}`. */
export function isJwkSet(value: unknown): value is JSONWebKeySet {
  if (typeof value !== 'object' || value === null) return false
  const {keys} = value as {keys?: unknown}
  return Array.isArray(keys) && keys.every((key) => typeof key === 'object' && key !== null && typeof (key as {kty?: unknown}).kty === 'string')
}

async function readCached(uri: URL): Promise<CachedJwks | undefined> {
  const cached = (await readDocument(documentPath('jwks', uri.href))) as CachedJwks | undefined
  return cached?.uri === uri.href && isFresh(cached.fetchedAt) && isJwkSet(cached.jwks) ? cached : undefined
}

/** The cache only saves a request: a set that cannot be written is fetched again next time. */
async function writeCached(uri: URL, fetchedAt: number, jwks: JSONWebKeySet): Promise<void> {
  await writeDocument(documentPath('jwks', uri.href), {fetchedAt, jwks, uri: uri.href} satisfies CachedJwks).catch(() => {})
}

/**
 * The key set at `uri`, checked, through tokenctl's HTTP layer: jose's `[customFetch]`. Each attempt
 * has its own --timeout (jose's one signal for the whole fetch would cut the retries short), and
 * redirects are not followed, as openid-client follows none: the https-or-loopback rule holds for
 * every URL we fetch.
 */
async function fetchKeySet(uri: URL, headers: Headers, http: HttpContext): Promise<Response> {
  const fetch = await http.fetch()
  const destination: Destination = {host: uri.host, source: KEY_SET_SOURCE, timeoutSeconds: http.timeoutSeconds}
  http.hooks.progress?.({message: `fetching the signing keys from ${uri.host}`, state: 'request'})
  try {
    const jwks = await http.retrying(async () => {
      let text: string
      try {
        const response = await fetch(uri.href, {headers, redirect: 'manual', signal: AbortSignal.timeout(http.timeoutSeconds * 1000)})
        if (retriesStatus('document', response.status)) throw unavailable(`the JWKS at ${uri.href} is unavailable (HTTP ${response.status})`, response)
        if (response.status !== 200) {
          throw new NetworkError(`the JWKS at ${uri.href} answered HTTP ${response.status}, not a key set`, 'invalid_response', {
            details: {status: response.status},
            suggestions: [`check ${KEY_SET_SOURCE}`],
          })
        }

        text = await response.text()
      } catch (error) {
        throw connectionFailure(error, destination)
      }

      let parsed: unknown
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = undefined
      }

      if (!isJwkSet(parsed)) throw new NetworkError(`the JWKS at ${uri.href} is not a JSON Web Key Set ({"keys":[…]})`, 'invalid_response')
      return parsed
    }, 'document')
    return Response.json(jwks)
  } finally {
    http.hooks.progress?.({state: 'done'})
  }
}

async function remoteKeySet(uri: URL, http: HttpContext, cached: CachedJwks | undefined): Promise<LoadedJwks> {
  const {createRemoteJWKSet, customFetch, jwksCache} = await import('jose')
  const cache: JWKSCacheInput = cached ? {jwks: cached.jwks, uat: cached.fetchedAt} : {}
  let saved = cached?.fetchedAt
  let fetches = 0
  const fetchKeys: FetchImplementation = (_url, init) => {
    fetches++
    return fetchKeySet(uri, init.headers, http)
  }

  const keys = createRemoteJWKSet(uri, {
    [customFetch]: fetchKeys,
    [jwksCache]: cache,
    cacheMaxAge: DOCUMENT_TTL_MS,
    // jose fetches again on an unknown kid only after this long since the last fetch: at once for a
    // cached set (and then looks once more, no loop), never for a set this run fetched.
    cooldownDuration: cached ? 0 : Number.POSITIVE_INFINITY,
    headers: {accept: 'application/jwk-set+json, application/json'},
  })

  return {
    async getKey(header, token) {
      try {
        return await keys(header, token)
      } finally {
        // jose updates the cache object after each fetch it accepted.
        if ('uat' in cache && cache.uat !== saved) {
          saved = cache.uat
          await writeCached(uri, cache.uat, cache.jwks)
        }
      }
    },
    jwks: () => keys.jwks() ?? {keys: []},
    origin: () => (fetches === 0 ? 'cache' : cached ? 'fetched again' : 'fetched'),
    uri,
  }
}

/** The key set from TOKENCTL_HOME's cache while it is younger than 24 h, else from the network. */
export async function loadJwks(uri: URL, http: HttpContext): Promise<LoadedJwks> {
  return remoteKeySet(uri, http, await readCached(uri))
}
