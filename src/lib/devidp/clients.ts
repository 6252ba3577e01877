/**
 * The clients the dev authorization server knows, described in plain OAuth terms, and their
 * registration in oidc-provider's (RFC 7591) metadata format.
 *
 * `dev idp` registers three, the roles of the reference flows (IdentityModel's worker,
 * Microsoft.Identity.Web's long-running OBO): a worker (client credentials), a web API that
 * exchanges its users' tokens (OBO) and a public command-line client that signs users in; and a
 * fourth for secretless CI, a workload that authenticates with a federated token (workload identity
 * federation) from the GitHub Actions runner that `dev idp` imitates beside itself. Their
 * secrets are fixed, well-known values: the server lives on 127.0.0.1 with its state in memory and a
 * fresh signing key per start, so a secret protects nothing a developer could lose, while stable
 * values keep `client add` and scripts valid across restarts and make the printed examples stable.
 */
import {X509Certificate} from 'node:crypto'

import type {JWK} from 'jose'

import {DEFAULT_FEDERATED_AUDIENCE} from '../config/credentials.js'
import {DEVICE_CODE_GRANT, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT} from '../oauth/urns.js'
import type {ClientMetadata} from './oidc.js'
import {DEFAULT_WORKLOAD_SUBJECT} from './workload-issuer.js'

/**
 * The redirect URI of the public client. Registered as a native client's loopback redirect, it
 * accepts any port (RFC 8252 §7.3, oidc-provider's `redirectUriAllowed`): `http://127.0.0.1:PORT/callback`.
 */
export const LOOPBACK_REDIRECT_URI = 'http://127.0.0.1/callback'

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'tls_client_auth' | 'self_signed_tls_client_auth' | 'none' | 'federated'

/** Where `dev idp` serves its imitation of the GitHub Actions runner's token service (an issuer of its own). */
export const GITHUB_ACTIONS_PATH = '/github-actions'
/** The runner's request token (ACTIONS_ID_TOKEN_REQUEST_TOKEN): fixed and well known, as the secrets here are. */
export const DEV_RUNNER_REQUEST_TOKEN = 'dev-runner-request-token'

/** One trust of an app in an external issuer: Entra's "federated identity credential". */
export interface FederatedIdentityCredential {
  /** The external issuer, exactly as its tokens' `iss`; a path (`/github-actions`) is on this server. */
  issuer: string
  /** The workload, exactly as its tokens' `sub` (`repo:OWNER/REPO:ref:refs/heads/main`, `system:serviceaccount:NS:NAME`). */
  subject: string
  /** Exactly one of the tokens' `aud`; Entra's default `api://AzureADTokenExchange`. */
  audience: string
}

export interface DevIdpClient {
  clientId: string
  clientSecret?: string
  authMethod: ClientAuthMethod
  /** Grant types the client may use; registering one the server does not support fails the start. */
  grantTypes?: string[]
  /** Loopback redirect URIs (any port); the client is then registered as a native application. */
  redirectUris?: string[]
  /** Lifetime in seconds of this client's access tokens, whatever the resource. */
  accessTokenTTL?: number
  /** Public key of a `private_key_jwt` client. */
  publicJwk?: JWK
  /** A `federated` client: the external tokens it accepts as its credential (issuer, subject, audience). */
  federatedCredentials?: FederatedIdentityCredential[]
  /** Its access tokens must be DPoP-bound: a token request without a proof is refused (RFC 9449 §5.2). */
  dpopBound?: boolean
  /**
   * Mutual TLS (RFC 8705): the client's certificate (PEM). `self_signed_tls_client_auth` registers it
   * (its key with `x5c`); `tls_client_auth` registers its subject, the certificate chaining to the
   * server's trusted CA. Its access tokens are bound to it (`cnf` `x5t#S256`).
   */
  certificate?: string
}

/** A type, not an interface: it is then a Record<string, DevIdpClient> as well. */
export type DevClients = {
  /** A daemon or CI job: client credentials only. */
  worker: DevIdpClient
  /**
   * A web API (client_secret_basic): the audience of user tokens for `access_as_user`, and the client
   * that exchanges them on behalf of the user (jwt-bearer OBO; token exchange unless disabled).
   */
  api: DevIdpClient
  /** A public command-line client: device flow and authorization code with PKCE (loopback redirect). */
  cli: DevIdpClient
  /** A CI job without a secret: client credentials with a federated token from dev idp's GitHub Actions runner. */
  workload: DevIdpClient
  /**
   * A web API (client_secret_basic) whose tokens must be DPoP-bound: client credentials, on-behalf-of
   * of user tokens addressed to it, refresh.
   */
  dpop: DevIdpClient
  /** `dev idp --tls`: a web API that authenticates with its certificate (mutual TLS); its tokens are bound to it. */
  mtls?: DevIdpClient
}

