import type {Connection} from '../config/connection.js'
import type {Runtime} from '../runtime.js'
import type {TokenResult} from './token.js'
import {cachedOrFetched, cacheKey, type CacheOptions} from './token-cache.js'

export function serverKey(connection: Connection): string {
  return (connection.tokenEndpoint ?? connection.issuer!).href
}

/** IdentityModel's GetClientAccessTokenAsync (its worker token management): a cached client-credentials token, or a new one (RFC 6749 §4.4). */
export async function clientCredentialsToken(connection: Connection, options: CacheOptions, runtime: Runtime): Promise<TokenResult> {
  const key = cacheKey({
    audience: connection.audience,
    clientId: connection.clientId,
    grant: 'client_credentials',
    params: connection.params,
    resources: connection.resources,
    scopes: connection.scopes,
    server: serverKey(connection),
  })
  const fetch = async () => (await import('./grants.js')).requestClientCredentials(connection, runtime)
  return cachedOrFetched(runtime.openStore, key, options, fetch, runtime.hooks)
}
