/**
 * Everything tokenctl sends to a token endpoint, one function per grant. Loaded only when a request
 * is really needed: a cache hit never imports openid-client, undici or this module.
 */
import type {Configuration, DPoPOptions} from 'openid-client'

import {isMtlsMethod} from '../config/clients.js'
import type {Connection} from '../config/connection.js'
import {type ClientCredential, resolveCredential} from '../config/secrets.js'
import {type HttpContext, httpContext} from '../http/context.js'
import {dpopNonceBook} from '../http/dpop-nonces.js'
import {type ClientCertificate, clientCertificateOf} from '../http/mtls.js'
import type {Runtime} from '../runtime.js'
import {connectionMetadata, endpointUsed, openConfiguration} from './configuration.js'
import type {TokenEndpointDpop} from './dpop.js'
import {dpopKeyMaterial} from './dpop-keys.js'
import {AuthorizationError, ConfigError, TokenctlError} from '../errors.js'
import {type RefusalAdvice, refusalAdvice} from './client-auth.js'
import {type GrantKind, translateOAuthError} from './errors.js'
import {detectFlavor} from './flavor.js'
import type {ServerMetadata} from './metadata.js'
import {dpopOwnerOf} from './server-key.js'
import {type AccessToken, accessTokenFrom, checkedRefreshToken, type Flavor, type TokenEndpointResponse} from './token.js'
import {ACCESS_TOKEN_TYPE, JWT_BEARER_GRANT, REFRESH_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT} from './urns.js'

/** A token response's access token, plus the refresh token when the server sent one. */
export interface GrantResult {
  refreshToken?: string
  /** Why there is no refresh token: the server refused to issue one when asked for it by type. */
  refreshTokenRefused?: TokenctlError
  token: AccessToken
  /** The token endpoint that answered (discovered, or as given). */
  tokenEndpoint?: string
}

/** The client as openid-client sees it, with the metadata and the HTTP side it was opened with. */
export interface OpenedClient {
  /** What to advise when the server answers invalid_client to this client's assertion or federated token. */
  assertionAdvice?: () => Promise<RefusalAdvice | undefined>
  config: Configuration
  /** --dpop: the proofs every token request carries (./dpop.ts). */
  dpop?: TokenEndpointDpop
  http: HttpContext
  metadata: ServerMetadata
}

/** Mutual TLS: the certificate every connection to the server presents, when the client authenticates with it. */
export function presentedCertificate(connection: Connection, credential: ClientCredential): ClientCertificate | undefined {
  return credential.kind === 'certificate' && isMtlsMethod(connection.authMethod) ? clientCertificateOf(credential.certificate) : undefined
}

export async function openClient(connection: Connection, runtime: Runtime): Promise<OpenedClient> {
  const credential = await resolveCredential(connection, runtime.openStore)
  const dpopKey = await dpopKeyMaterial(dpopOwnerOf(connection), runtime.openStore)
  const nonces = dpopKey ? dpopNonceBook() : undefined
  const http = httpContext({caFile: connection.caFile, clientCertificate: presentedCertificate(connection, credential), dpopNonces: nonces, timeoutSeconds: connection.timeoutSeconds}, runtime.hooks)
  const metadata = await connectionMetadata(connection, http)
  const config = await openConfiguration(connection, metadata, credential, http)
  const dpop = dpopKey && nonces ? await (await import('./dpop.js')).tokenEndpointDpop(config, dpopKey, nonces, metadata) : undefined
  return {assertionAdvice: refusalAdvice(connection, credential, metadata), config, dpop, http, metadata}
}

/** What every grant function of openid-client is given: the DPoP handle, when the connection has one. */
function grantOptions(opened: OpenedClient): DPoPOptions | undefined {
  return opened.dpop ? {DPoP: opened.dpop.handle} : undefined
}

