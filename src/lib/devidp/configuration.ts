/**
 * The whole oidc-provider configuration of the dev authorization server, in one place. The OBO
 * grants and the device polling rules are not configuration but registrations on the provider
 * (./obo-grants.ts, ./device-polling.ts): `startDevIdp` (./server.ts) makes them.
 *
 * Resources (RFC 8707), each issued as a JWT whose `aud` is its audience:
 * - `urn:tokenctl:api` (scopes `api read write`): the downstream API, the default for client
 *   credentials and for OBO results; `urn:tokenctl:other` the same, a second one.
 * - `api://api` (scope `access_as_user`, audience `api`): the web API as its users' tokens name it.
 *   A sign-in asking for `access_as_user` (or Entra's spelling `api://api/access_as_user`) gets a
 *   token addressed to the client `api`, which is what the jwt-bearer OBO grant accepts as assertion.
 */
import {randomBytes, X509Certificate} from 'node:crypto'
import type {TLSSocket} from 'node:tls'

import {clientMetadata, type DevIdpClient} from './clients.js'
import {interactionUrl, deviceFlowPages} from './interactions.js'
import type {SigningKeys} from './keys.js'
import {isOwnOrigin} from './local-only.js'
import {createMemoryAdapter, type ClientMetadata, type ProviderConfiguration, providerErrors} from './oidc.js'

export const API_RESOURCE = 'urn:tokenctl:api'
export const OTHER_RESOURCE = 'urn:tokenctl:other'
export const API_SCOPES = 'api read write'
export const WEB_API_RESOURCE = 'api://api'
export const WEB_API_AUDIENCE = 'api'
export const WEB_API_SCOPE = 'access_as_user'

const DEFAULT_ACCESS_TOKEN_TTL = 3600
const DEFAULT_USER_TOKEN_TTL = 3600
const DEFAULT_REFRESH_TOKEN_TTL = 14 * 24 * 3600
const DEFAULT_DEVICE_CODE_TTL = 600

export interface ConfigurationOptions {
  /** Lifetime in seconds of access tokens for the API resources (default 3600). */
  accessTokenTTL?: number
  /** Lifetime in seconds of user access tokens for the web API, `api://api` (default 3600). */
  userTokenTTL?: number
  /** Lifetime in seconds of refresh tokens (default 14 days). */
  refreshTokenTTL?: number
  /** Lifetime in seconds of a device code, the time a person has to approve it (default 600). */
  deviceCodeTTL?: number
  /** More clients, in oidc-provider's client metadata format. */
  extraClients?: ClientMetadata[]
  /** More resource servers: identifier → space-separated scopes; the audience is the identifier. */
  extraResources?: Record<string, string>
  /** Last word on the provider configuration (features, ttl, …); may mutate or return a new one. */
  configure?: (configuration: ProviderConfiguration) => ProviderConfiguration | void
  /**
   * DPoP (RFC 9449): whether a proof must carry the server's nonce (a proof without one is answered
   * `use_dpop_nonce` with the nonce to use), as servers that guard against pre-made proofs do. Default true.
   */
  dpopNonce?: boolean
  /**
   * Mutual TLS (RFC 8705): the endpoints to announce as `mtls_endpoint_aliases`, where the server asks
   * for a client certificate. Given, mTLS client authentication and certificate-bound tokens are on.
   */
  mtlsEndpointAliases?: Record<string, string>
}

/** The client certificate of the TLS connection a request came on, if it presented one. */
export function peerCertificate(socket: unknown): X509Certificate | undefined {
  const peer = (socket as Partial<TLSSocket> | undefined)?.getPeerCertificate?.(false)
  if (!peer?.raw) return undefined
  return new X509Certificate(peer.raw)
}

/** `features.dPoP`: proofs verified, tokens bound to their key, a nonce first unless told otherwise. */
function dpopFeature(options: ConfigurationOptions) {
  const nonce = options.dpopNonce ?? true
  return {enabled: true, nonceSecret: randomBytes(32), requireNonce: () => nonce}
}

