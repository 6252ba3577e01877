/**
 * Everything tokenctl sends to a token endpoint, one function per grant. Loaded only when a request
 * is really needed: a cache hit never imports openid-client, undici or this module.
 */
import type {Configuration} from 'openid-client'

import type {Connection} from '../config/connection.js'
import {resolveCredential} from '../config/secrets.js'
import {type HttpContext, httpContext} from '../http/context.js'
import type {Runtime} from '../runtime.js'
import {connectionMetadata, openConfiguration} from './configuration.js'
import {type GrantKind, translateOAuthError} from './errors.js'
import {type AccessToken, accessTokenFrom, type TokenEndpointResponse} from './token.js'

/**
 * One token request through openid-client: retried on connection errors, 429 and 5xx (the grant
 * is re-run each time, so a client assertion is fresh on every attempt), never on 4xx; every
 * failure translated into the contract's errors.
 */
export async function tokenRequest(
  config: Configuration,
  grant: GrantKind,
  run: (config: Configuration) => Promise<TokenEndpointResponse>,
  http: HttpContext,
): Promise<TokenEndpointResponse> {
  const host = new URL(config.serverMetadata().token_endpoint!).host
  http.hooks.progress?.({message: `requesting a token from ${host}`, state: 'request'})
  try {
    return await http.retrying(async () => {
      try {
        return await run(config)
      } catch (error) {
        throw await translateOAuthError(error, {grant, host, timeoutSeconds: http.timeoutSeconds})
      }
    })
  } finally {
    http.hooks.progress?.({state: 'done'})
  }
}

/** Token request parameters from the connection's scopes, resources, audience and extra params. */
export function requestParameters(fields: {
  audience?: string
  params: Array<[string, string]>
  resources: string[]
  scopes: string[]
}): URLSearchParams {
  const parameters = new URLSearchParams()
  if (fields.scopes.length > 0) parameters.set('scope', fields.scopes.join(' '))
  for (const resource of fields.resources) parameters.append('resource', resource)
  if (fields.audience) parameters.set('audience', fields.audience)
  for (const [name, value] of fields.params) parameters.append(name, value)
  return parameters
}

/** RFC 6749 §4.4: the client's own token. */
export async function requestClientCredentials(connection: Connection, runtime: Runtime): Promise<AccessToken> {
  const http = httpContext({caFile: connection.caFile, timeoutSeconds: connection.timeoutSeconds}, runtime.hooks)
  const credential = await resolveCredential(connection, runtime.openStore)
  const metadata = await connectionMetadata(connection, http)
  const config = await openConfiguration(connection, metadata, credential, http)
  const {clientCredentialsGrant} = await import('openid-client')
  const parameters = requestParameters(connection)
  const response = await tokenRequest(config, 'client_credentials', (c) => clientCredentialsGrant(c, parameters), http)
  return accessTokenFrom(response)
}
