/**
 * The on-behalf-of grants of the dev authorization server, as oidc-provider custom grants
 * (`provider.registerGrantType`):
 * - Entra's flavor: `urn:ietf:params:oauth:grant-type:jwt-bearer` with `requested_token_use=on_behalf_of`;
 * - RFC 8693 token exchange, with an access token as the subject token.
 *
 * Both turn a user access token addressed to the calling client (a web API) into an access token for a
 * downstream resource, for the same user. With `offline_access` they also mint a refresh token bound to
 * a Grant, shaped like the refresh tokens of oidc-provider's built-in grants (lib/helpers/grant_common.js
 * `issueTokens`), so that the provider's own `refresh_token` grant rotates it and detects its reuse.
 *
 * oidc-provider authenticates the client and checks that the client may use the grant type before a
 * registered handler runs (lib/actions/token.js), so the handlers only deal with the grant itself.
 */
import {createLocalJWKSet, errors as joseErrors, jwtVerify} from 'jose'
import type {JWK, JWTPayload} from 'jose'

import {publicJwk} from './keys.js'
import {ACCESS_TOKEN_TYPE, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT} from '../oauth/urns.js'
import {buildTokenResponse, type OidcProvider, providerErrors, resolveRequestedResources, senderConstraints} from './oidc.js'

export interface OboGrantOptions {
  /** The keys user tokens are signed with: the server's own JWKS (private members are dropped). */
  userTokenKeys: {keys: JWK[]}
  /** Register (and so advertise in discovery) RFC 8693 token exchange; default true. */
  tokenExchange?: boolean
}

/** A verified user token: what the grants need from it. */
type UserToken = JWTPayload & {sub: string}
type UserTokenVerifier = (token: string, audience: string) => Promise<UserToken>

/**
 * The slice of oidc-provider's request context the handlers touch (`ctx.oidc`, see
 * lib/helpers/oidc_context.js); the package ships no types.
 */
interface GrantContext {
  body: unknown
  oidc: {
    provider: OidcProvider
    params: Record<string, string | string[] | undefined>
    client: {clientAuthMethod: string; clientId: string; grantTypeAllowed(grantType: string): boolean}
    requestParamScopes: Set<string>
    entity(name: string, value: unknown): void
  }
}

interface ResourceServer {
  scopes: Set<string>
  identifier(): string
}

/** Registers jwt-bearer OBO (always) and token exchange (unless disabled) with the provider. */
export function registerOboGrants(provider: OidcProvider, options: OboGrantOptions): void {
  const verify = userTokenVerifier(provider.issuer, options.userTokenKeys)
  // Registered parameters are the only ones that reach the handler (token.js strips the others);
  // `resource` may repeat as in the built-in grants, and is then refused unless it resolves to one.
  provider.registerGrantType(JWT_BEARER_GRANT, onBehalfOfHandler(verify), ['assertion', 'requested_token_use', 'scope', 'resource'], ['resource'])
  if (options.tokenExchange ?? true) {
    provider.registerGrantType(
      TOKEN_EXCHANGE_GRANT,
      tokenExchangeHandler(verify),
      ['subject_token', 'subject_token_type', 'audience', 'resource', 'scope', 'requested_token_type'],
      ['audience', 'resource'],
    )
  }
}

/** Entra's OBO: the assertion is a user token whose `aud` is the calling client. */
function onBehalfOfHandler(verify: UserTokenVerifier) {
  return async function onBehalfOf(ctx: GrantContext): Promise<void> {
    const {client} = ctx.oidc
    const assertion = requiredParam(ctx, 'assertion')
    if (requiredParam(ctx, 'requested_token_use') !== 'on_behalf_of') {
      throw new providerErrors.InvalidRequest("requested_token_use must be 'on_behalf_of'")
    }
    // Entra answers a bad assertion with invalid_grant (AADSTS50013, 500133).
    const user = await verifyOrRefuse(verify, assertion, client.clientId, 'assertion', 'invalid_grant')
    ctx.body = await issueDelegatedTokens(ctx, user.sub, JWT_BEARER_GRANT)
  }
}