/**
 * `features.mTLS`: the certificate read off the TLS socket (the mTLS listener asks for one and lets
 * the provider judge it); `certificateAuthorized`: it chains to the CA the listener trusts;
 * `certificateSubjectMatches`: the registered subject DN (the only tls_client_auth attribute dev
 * idp registers).
 */
function mtlsFeature(options: ConfigurationOptions) {
  if (options.mtlsEndpointAliases === undefined) return {enabled: false}
  type Context = {socket?: unknown}
  return {
    certificateAuthorized: (ctx: Context) => (ctx.socket as Partial<TLSSocket> | undefined)?.authorized === true,
    certificateBoundAccessTokens: true,
    certificateSubjectMatches: (ctx: Context, property: string, expected: string) =>
      property === 'tls_client_auth_subject_dn' && peerCertificate(ctx.socket)?.subject.replaceAll('\n', ',') === expected,
    enabled: true,
    getCertificate: (ctx: Context) => peerCertificate(ctx.socket),
    selfSignedTlsClientAuth: true,
    tlsClientAuth: true,
  }
}

interface ResourceServer {
  scope: string
  audience: string
  ttl: number
}

export function providerConfiguration(jwks: SigningKeys, clients: DevIdpClient[], options: ConfigurationOptions = {}): ProviderConfiguration {
  const accessTokenTTL = options.accessTokenTTL ?? DEFAULT_ACCESS_TOKEN_TTL
  const resources = resourceServers(options)
  const ttlByClient = new Map(clients.flatMap((client) => (client.accessTokenTTL === undefined ? [] : [[client.clientId, client.accessTokenTTL]])))
  const tokenTTL = (_ctx: unknown, token: {resourceServer?: {accessTokenTTL?: number}}) => token.resourceServer?.accessTokenTTL ?? accessTokenTTL

  const oidcScopes = ['openid', 'offline_access']
  const knownScopes = new Set([...oidcScopes, ...[...resources.values()].flatMap((server) => server.scope.split(' '))])

  const configuration: ProviderConfiguration = {
    adapter: createMemoryAdapter(),
    jwks,
    clients: [...clients.map(clientMetadata), ...(options.extraClients ?? [])],
    scopes: oidcScopes,
    interactions: {url: interactionUrl},
    features: {
      clientCredentials: {enabled: true},
      deviceFlow: {enabled: true, ...deviceFlowPages},
      devInteractions: {enabled: false},
      dPoP: dpopFeature(options),
      mTLS: mtlsFeature(options),
      introspection: {enabled: true, allowedPolicy: introspectionAllowedPolicy},
      revocation: {enabled: true, allowedPolicy: revocationAllowedPolicy},
      resourceIndicators: {
        enabled: true,
        defaultResource,
        // A refresh without `resource` keeps the resource the grant was issued for.
        useGrantedResource: () => true,
        getResourceServerInfo(ctx: ScopeContext, resource: string, client: {clientId: string}) {
          // Called for every request that names scopes: client credentials, both OBO grants, refresh,
          // authorization and device authorization. oidc-provider would drop unknown scopes silently.
          refuseUnknownScopes(ctx, knownScopes)
          const server = resources.get(resource)
          if (server === undefined) throw new providerErrors.InvalidTarget()
          return {
            scope: server.scope,
            audience: server.audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: ttlByClient.get(client.clientId) ?? server.ttl,
          }
        },
      },
    },
    // Explicit values everywhere oidc-provider would otherwise print a "you SHOULD change" notice
    // (on stdout, where `dev idp --json` writes its one line).
    ttl: {
      AccessToken: tokenTTL,
      AuthorizationCode: 60,
      ClientCredentials: tokenTTL,
      RefreshToken: options.refreshTokenTTL ?? DEFAULT_REFRESH_TOKEN_TTL,
      IdToken: 3600,
      DeviceCode: options.deviceCodeTTL ?? DEFAULT_DEVICE_CODE_TTL,
      Grant: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      Interaction: 3600,
    },
    ...(options.mtlsEndpointAliases === undefined
      ? {}
      : {
          clientAuthMethods: ['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt', 'none', 'tls_client_auth', 'self_signed_tls_client_auth'],
          discovery: {claim_types_supported: ['normal'], mtls_endpoint_aliases: options.mtlsEndpointAliases},
        }),
    // Every refresh returns a new refresh token; presenting a used one revokes the whole grant
    // (lib/actions/grants/refresh_token.js), as Entra, Okta and Keycloak do with rotation on.
    rotateRefreshToken: true,
    // CORS at the token, introspection, revocation and device endpoints for the server's own origin
    // only: the scheme and Host the request was sent to (./local-only.ts refuses others before).
    clientBasedCORS: (ctx: {host: string; protocol: string}, origin: string) => isOwnOrigin(origin, ctx.protocol, ctx.host),
    // Any user name signs in: an account is whatever the login form was given.
    findAccount: (_ctx: unknown, sub: string) => ({accountId: sub, claims: () => ({sub})}),
    renderError(ctx: {type: string; body: unknown}, out: Record<string, string>) {
      ctx.type = 'text'
      ctx.body = Object.entries(out)
        .map(([key, value]) => `${key}: ${value}`)
        .join('\n')
    },
  }
  return options.configure?.(configuration) ?? configuration
}

