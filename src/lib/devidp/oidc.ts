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

/** The members of oidc-provider's Provider that tokenctl reaches for. */
export interface OidcProvider {
  readonly issuer: string
  callback(): RequestListener
  registerGrantType(
    name: string,
    handler: (ctx: any, next: () => Promise<void>) => Promise<void>,
    params?: string | string[] | Set<string>,
    allowedDuplicateParams?: string | string[] | Set<string>,
  ): void
  /** Koa middleware in front of the provider's routes. */
  use(middleware: (ctx: any, next: () => Promise<void>) => Promise<void>): void
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<any>
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: {mergeWithLastSubmission?: boolean}): Promise<void>
  on(event: string, listener: (...args: any[]) => void): unknown
  [member: string]: any
}

/** Provider configuration in oidc-provider's own format (see its docs/README.md). */
export type ProviderConfiguration = Record<string, any>

/** Client metadata in oidc-provider's (RFC 7591) format. */
export type ClientMetadata = Record<string, unknown> & {client_id: string}

export function createProvider(issuer: string, configuration: ProviderConfiguration): OidcProvider {
  return new ProviderClass(issuer, configuration) as OidcProvider
}

/** oidc-provider's error classes (InvalidRequest, InvalidTarget, CustomOIDCProviderError, …). */
export const providerErrors: Record<string, any> = errors

export const createMemoryAdapter: () => unknown = memoryAdapter
export const buildTokenResponse: (provider: OidcProvider, response: Record<string, unknown>) => Record<string, unknown> = grantHelpers.buildTokenResponse
export const resolveRequestedResources: (provider: OidcProvider, ctx: unknown) => Promise<unknown[]> = grantHelpers.resolveRequestedResources

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
  checkDpopReplay: grantHelpers.checkDpopReplay as (provider: OidcProvider, ctx: unknown, dPoP: DpopProofResult, clientId: string) => Promise<void>,
  checkDpopRequired: grantHelpers.checkDpopRequired as (provider: OidcProvider, ctx: unknown, dPoP: DpopProofResult | undefined) => void,
  checkMtlsCert: grantHelpers.checkMtlsCert as (provider: OidcProvider, ctx: unknown) => unknown,
  validateDpop: grantHelpers.validateDpop as (provider: OidcProvider, ctx: unknown) => Promise<DpopProofResult | undefined>,
}

/** oidc-provider's nonce source: `nextChallenge()` to hand out, `checkChallenge(nonce)` for the last few minutes' ones. */
export interface ServerChallenge {
  checkChallenge(nonce: string): boolean
  nextChallenge(): string
}

export function serverChallenge(secret: Buffer, info: string): ServerChallenge {
  return new ServerChallengeClass(secret, info) as ServerChallenge
}