/** RFC 8693: an access token as the subject token, an access token issued. */
function tokenExchangeHandler(verify: UserTokenVerifier) {
  return async function tokenExchange(ctx: GrantContext): Promise<void> {
    const {params, client} = ctx.oidc
    const subjectToken = requiredParam(ctx, 'subject_token')
    if (requiredParam(ctx, 'subject_token_type') !== ACCESS_TOKEN_TYPE) {
      throw new providerErrors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`)
    }
    if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
      throw new providerErrors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`)
    }
    // RFC 8693 §2.2.2: an unacceptable subject token is invalid_request, not invalid_grant. As Keycloak
    // requires, the requester must be in the subject token's audience.
    const user = await verifyOrRefuse(verify, subjectToken, client.clientId, 'subject_token', 'invalid_request')
    applyAudience(params)
    ctx.body = await issueDelegatedTokens(ctx, user.sub, TOKEN_EXCHANGE_GRANT, ACCESS_TOKEN_TYPE)
  }
}

/**
 * This server names its APIs by resource indicator, and their tokens' audience is that identifier, so
 * `audience` alone is taken as the resource; given both, they must name the same resources.
 */
function applyAudience(params: GrantContext['oidc']['params']): void {
  if (params.audience === undefined) return
  if (params.resource === undefined) {
    params.resource = params.audience
    return
  }
  const sorted = (value: string | string[]) => [value].flat().sort().join(' ')
  if (sorted(params.audience) !== sorted(params.resource)) {
    throw new providerErrors.InvalidTarget('audience and resource name different resources')
  }
}

/**
 * An access token for the user (`sub`) and the requested resource, a JWT like the client-credentials
 * tokens; and, when `offline_access` is requested by a client allowed refresh tokens, a refresh token.
 */
async function issueDelegatedTokens(ctx: GrantContext, sub: string, gty: string, issuedTokenType?: string): Promise<Record<string, unknown>> {
  const {provider, client} = ctx.oidc
  // As the built-in grants do (client_credentials.js): the proof verified and its jti unseen, the
  // client certificate of a client whose tokens are bound to it, DPoP required of a client that must.
  const dPoP = await senderConstraints.validateDpop(provider, ctx)
  const certificate = senderConstraints.checkMtlsCert(provider, ctx)
  senderConstraints.checkDpopRequired(provider, ctx, dPoP)
  const resourceServer = await singleResourceServer(ctx)
  const scope = grantedScopes(ctx.oidc.requestParamScopes, resourceServer).join(' ')
  const offline = ctx.oidc.requestParamScopes.has('offline_access') && client.grantTypeAllowed('refresh_token')
  const grantId = offline ? await saveGrant(ctx, sub, resourceServer, scope) : undefined

  const at = new provider.AccessToken({accountId: sub, client, grantId, gty, scope: scope || undefined})
  at.resourceServer = resourceServer
  if (certificate) at.setThumbprint('x5t', certificate)
  if (dPoP) {
    await senderConstraints.checkDpopReplay(provider, ctx, dPoP, client.clientId)
    at.setThumbprint('jkt', dPoP.thumbprint)
  }
  ctx.oidc.entity('AccessToken', at)
  const accessToken: string = await at.save()

  const refreshToken = grantId === undefined ? undefined : await saveRefreshToken(ctx, {sub, grantId, gty, resource: resourceServer.identifier(), scope})
  return buildTokenResponse(provider, {
    accessToken,
    expiresIn: at.expiration,
    issuedTokenType,
    refreshToken,
    scope: at.scope || undefined,
    tokenType: at.tokenType,
  })
}

async function singleResourceServer(ctx: GrantContext): Promise<ResourceServer> {
  const resourceServers = (await resolveRequestedResources(ctx.oidc.provider, ctx)) as ResourceServer[]
  if (resourceServers.length !== 1) {
    throw new providerErrors.InvalidTarget('only a single resource indicator value is supported for this grant type')
  }
  return resourceServers[0]
}