/**
 * The token a response brings. A response may leave `scope` out when it granted what was asked for
 * (RFC 6749 §5.1; Lemonldap::NG does for client credentials and every refresh): the token then says
 * the scopes the request asked for.
 */
function tokenOf(response: TokenEndpointResponse, requested: string[]): AccessToken {
  const token = accessTokenFrom(response)
  if (token.scope === undefined && requested.length > 0) token.scope = requested.join(' ')
  return token
}

/**
 * A DPoP-bound answer (token_type DPoP: openid-client lower-cases it) keeps the thumbprint of the key
 * it is bound to; an answer to a proof with a bearer token was not bound, which the user hears of.
 */
function bindingOf(token: AccessToken, opened: OpenedClient): void {
  if (!opened.dpop) return
  if (token.token_type === 'DPoP') {
    token.dpop_jkt = opened.dpop.jkt
    return
  }

  if (token.token_type === 'N_A') return
  const host = new URL(endpointUsed(opened.config, 'token_endpoint')!).host
  opened.http.hooks.warning?.(`${host} answered --dpop with a ${token.token_type} token: it did not bind the token to the DPoP key, so whoever holds it can use it`)
}

function grantResult(response: TokenEndpointResponse, opened: OpenedClient, request: {flavor?: Flavor; scopes: string[]}): GrantResult {
  const token = tokenOf(response, request.scopes)
  if (request.flavor) token.flavor = request.flavor
  bindingOf(token, opened)
  const result: GrantResult = {token, tokenEndpoint: endpointUsed(opened.config, 'token_endpoint')}
  if (response.refresh_token) result.refreshToken = response.refresh_token
  return result
}

/**
 * A refused client assertion gets advice about the assertion (its audience, the registered key, or
 * the claims a federated token presented) instead of the generic one.
 */
async function withAssertionAdvice(error: TokenctlError, adviceFor: (() => Promise<RefusalAdvice | undefined>) | undefined): Promise<TokenctlError> {
  if (adviceFor === undefined || error.code !== 'invalid_client' || !(error instanceof AuthorizationError)) return error
  const advice = await adviceFor()
  if (advice === undefined) return error
  return new AuthorizationError(error.message, error.code, {cause: error.cause, details: {...error.details, ...advice.details}, suggestions: [advice.suggestion]})
}

/**
 * RFC 8693's `N_A` (the token is not an access token) is a token type tokenctl keeps. openid-client
 * knows it only for token exchange and refuses it for every other grant, after checking every other
 * field of the response: that checked response is taken from its error.
 */
function nonAccessTokenResponse(error: unknown): TokenEndpointResponse | undefined {
  const {code, cause} = (error ?? {}) as {cause?: {cause?: {body?: TokenEndpointResponse}}; code?: string}
  const body = cause?.cause?.body
  return code === 'OAUTH_UNSUPPORTED_OPERATION' && body?.token_type === 'n_a' ? body : undefined
}

/**
 * One token request through openid-client: retried on connection errors, 429 and 5xx (the grant
 * is re-run each time, so a client assertion and a DPoP proof are fresh on every attempt), never on
 * 4xx (a server's `use_dpop_nonce` is answered once by openid-client itself); every failure
 * translated into tokenctl's errors and exit codes (README, "Exit codes").
 */
export async function tokenRequest(
  opened: OpenedClient,
  grant: GrantKind,
  run: (config: Configuration, options: DPoPOptions | undefined) => Promise<TokenEndpointResponse>,
): Promise<TokenEndpointResponse> {
  const {config, http} = opened
  const host = new URL(endpointUsed(config, 'token_endpoint')!).host
  http.hooks.progress?.({message: `requesting a token from ${host}`, state: 'request'})
  try {
    return await http.retrying(async () => {
      try {
        return await run(config, grantOptions(opened))
      } catch (error) {
        const kept = nonAccessTokenResponse(error)
        if (kept) return kept
        throw await withAssertionAdvice(await translateOAuthError(error, {grant, host, timeoutSeconds: http.timeoutSeconds}), opened.assertionAdvice)
      }
    })
  } finally {
    http.hooks.progress?.({state: 'done'})
  }
}