function resourceServers(options: ConfigurationOptions): Map<string, ResourceServer> {
  const ttl = options.accessTokenTTL ?? DEFAULT_ACCESS_TOKEN_TTL
  const api = (scope: string, identifier: string) => [identifier, {scope, audience: identifier, ttl}] as const
  return new Map<string, ResourceServer>([
    api(API_SCOPES, API_RESOURCE),
    api(API_SCOPES, OTHER_RESOURCE),
    ...Object.entries(options.extraResources ?? {}).map(([identifier, scope]) => api(scope, identifier)),
    [
      WEB_API_RESOURCE,
      {
        scope: `${WEB_API_SCOPE} ${WEB_API_RESOURCE}/${WEB_API_SCOPE}`,
        audience: WEB_API_AUDIENCE,
        ttl: options.userTokenTTL ?? DEFAULT_USER_TOKEN_TTL,
      },
    ],
  ])
}

/**
 * Without a `resource`, a request still gets a JWT for an API, as most real servers do: the web API
 * when a scope of its own is asked for (as Entra infers the resource from `api://api/access_as_user`),
 * else the downstream API.
 */
function defaultResource(ctx: {oidc?: {params?: {scope?: unknown}}}, _client: unknown, oneOf?: string | string[]) {
  if (oneOf !== undefined) return oneOf
  const scope = ctx.oidc?.params?.scope
  const scopes = typeof scope === 'string' ? scope.split(' ') : []
  const forWebApi = scopes.some((value) => value === WEB_API_SCOPE || value.startsWith(`${WEB_API_RESOURCE}/`))
  return forWebApi ? WEB_API_RESOURCE : API_RESOURCE
}

interface ScopeContext {
  oidc?: {params?: {scope?: unknown}}
}

/**
 * `invalid_scope` for a scope no resource and no OpenID Connect rule knows, as Entra (AADSTS70011),
 * Keycloak and Okta answer (RFC 6749 §5.2: "the requested scope is invalid, unknown, or malformed"),
 * so that exit 4 can be tried locally.
 */
function refuseUnknownScopes(ctx: ScopeContext, known: Set<string>): void {
  const scope = ctx.oidc?.params?.scope
  if (typeof scope !== 'string') return
  const unknown = scope.split(' ').filter((value) => value !== '' && !known.has(value))
  if (unknown.length > 0) {
    throw new providerErrors.InvalidScope(`unknown scope${unknown.length > 1 ? 's' : ''}: ${unknown.join(' ')} (known: ${[...known].join(' ')})`, unknown.join(' '))
  }
}

/** oidc-provider's default policies, spelled out so that they print no "you SHOULD change" notice. */
function introspectionAllowedPolicy(ctx: {oidc: {client: {clientId: string}}}, client: {clientAuthMethod: string}, token: {clientId: string}) {
  return !(client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client.clientId)
}

function revocationAllowedPolicy(_ctx: unknown, client: {clientId: string; clientAuthMethod: string}, token: {clientId: string}) {
  if (token.clientId === client.clientId) return true
  if (client.clientAuthMethod === 'none') return false
  throw new providerErrors.InvalidRequest('client is not authorized to revoke the presented token')
}
