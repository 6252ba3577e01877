/**
 * oidc-provider, imported in this one place and typed here: the package ships no type declarations.
 *
 * Deep imports on purpose. The package's main module (lib/index.js) only re-exports these, and prints
 * "oidc-provider WARNING: Unsupported runtime" at import time on any Node.js before 22 LTS, which
 * tokenctl supports (Node >= 20.19): importing the modules it re-exports skips that line and nothing
 * else. The package has no `exports` map, so these paths are reachable; they are internal, and a
 * major update of oidc-provider must be checked against them (the test suite does).
 */
// @ts-expect-error oidc-provider 9 ships no type declarations
import {Provider as ProviderClass} from 'oidc-provider/lib/provider.js'
// @ts-expect-error oidc-provider 9 ships no type declarations
import * as errors from 'oidc-provider/lib/helpers/errors.js'
// The provider's own in-memory adapter, created explicitly: same semantics as its default (including
// refresh-token reuse detection) without the "development-only adapter" warning on every start.
// @ts-expect-error oidc-provider 9 ships no type declarations
import {createMemoryAdapter as memoryAdapter} from 'oidc-provider/lib/adapters/memory_adapter.js'
// The helpers the built-in grants use (lib/actions/grants/client_credentials.js): the same resource
// resolution (defaultResource, getResourceServerInfo, invalid_target) and the same response shape.
// @ts-expect-error oidc-provider 9 ships no type declarations
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js'
// The nonces oidc-provider's DPoP uses (time-stepped HKDF values, lib/helpers/challenge.js): dev idp's API hands out its own the same way.
// @ts-expect-error oidc-provider 9 ships no type declarations
import ServerChallengeClass from 'oidc-provider/lib/helpers/challenge.js'
import type {IncomingMessage, RequestListener, ServerResponse} from 'node:http'

/** What every oidc-provider model (a token, a grant) does: `save` stores it and returns its id. */
interface Model {
  save(): Promise<string>
}

/** A model class: instances are built from their properties, and found or revoked by id. */
interface ModelClass<M extends Model, P> {
  new (properties: P): M
  find(id: string, options?: {ignoreExpiration?: boolean}): Promise<M | undefined>
  revokeByGrantId(grantId: string): Promise<void>
  readonly adapter: {destroy(id: string): Promise<void>}
}

export interface AccessTokenModel extends Model {
  expiration: number
  grantId?: string
  resourceServer?: unknown
  scope?: string
  tokenType: string
  /** Binds the token (cnf): `x5t` to a client certificate, `jkt` to a DPoP key's thumbprint. */
  setThumbprint(kind: 'jkt' | 'x5t', value: unknown): void
}

export interface RefreshTokenModel extends Model {
  grantId?: string
}

export interface GrantModel extends Model {
  addOIDCClaims(claims: string[]): void
  addOIDCScope(scope: string): void
  addResourceScope(resource: string, scope: string): void
}

/** The members of oidc-provider's Provider that tokenctl reaches for. */
export interface OidcProvider {
  readonly issuer: string
  readonly AccessToken: ModelClass<AccessTokenModel, Record<string, unknown>>
  readonly Grant: ModelClass<GrantModel, {accountId?: string; clientId: string}>
  readonly RefreshToken: ModelClass<RefreshTokenModel, Record<string, unknown>>
  callback(): RequestListener
  /** `Context` is the part of oidc-provider's Koa context the handler reads, as the handler declares it. */
  registerGrantType<Context>(
    name: string,
    handler: (ctx: Context, next: () => Promise<void>) => Promise<void>,
    params?: string | string[] | Set<string>,
    allowedDuplicateParams?: string | string[] | Set<string>,
  ): void
  /** Koa middleware in front of the provider's routes. */
  use<Context>(middleware: (ctx: Context, next: () => Promise<void>) => Promise<void>): void
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<unknown>
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: {mergeWithLastSubmission?: boolean}): Promise<void>
  /** `never[]`: each listener declares the arguments its event passes (see oidc-provider's docs/events.md). */
  on(event: string, listener: (...args: never[]) => void): unknown
  off(event: string, listener: (...args: never[]) => void): unknown
}

/**
 * Provider configuration in oidc-provider's own format (see its docs/README.md): a deep object that
 * dev idp builds and tests rewrite in place (`configuration.features.resourceIndicators`…).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- oidc-provider publishes no type for its configuration, and its callers reach deep into it
export type ProviderConfiguration = Record<string, any>

/** Client metadata in oidc-provider's (RFC 7591) format. */
export type ClientMetadata = Record<string, unknown> & {client_id: string}

const Provider = ProviderClass as new (issuer: string, configuration: ProviderConfiguration) => OidcProvider

export function createProvider(issuer: string, configuration: ProviderConfiguration): OidcProvider {
  return new Provider(issuer, configuration)
}

/** An OAuth error of oidc-provider's, answered with the description given (InvalidScope's second argument: the scope). */
type ProviderErrorClass = new (description?: string, detail?: string) => Error

/** oidc-provider's error classes that dev idp and the test servers throw. */
export const providerErrors = errors as {
  CustomOIDCProviderError: new (error: string, description: string, options?: {cause?: unknown}) => Error
  InvalidClientAuth: ProviderErrorClass
  InvalidRequest: ProviderErrorClass
  InvalidScope: ProviderErrorClass
  InvalidTarget: ProviderErrorClass
}

export const createMemoryAdapter = memoryAdapter as () => unknown
/** The helpers of oidc-provider's built-in grants that dev idp's grants use (see senderConstraints below). */
const grants = grantHelpers as {
  buildTokenResponse: (provider: OidcProvider, response: Record<string, unknown>) => Record<string, unknown>
  checkDpopReplay: (provider: OidcProvider, ctx: unknown, dPoP: DpopProofResult, clientId: string) => Promise<void>
  checkDpopRequired: (provider: OidcProvider, ctx: unknown, dPoP: DpopProofResult | undefined) => void
  checkMtlsCert: (provider: OidcProvider, ctx: unknown) => unknown
  resolveRequestedResources: (provider: OidcProvider, ctx: unknown) => Promise<unknown[]>
  validateDpop: (provider: OidcProvider, ctx: unknown) => Promise<DpopProofResult | undefined>
}

export const buildTokenResponse = grants.buildTokenResponse
export const resolveRequestedResources = grants.resolveRequestedResources

/** A DPoP proof of a token request as the built-in grants verify it: undefined when there is none. */
export interface DpopProofResult {
  jti: string
  thumbprint: string
}

/**
 * The sender-constraint helpers of the built-in grants (lib/helpers/sender_constraints.js,
 * validate_dpop.js), for the custom grants: the proof verified (with the server's nonce), a replayed
 * `jti` refused, a client that must use DPoP refused without it, the client certificate of a client
 * whose tokens are bound to it.
 */
export const senderConstraints = {
  checkDpopReplay: grants.checkDpopReplay,
  checkDpopRequired: grants.checkDpopRequired,
  checkMtlsCert: grants.checkMtlsCert,
  validateDpop: grants.validateDpop,
}

/** oidc-provider's nonce source: `nextChallenge()` to hand out, `checkChallenge(nonce)` for the last few minutes' ones. */
export interface ServerChallenge {
  checkChallenge(nonce: string): boolean
  nextChallenge(): string
}

export function serverChallenge(secret: Buffer, info: string): ServerChallenge {
  return new (ServerChallengeClass as new (secret: Buffer, info: string) => ServerChallenge)(secret, info)
}