/** Token request parameters from the connection's scopes, resources, audience and extra params. */
export function requestParameters(fields: {audience: string[]; params: Array<[string, string]>; resources: string[]; scopes: string[]}): URLSearchParams {
  const parameters = new URLSearchParams()
  if (fields.scopes.length > 0) parameters.set('scope', fields.scopes.join(' '))
  for (const resource of fields.resources) parameters.append('resource', resource)
  for (const audience of fields.audience) parameters.append('audience', audience)
  for (const [name, value] of fields.params) parameters.append(name, value)
  return parameters
}

/** RFC 6749 §4.4: the client's own token. */
export async function requestClientCredentials(connection: Connection, runtime: Runtime): Promise<AccessToken> {
  const opened = await openClient(connection, runtime)
  const {clientCredentialsGrant} = await import('openid-client')
  const parameters = requestParameters(connection)
  const response = await tokenRequest(opened, 'client_credentials', (c, options) => clientCredentialsGrant(c, parameters, options))
  return grantResult(response, opened, connection).token
}

export interface OboRequest {
  /** The incoming user access token. Never logged, never cached, never part of a cache key. */
  assertion: string
  flavor?: Flavor
  /** Ask for a refresh token too (offline_access): what a long-running session needs. */
  offline?: boolean
  /** RFC 8693 only. */
  requestedTokenType?: string
}

function withOfflineAccess(scopes: string[], offline: boolean | undefined): string[] {
  return offline && !scopes.includes('offline_access') ? [...scopes, 'offline_access'] : scopes
}

/** An on-behalf-of answer as it came, with what was asked: the flavor and the scopes. */
interface OboAnswer {
  flavor: Flavor
  response: TokenEndpointResponse
  scopes: string[]
}

/**
 * On-behalf-of: Entra's jwt-bearer flavor (assertion, requested_token_use=on_behalf_of) or RFC 8693
 * token exchange (subject_token of type access_token, audience, resource, requested_token_type).
 */
export async function requestObo(connection: Connection, request: OboRequest, runtime: Runtime): Promise<GrantResult> {
  const opened = await openClient(connection, runtime)
  const answer = await sendObo(opened, connection, {...request, scopes: withOfflineAccess(connection.scopes, request.offline)})
  return grantResult(answer.response, opened, answer)
}

async function sendObo(opened: OpenedClient, connection: Connection, request: Omit<OboRequest, 'offline'> & {scopes: string[]}): Promise<OboAnswer> {
  const flavor = request.flavor ?? detectFlavor(connection, opened.metadata)
  const parameters = requestParameters({...connection, scopes: request.scopes})
  let grantType: string
  if (flavor === 'entra') {
    grantType = JWT_BEARER_GRANT
    parameters.set('assertion', request.assertion)
    parameters.set('requested_token_use', 'on_behalf_of')
  } else {
    grantType = TOKEN_EXCHANGE_GRANT
    parameters.set('subject_token', request.assertion)
    parameters.set('subject_token_type', ACCESS_TOKEN_TYPE)
    if (request.requestedTokenType) parameters.set('requested_token_type', request.requestedTokenType)
  }

  const {genericGrantRequest} = await import('openid-client')
  const response = await tokenRequest(opened, 'obo', (c, options) => genericGrantRequest(c, grantType, parameters, options))
  return {flavor, response, scopes: request.scopes}
}

/**
 * `session start`'s on-behalf-of, whose answer must bring a refresh token: first with
 * offline_access (Entra, and the token-exchange servers that read it so). A token-exchange answer
 * without one is asked once more with requested_token_type refresh_token and without offline_access:
 * Keycloak's standard token exchange issues a refresh token only when asked so (and only where the
 * client allows it), and refuses offline_access with it. A refusal of that second request is kept
 * with the first answer, as the reason there is no session (sessions.ts).
 */
