import type {Configuration, ServerMetadata as OpenIdServerMetadata} from 'openid-client'

import type {ClientCredential} from '../config/secrets.js'
import type {Connection} from '../config/connection.js'
import type {HttpContext} from '../http/context.js'
import {clientAuthentication} from './client-auth.js'
import {type ServerMetadata, serverMetadata, tokenEndpointOf} from './metadata.js'

/**
 * The server's metadata for a connection: discovered (and cached) from --issuer, or just the
 * --token-endpoint, which then also stands in for the issuer (the audience of client assertions).
 */
export async function connectionMetadata(connection: Connection, http: HttpContext): Promise<ServerMetadata> {
  if (connection.tokenEndpoint) {
    return {issuer: (connection.issuer ?? connection.tokenEndpoint).href, token_endpoint: connection.tokenEndpoint.href}
  }

  return serverMetadata(connection.issuer!, http)
}

/** An openid-client Configuration for this connection, speaking through the command's fetch. */
export async function openConfiguration(
  connection: Connection,
  metadata: ServerMetadata,
  credential: ClientCredential,
  http: HttpContext,
): Promise<Configuration> {
  const client = await import('openid-client')
  const auth = await clientAuthentication(connection, credential, metadata, http)
  const config = new client.Configuration(metadata as OpenIdServerMetadata, connection.clientId, undefined, auth)
  config[client.customFetch] = await http.fetch()
  config.timeout = http.timeoutSeconds
  // Plain http goes to loopback hosts only (README, "Exit codes"): every endpoint was checked by secureUrl before.
  if (tokenEndpointOf(metadata).protocol === 'http:') client.allowInsecureRequests(config)
  return config
}
