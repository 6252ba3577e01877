import type {Configuration, ServerMetadata as OpenIdServerMetadata} from 'openid-client'

import {isMtlsMethod} from '../config/clients.js'
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

/** The endpoint a configuration sends to: its mTLS alias when it uses them and the metadata has one. */
export function endpointUsed(config: Configuration, name: 'device_authorization_endpoint' | 'revocation_endpoint' | 'token_endpoint'): string | undefined {
  const metadata = config.serverMetadata()
  const aliases = config.clientMetadata().use_mtls_endpoint_aliases ? metadata.mtls_endpoint_aliases : undefined
  return aliases?.[name] ?? metadata[name]
}

/** An openid-client Configuration for this connection, speaking through the command's fetch. */
export async function openConfiguration(connection: Connection, metadata: ServerMetadata, credential: ClientCredential, http: HttpContext): Promise<Configuration> {
  const client = await import('openid-client')
  const auth = await clientAuthentication(connection, credential, metadata, http)
  // Mutual TLS: requests go to the metadata's mtls_endpoint_aliases where it has them (RFC 8705 §5).
  const clientMetadata = isMtlsMethod(connection.authMethod) ? {use_mtls_endpoint_aliases: true} : undefined
  const config = new client.Configuration(metadata as OpenIdServerMetadata, connection.clientId, clientMetadata, auth)
  config[client.customFetch] = await http.fetch()
  config.timeout = http.timeoutSeconds
  // Plain http goes to loopback hosts only (README, "Exit codes"): every endpoint was checked by secureUrl before.
  if (tokenEndpointOf(metadata).protocol === 'http:') client.allowInsecureRequests(config)
  return config
}
