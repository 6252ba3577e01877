/**
 * Which on-behalf-of dialect a server speaks: Entra's jwt-bearer grant or RFC 8693 token exchange.
 * Light on purpose: the OBO cache key holds the flavor, so it is decided before the cache is read,
 * and a cache hit must neither load the grant code nor send a request.
 */
import type {Connection} from '../config/connection.js'
import {httpContext} from '../http/context.js'
import type {Runtime} from '../runtime.js'
import {isMicrosoftLoginHost} from './entra.js'
import {lastKnownMetadata, type ServerMetadata, serverMetadata} from './metadata.js'
import type {Flavor} from './token.js'
import {TOKEN_EXCHANGE_GRANT} from './urns.js'

/**
 * The flavor, as README's "Debugging on-behalf-of from a shell" states it: Entra's hosts speak
 * jwt-bearer OBO; a server whose metadata lists the token-exchange grant speaks RFC 8693; anything
 * else is tried as Entra.
 */
export function detectFlavor(connection: Connection, metadata: ServerMetadata): Flavor {
  const hosts = [connection.issuer?.hostname, connection.tokenEndpoint?.hostname, new URL(metadata.issuer).hostname]
  if (hosts.some((host) => isMicrosoftLoginHost(host))) return 'entra' // Entra's OBO is always the jwt-bearer flavor
  if (metadata.grant_types_supported?.includes(TOKEN_EXCHANGE_GRANT)) return 'rfc8693'
  return 'entra'
}

/**
 * The flavor an OBO request will use, known before the token cache is read: the one asked for, else
 * the one detected — from the metadata cached in TOKENCTL_HOME whatever its age (a hit sends no
 * request), discovering only when none was ever cached. --token-endpoint has no metadata to read.
 */
export async function oboFlavor(connection: Connection, requested: Flavor | undefined, runtime: Runtime): Promise<Flavor> {
  if (requested) return requested
  const {issuer, tokenEndpoint} = connection
  if (tokenEndpoint || !issuer) return detectFlavor(connection, {issuer: (issuer ?? tokenEndpoint!).href})
  const http = httpContext({caFile: connection.caFile, timeoutSeconds: connection.timeoutSeconds}, runtime.hooks)
  return detectFlavor(connection, (await lastKnownMetadata(issuer)) ?? (await serverMetadata(issuer, http)))
}