export async function requestOboSession(connection: Connection, request: Pick<OboRequest, 'assertion' | 'flavor'>, runtime: Runtime): Promise<GrantResult> {
  const opened = await openClient(connection, runtime)
  const first = await sendObo(opened, connection, {...request, scopes: withOfflineAccess(connection.scopes, true)})
  if (first.flavor === 'entra' || first.response.refresh_token !== undefined || issuedRefreshTokenOnly(first.response)) return sessionGrant(opened, first)
  let second: OboAnswer
  try {
    const scopes = connection.scopes.filter((scope) => scope !== 'offline_access')
    second = await sendObo(opened, connection, {...request, flavor: first.flavor, requestedTokenType: REFRESH_TOKEN_TYPE, scopes})
  } catch (error) {
    if (!(error instanceof AuthorizationError)) throw error
    return {...grantResult(first.response, opened, first), refreshTokenRefused: error}
  }

  return sessionGrant(opened, second)
}

/**
 * RFC 8693 §2.2.1: `issued_token_type` refresh_token says that the `access_token` field carries the
 * token issued, a refresh token — unless a `refresh_token` field is there too, as Keycloak sends.
 */
function issuedRefreshTokenOnly(response: TokenEndpointResponse): boolean {
  return response.issued_token_type === REFRESH_TOKEN_TYPE && response.refresh_token === undefined
}

/** An answer with a refresh token, as a session keeps it: a refresh token alone is redeemed once for the access token. */
async function sessionGrant(opened: OpenedClient, answer: OboAnswer): Promise<GrantResult> {
  if (!issuedRefreshTokenOnly(answer.response)) return grantResult(answer.response, opened, answer)
  const issued = checkedRefreshToken(answer.response.access_token)
  const scopes = answer.response.scope?.split(' ').filter(Boolean) ?? answer.scopes
  const refreshed = await refreshWith(opened, issued, scopes)
  refreshed.token.flavor = answer.flavor
  return {...refreshed, refreshToken: refreshed.refreshToken ?? issued}
}

/**
 * RFC 6749 §6 with `scope` = what the server granted (never more: a strict server refuses a scope it
 * did not grant, such as an `offline_access` it did not list, with invalid_scope). Entra's v2
 * endpoint wants the scopes on a refresh, so they are sent rather than left out.
 */
export async function requestRefresh(connection: Connection, refreshToken: string, scopes: string[], runtime: Runtime): Promise<GrantResult> {
  return refreshWith(await openClient(connection, runtime), refreshToken, scopes)
}

async function refreshWith(opened: OpenedClient, refreshToken: string, scopes: string[]): Promise<GrantResult> {
  const {refreshTokenGrant} = await import('openid-client')
  const parameters = scopes.length > 0 ? {scope: scopes.join(' ')} : undefined
  const response = await tokenRequest(opened, 'refresh_token', (c, options) => refreshTokenGrant(c, refreshToken, parameters, options))
  return grantResult(response, opened, {scopes})
}

/**
 * RFC 7009 revocation of a refresh token, when the server advertises a revocation endpoint (Entra
 * has none). Not retried: a session being ended is removed whatever the server says.
 */
export async function revokeRefreshToken(connection: Connection, refreshToken: string, runtime: Runtime): Promise<'not_supported' | 'revoked'> {
  const {config, http, metadata} = await openClient(connection, runtime)
  if (!metadata.revocation_endpoint) return 'not_supported'
  const {tokenRevocation} = await import('openid-client')
  const host = new URL(endpointUsed(config, 'revocation_endpoint')!).host
  try {
    await tokenRevocation(config, refreshToken, {token_type_hint: 'refresh_token'})
  } catch (error) {
    throw await translateOAuthError(error, {grant: 'revocation', host, timeoutSeconds: http.timeoutSeconds})
  }

  return 'revoked'
}