export interface ClientOptions {
  /** `dev idp --tls`: the `mtls` client's certificate (PEM); no `mtls` client without it. */
  mtlsCertificate?: string
  /** Whether RFC 8693 token exchange is registered, and so may be listed for the web API (default true). */
  tokenExchange?: boolean
}

export function devClients(options: ClientOptions = {}): DevClients {
  return {
    worker: {clientId: 'worker', clientSecret: 'worker-secret', authMethod: 'client_secret_basic', grantTypes: ['client_credentials']},
    api: webApiClient(options),
    cli: {
      clientId: 'cli',
      authMethod: 'none',
      grantTypes: ['authorization_code', DEVICE_CODE_GRANT, 'refresh_token'],
      redirectUris: [LOOPBACK_REDIRECT_URI],
    },
    workload: {
      clientId: 'workload',
      authMethod: 'federated',
      grantTypes: ['client_credentials'],
      federatedCredentials: [{issuer: GITHUB_ACTIONS_PATH, subject: DEFAULT_WORKLOAD_SUBJECT, audience: DEFAULT_FEDERATED_AUDIENCE}],
    },
    dpop: {...webApiClient(options), clientId: 'dpop', clientSecret: 'dpop-secret', dpopBound: true},
    ...(options.mtlsCertificate === undefined
      ? {}
      : {mtls: {...webApiClient(options), clientId: 'mtls', clientSecret: undefined, authMethod: 'self_signed_tls_client_auth', certificate: options.mtlsCertificate}}),
  }
}

export function webApiClient(options: ClientOptions = {}): DevIdpClient {
  // A client may only list registered grant types, so token exchange only when it is registered.
  const exchange = (options.tokenExchange ?? true) ? [TOKEN_EXCHANGE_GRANT] : []
  return {
    clientId: 'api',
    clientSecret: 'api-secret',
    authMethod: 'client_secret_basic',
    grantTypes: ['client_credentials', 'refresh_token', JWT_BEARER_GRANT, ...exchange],
  }
}

/** The grant types of a client that names none: client credentials and refresh for a confidential one. */
export function grantTypesOf(client: DevIdpClient): string[] {
  // oidc-provider would mint client-credentials tokens for anyone naming a public client; real
  // servers refuse that grant without client authentication, and so does this one.
  return client.grantTypes ?? (client.authMethod === 'none' ? ['refresh_token'] : ['client_credentials', 'refresh_token'])
}

export function clientMetadata(client: DevIdpClient): ClientMetadata {
  // oidc-provider has no federated client authentication: federation.ts registers such a client its own way.
  if (client.authMethod === 'federated') throw new Error(`client ${client.clientId} is federated: register it through federationFront()`)
  const grantTypes = grantTypesOf(client)
  const redirectUris = client.redirectUris ?? []
  return {
    client_id: client.clientId,
    ...(client.clientSecret === undefined ? {} : {client_secret: client.clientSecret}),
    token_endpoint_auth_method: client.authMethod,
    ...(client.publicJwk === undefined ? {} : {jwks: {keys: [client.publicJwk]}}),
    ...(client.dpopBound ? {dpop_bound_access_tokens: true} : {}),
    ...(client.certificate === undefined ? {} : certificateRegistration(client.authMethod, client.certificate)),
    grant_types: grantTypes,
    response_types: grantTypes.includes('authorization_code') ? ['code'] : [],
    redirect_uris: redirectUris,
    // Only a native client's loopback redirect URIs match on any port.
    ...(redirectUris.length > 0 ? {application_type: 'native'} : {}),
  }
}

/**
 * How a mutual-TLS client is registered (RFC 8705 §2): by its certificate itself (`jwks` with `x5c`,
 * self_signed_tls_client_auth) or by its subject (tls_client_auth); its tokens bound to it either way.
 */
function certificateRegistration(method: ClientAuthMethod, pem: string): Record<string, unknown> {
  const certificate = new X509Certificate(pem)
  const bound = {tls_client_certificate_bound_access_tokens: true}
  if (method === 'tls_client_auth') return {...bound, tls_client_auth_subject_dn: certificate.subject.replaceAll('\n', ',')}
  const jwk = certificate.publicKey.export({format: 'jwk'}) as JWK
  return {...bound, jwks: {keys: [{...jwk, x5c: [certificate.raw.toString('base64')]}]}}
}
