import type {Connection} from '../config/connection.js'
import type {Runtime} from '../runtime.js'
import {dpopOwnerOf, serverKey} from './server-key.js'
import type {TokenResult} from './token.js'
import {cachedOrFetched, cacheKey, type CacheOptions} from './token-cache.js'

export {dpopOwnerOf, serverKey} from './server-key.js'

/**
 * The thumbprint of the connection's DPoP key, for the cache key; none without --dpop. Its module is
 * loaded only then, and a named client's or a session's comes without any read.
 */
export async function dpopJktOf(connection: Connection, runtime: Runtime): Promise<string | undefined> {
  if (!connection.dpop) return undefined
  const {dpopThumbprint} = await import('./dpop-keys.js')
  return dpopThumbprint(dpopOwnerOf(connection), runtime.openStore)
}

/** IdentityModel's GetClientAccessTokenAsync (its worker token management): a cached client-credentials token, or a new one (RFC 6749 §4.4). */
export async function clientCredentialsToken(connection: Connection, options: CacheOptions, runtime: Runtime): Promise<TokenResult> {
  const key = cacheKey({
    audience: connection.audience,
    clientId: connection.clientId,
    dpopJkt: await dpopJktOf(connection, runtime),
    grant: 'client_credentials',
    params: connection.params,
    resources: connection.resources,
    scopes: connection.scopes,
    server: serverKey(connection),
  })
  const fetch = async () => (await import('./grants.js')).requestClientCredentials(connection, runtime)
  return cachedOrFetched(runtime.openStore, key, options, fetch, runtime.hooks)
}