export interface DeviceAuthorization {
  device_code: string
  expires_in: number
  interval?: number
  user_code: string
  verification_uri: string
  verification_uri_complete?: string
}

function endpointOf(metadata: ServerMetadata, name: 'authorization_endpoint' | 'device_authorization_endpoint', flow: string): void {
  if (typeof metadata[name] !== 'string') {
    throw new ConfigError(`the authorization server advertises no ${name}, so no ${flow}`, 'config_error', {
      suggestions: ['pass --issuer (discovery finds the endpoint), or use the other sign-in method'],
    })
  }
}

/** RFC 8628 §3.1: the device code and the user code the person types at the verification URI. */
export async function requestDeviceAuthorization(opened: OpenedClient, scopes: string[]): Promise<DeviceAuthorization> {
  endpointOf(opened.metadata, 'device_authorization_endpoint', 'device flow')
  const {initiateDeviceAuthorization} = await import('openid-client')
  const host = new URL(endpointUsed(opened.config, 'device_authorization_endpoint')!).host
  try {
    return await initiateDeviceAuthorization(opened.config, {scope: scopes.join(' ')})
  } catch (error) {
    throw await translateOAuthError(error, {grant: 'sign_in', host, timeoutSeconds: opened.http.timeoutSeconds})
  }
}

/**
 * RFC 8628 §3.4: polls the token endpoint at the server's interval, 5 s slower after each slow_down
 * (openid-client does both), until the person approves, refuses, the code expires or signal aborts.
 */
export async function pollDeviceToken(opened: OpenedClient, authorization: DeviceAuthorization, scopes: string[], signal: AbortSignal): Promise<GrantResult> {
  const {pollDeviceAuthorizationGrant} = await import('openid-client')
  const host = new URL(endpointUsed(opened.config, 'token_endpoint')!).host
  let response: TokenEndpointResponse
  try {
    response = await pollDeviceAuthorizationGrant(opened.config, authorization as never, undefined, {...grantOptions(opened), signal})
  } catch (error) {
    const kept = nonAccessTokenResponse(error)
    if (!kept) throw await translateOAuthError(error, {grant: 'device_code', host, timeoutSeconds: opened.http.timeoutSeconds})
    response = kept
  }

  return grantResult(response, opened, {scopes})
}

export interface AuthorizationRequest {
  codeVerifier: string
  redirectUri: string
  scopes: string[]
  state: string
  url: URL
}

/** RFC 6749 §4.1 with S256 PKCE (RFC 7636) and a fresh state, for a loopback redirect (RFC 8252). */
export async function authorizationRequest(opened: OpenedClient, scopes: string[], redirectUri: string): Promise<AuthorizationRequest> {
  endpointOf(opened.metadata, 'authorization_endpoint', 'browser sign-in')
  const client = await import('openid-client')
  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const url = client.buildAuthorizationUrl(opened.config, {
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    // RFC 9449 §10: the code is bound to the DPoP key, and only a proof with it redeems it.
    ...(opened.dpop ? {dpop_jkt: opened.dpop.jkt} : {}),
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: scopes.join(' '),
    state,
  })
  return {codeVerifier, redirectUri, scopes, state, url}
}

/** Redeems the code the loopback redirect brought back; openid-client checks state and iss again. */
export async function redeemAuthorizationCode(opened: OpenedClient, request: AuthorizationRequest, callback: URL): Promise<GrantResult> {
  const {authorizationCodeGrant} = await import('openid-client')
  const run = (config: Configuration, options: DPoPOptions | undefined) =>
    authorizationCodeGrant(config, callback, {expectedState: request.state, pkceCodeVerifier: request.codeVerifier}, undefined, options)
  return grantResult(await tokenRequest(opened, 'sign_in', run), opened, request)
}
