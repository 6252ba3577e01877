import type {Connection} from '../config/connection.js'
import {resolveCredential} from '../config/secrets.js'
import {type Hooks, httpContext} from '../http/context.js'
import type {SecretStore} from '../store/types.js'
import {connectionMetadata, openConfiguration} from './configuration.js'
import {accessTokenFrom, type TokenResult} from './token.js'
import {cachedOrFetched, cacheKey, type CacheOptions} from './token-cache.js'
import {requestParameters, tokenRequest} from './token-request.js'

/** What every library operation needs from the command that runs it. */
export interface Runtime {
  hooks: Hooks
  /** Opens the secure store on first use (memoised by the caller): a cache hit on --no-cache never does. */
  openStore: () => Promise<SecretStore>
}

export function serverKey(connection: Connection): string {
  return (connection.tokenEndpoint ?? connection.issuer!).href
}

/** The seed's GetClientAccessTokenAsync: a cached client-credentials token, or a new one (RFC 6749 §4.4). */
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
  return cachedOrFetched(runtime.openStore, key, options, () => requestClientCredentials(connection, runtime), runtime.hooks)
}

async function requestClientCredentials(connection: Connection, runtime: Runtime) {
  const http = httpContext({caFile: connection.caFile, timeoutSeconds: connection.timeoutSeconds}, runtime.hooks)
  const credential = await resolveCredential(connection, runtime.openStore)
  const metadata = await connectionMetadata(connection, http)
  const config = await openConfiguration(connection, metadata, credential, http)
  const {clientCredentialsGrant} = await import('openid-client')
  const parameters = requestParameters(connection)
  const response = await tokenRequest(config, 'client_credentials', (c) => clientCredentialsGrant(c, parameters), http)
  return accessTokenFrom(response)
}