/** The requested scopes the resource knows (unknown ones are dropped, as for client credentials); all its scopes when none are requested. */
function grantedScopes(requested: Set<string>, resourceServer: ResourceServer): string[] {
  const asked = [...requested].filter(Boolean)
  const known = [...resourceServer.scopes].filter(Boolean)
  return asked.length === 0 ? known : asked.filter((scope) => resourceServer.scopes.has(scope))
}

/**
 * The Grant the refresh token hangs on. refresh_token.js re-reads it on every refresh
 * (`validateGrant`: exists, not expired, same client; `checkAccountMismatch`: same account) and
 * takes the new access token's scope from it (`getResourceScopeFiltered`), and reuse detection
 * revokes everything issued under its id.
 */
async function saveGrant(ctx: GrantContext, sub: string, resourceServer: ResourceServer, scope: string): Promise<string> {
  const {provider, client} = ctx.oidc
  const grant = new provider.Grant({accountId: sub, clientId: client.clientId})
  grant.addResourceScope(resourceServer.identifier(), scope)
  grant.addOIDCScope('offline_access')
  ctx.oidc.entity('Grant', grant)
  return grant.save()
}

/**
 * The refresh token, with the members refresh_token.js reads and copies on rotation (accountId,
 * grantId, gty, resource, scope, rotations; `iiat` is set by the model). Its scope keeps
 * `offline_access` as an authorization-code refresh token's does; `resource` is the one identifier,
 * which `useGrantedResource` reuses when a refresh names none.
 */
async function saveRefreshToken(ctx: GrantContext, token: {sub: string; grantId: string; gty: string; resource: string; scope: string}): Promise<string> {
  const {provider, client} = ctx.oidc
  const rt = new provider.RefreshToken({
    accountId: token.sub,
    client,
    grantId: token.grantId,
    gty: token.gty,
    resource: token.resource,
    rotations: 0,
    scope: [token.scope, 'offline_access'].filter(Boolean).join(' '),
  })
  ctx.oidc.entity('RefreshToken', rt)
  return rt.save()
}

function requiredParam(ctx: GrantContext, name: string): string {
  const value = ctx.oidc.params[name]
  if (typeof value !== 'string' || value === '') {
    throw new providerErrors.InvalidRequest(`missing required parameter '${name}'`)
  }
  return value
}

/** Verifies a user token for `audience`, turning any rejection into the grant's OAuth error. */
async function verifyOrRefuse(verify: UserTokenVerifier, token: string, audience: string, name: string, error: 'invalid_grant' | 'invalid_request'): Promise<UserToken> {
  try {
    return await verify(token, audience)
  } catch (cause) {
    if (!(cause instanceof joseErrors.JOSEError)) throw cause
    // CustomOIDCProviderError carries its description to the client; InvalidGrant would only say
    // "grant request is invalid", which makes failing tests hard to read.
    throw new providerErrors.CustomOIDCProviderError(error, `${name} ${rejectionReason(cause)}`, {cause})
  }
}

function rejectionReason(error: InstanceType<typeof joseErrors.JOSEError>): string {
  if (error instanceof joseErrors.JWTExpired) return 'is expired'
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'is not addressed to the client (aud)'
    if (error.claim === 'iss') return 'was not issued by this server (iss)'
    return `has an invalid "${error.claim}" claim (${error.reason})`
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed || error instanceof joseErrors.JWKSNoMatchingKey) {
    return 'is not signed by this server'
  }
  return 'is not a valid JWT'
}

/** Checks signature (the server's own keys), issuer, audience and lifetime of a user token. */
function userTokenVerifier(issuer: string, jwks: {keys: JWK[]}): UserTokenVerifier {
  const keys = createLocalJWKSet({keys: jwks.keys.map(publicJwk)})
  return async (token, audience) => {
    const {payload} = await jwtVerify(token, keys, {issuer, audience, requiredClaims: ['sub', 'exp']})
    return payload as UserToken
  }
}
