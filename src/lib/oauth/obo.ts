import {createHash} from 'node:crypto'

import type {Connection} from '../config/connection.js'
import type {Runtime} from '../runtime.js'
import {dpopJktOf, serverKey} from './client-credentials.js'
import {oboFlavor} from './flavor.js'
import type {OboRequest} from './grants.js'
import type {TokenResult} from './token.js'
import {cachedOrFetched, cacheKey, type CacheOptions} from './token-cache.js'

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/**
 * Microsoft.Identity.Web's GetAccessTokenForUserAsync from a terminal: a downstream token for the user
 * behind the assertion, cached under a key that holds the assertion's SHA-256, never the assertion,
 * and the flavor (asked for or detected), which the request then uses.
 */
export async function oboToken(connection: Connection, request: Omit<OboRequest, 'offline'>, options: CacheOptions, runtime: Runtime): Promise<TokenResult> {
  const flavor = await oboFlavor(connection, request.flavor, runtime)
  const key = cacheKey({
    audience: connection.audience,
    clientId: connection.clientId,
    dpopJkt: await dpopJktOf(connection, runtime),
    flavor,
    grant: 'on_behalf_of',
    params: request.requestedTokenType ? [...connection.params, ['requested_token_type', request.requestedTokenType]] : connection.params,
    resources: connection.resources,
    scopes: connection.scopes,
    server: serverKey(connection),
    subject: sha256(request.assertion).toString('hex'),
  })
  const fetch = async () => (await (await import('./grants.js')).requestObo(connection, {...request, flavor}, runtime)).token
  return cachedOrFetched(runtime.openStore, key, options, fetch, runtime.hooks)
}
