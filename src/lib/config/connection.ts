/**
 * The second step of a connection: settings (settings.ts: flags over a named client over the
 * TOKENCTL_* variables) into a Connection, checked whole before any request is made — a client id,
 * a server, URLs that are https or loopback, an auth method that fits the credential and where that
 * credential is found (config/credentials.ts).
 */
import {ConfigError, UsageError} from '../errors.js'
import {type AuthMethod, type ClientSettings, credentialLocationOf, getClient, isMtlsMethod} from './clients.js'
import {type AssertionSettings, type CredentialKind, credentialKind, type CredentialLocation, type CredentialSource, type DpopKeyLocation, hasOwnCredential} from './credentials.js'
import type {ConnectionFlags} from '../flags.js'
import {assertNoCredentialParams, clientLayer, credentialSourceOf, environmentLayer, flagLayer, layered} from './settings.js'
import {timeoutSecondsOf} from './timeouts.js'
import {secureUrl} from './urls.js'

/** Everything needed to talk to one token endpoint as one client, flags over named client over environment. */
export interface Connection extends AssertionSettings {
  /** RFC 8693's `audience`, which may repeat (Keycloak narrows the token to them). */
  audience: string[]
  authMethod: AuthMethod
  caFile?: string
  clientId: string
  /** The named client this came from, if any. */
  clientName?: string
  /** Where the credential is found when a request is made (config/credentials.ts). */
  credential: CredentialLocation
  /** Where the DPoP key of --dpop is (oauth/dpop-keys.ts); none: bearer tokens. */
  dpop?: DpopKeyLocation
  issuer?: URL
  /** Extra token request parameters, sorted by name. */
  params: Array<[string, string]>
  resources: string[]
  scopes: string[]
  timeoutSeconds: number
  tokenEndpoint?: URL
}

const SIGNING_KINDS = new Set<CredentialKind>(['certificate', 'private_key'])

/**
 * Whether an auth method can use a kind of credential: signing keys go with private_key_jwt, a
 * certificate with mutual TLS too, a federated token with federated only.
 */
export function methodFits(method: AuthMethod, kind: CredentialKind): boolean {
  if (method === 'federated' || kind === 'federated') return method === 'federated' && kind === 'federated'
  if (isMtlsMethod(method)) return kind === 'certificate'
  return SIGNING_KINDS.has(kind) ? method === 'private_key_jwt' : method !== 'private_key_jwt'
}

const FEDERATED_FLAGS = '--federated-token-file PATH, --federated-token-env VAR or --federated-token-github'

/** The flag that gave a credential, as the user typed it. */
function givenFlag(source: CredentialSource): string {
  if (source.kind !== 'federated') return {certificate: '--certificate-file', private_key: '--private-key-file', secret: 'a client secret'}[source.kind]
  return {env: '--federated-token-env', file: '--federated-token-file', github: '--federated-token-github'}[source.from.kind]
}

/** What a credential that does not fit the requested method is, in the words of a message. */
const KIND_TEXT: Record<CredentialKind, string> = {
  certificate: 'a certificate',
  federated: 'a federated token',
  none: 'no credential',
  private_key: 'a private key',
  secret: 'a client secret',
}

/** What to do when a credential given on the command line does not fit the --auth-method given with it. */
function mismatchAdvice(kind: CredentialKind, requested: AuthMethod): string {
  if (kind === 'federated') return 'a federated token authenticates with federated: drop --auth-method'
  if (isMtlsMethod(requested)) return `${requested} presents a certificate in the TLS handshake: pass --certificate-file PATH (PEM or PKCS#12)`
  if (kind === 'certificate') return 'a certificate authenticates with private_key_jwt, tls_client_auth or self_signed_tls_client_auth'
  if (kind === 'private_key') return 'a key authenticates with private_key_jwt: drop --auth-method'
  if (requested === 'none') return 'a public client has no secret: drop the secret flag'
  return requested === 'federated' ? `federated needs a federated token: ${FEDERATED_FLAGS}` : 'private_key_jwt needs --private-key-file or --certificate-file'
}

/**
 * The auth method: the one asked for, else what the credential implies. A key, certificate or
 * federated token given on the command line with a method that cannot use it is a usage error
 * (exit 2); a method whose credential is missing altogether is missing configuration (exit 3).
 */
function authMethodFor(location: CredentialLocation, requested: AuthMethod | undefined, where: string): AuthMethod {
  const kind = credentialKind(location)
  if (requested === undefined) {
    if (kind === 'federated') return 'federated'
    return SIGNING_KINDS.has(kind) ? 'private_key_jwt' : kind === 'none' ? 'none' : 'client_secret_basic'
  }

  if (methodFits(requested, kind) && !(location.kind === 'given' && requested === 'none')) return requested
  if (location.kind === 'given') {
    throw new UsageError(`--auth-method ${requested} does not go with ${givenFlag(location.source)}`, 'usage_error', {
      suggestions: [mismatchAdvice(kind, requested)],
    })
  }

  if (requested === 'private_key_jwt') {
    throw new ConfigError(`private_key_jwt needs --private-key-file or --certificate-file${where}`, 'missing_configuration')
  }

  if (isMtlsMethod(requested)) {
    throw new ConfigError(`${requested} needs a certificate (--certificate-file)${where}`, 'missing_configuration')
  }

  if (requested === 'federated') {
    throw new ConfigError(`federated needs a federated token: ${FEDERATED_FLAGS}${where}`, 'missing_configuration')
  }

  throw new ConfigError(`${requested} needs a client secret, but the credential${where} is ${KIND_TEXT[kind]}`, 'missing_configuration', {
    suggestions: ['drop --auth-method, or give the secret (--client-secret-env VAR, --client-secret-stdin, --client-secret-file PATH)'],
  })
}

/** Validates merged settings into a Connection; every URL is checked before any request is made. */
export function toConnection(settings: Partial<ClientSettings>, extra: {clientName?: string; credential?: CredentialLocation} = {}): Connection {
  const where = extra.clientName ? ` for client "${extra.clientName}"` : ''
  if (!settings.clientId) {
    throw new ConfigError(`no client id${where}`, 'missing_configuration', {
      suggestions: ['pass --client-id (or set TOKENCTL_CLIENT_ID), or name a client added with tokenctl client add'],
    })
  }

  if (!settings.issuer && !settings.tokenEndpoint) {
    throw new ConfigError(`no authorization server${where}`, 'missing_configuration', {
      suggestions: ['pass --issuer URL or --token-endpoint URL (or set TOKENCTL_ISSUER / TOKENCTL_TOKEN_ENDPOINT)'],
    })
  }

  const location = extra.credential ?? defaultCredential(settings, extra.clientName)
  const authMethod = authMethodFor(location, settings.authMethod, where)
  const credential: CredentialLocation = authMethod === 'none' ? {kind: 'none'} : location
  const timeoutSeconds = timeoutSecondsOf(settings.timeout)

  return {
    alg: settings.alg,
    assertionAudience: settings.assertionAudience,
    audience: settings.audience ?? [],
    authMethod,
    caFile: settings.caFile,
    clientId: settings.clientId,
    clientName: extra.clientName,
    credential,
    dpop: dpopLocationOf(settings, extra.clientName),
    issuer: settings.issuer ? secureUrl(settings.issuer, '--issuer') : undefined,
    keyId: settings.keyId,
    params: settings.params ?? [],
    resources: settings.resources ?? [],
    scopes: settings.scopes ?? [],
    sendX5c: settings.sendX5c,
    thumbprint: settings.thumbprint,
    timeoutSeconds,
    tokenEndpoint: settings.tokenEndpoint ? secureUrl(settings.tokenEndpoint, '--token-endpoint') : undefined,
  }
}

/**
 * Where the DPoP key is: --dpop-key-file, else the named client's stored key, else one generated for
 * this connection (oauth/dpop-keys.ts); none without --dpop.
 */
function dpopLocationOf(settings: Partial<ClientSettings>, clientName: string | undefined): DpopKeyLocation | undefined {
  if (settings.dpopKeyFile !== undefined) return {kind: 'file', path: settings.dpopKeyFile}
  if (!settings.dpop) return undefined
  if (clientName !== undefined && settings.dpopJkt !== undefined) return {jkt: settings.dpopJkt, kind: 'named_client', name: clientName}
  return {kind: 'connection'}
}

/** Where the credential is when no flag gives one: the named client's, else TOKENCTL_CLIENT_SECRET. */
function defaultCredential(settings: Partial<ClientSettings>, clientName: string | undefined): CredentialLocation {
  return clientName === undefined ? {kind: 'environment'} : credentialLocationOf(clientName, settings)
}

/**
 * The flags over a named client's settings over the environment, in whole layers (see layered).
 * `publicByDefault` (sign-in): a client with no secret anywhere authenticates with `none`.
 */
export function resolveConnection(clientName: string | undefined, flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env, options: {publicByDefault?: boolean} = {}): Connection {
  const client = clientName ? getClient(clientName) : undefined
  if (clientName && client) assertNoCredentialParams(clientName, client.params)

  const settings = layered([flagLayer(flags), ...(client ? [clientLayer(client)] : []), environmentLayer(env)])
  const given = credentialSourceOf(flags)
  const credential: CredentialLocation = given ? {kind: 'given', source: given} : defaultCredential(settings, clientName)
  // The named client's method was chosen for its own credential: one given here may need another.
  if (flags['auth-method'] === undefined && settings.authMethod !== undefined && !methodFits(settings.authMethod, credentialKind(credential))) {
    delete settings.authMethod
  }

  const hasSecret = given !== undefined || hasOwnCredential(credential) || Boolean(env.TOKENCTL_CLIENT_SECRET)
  if (options.publicByDefault && settings.authMethod === undefined && !hasSecret) settings.authMethod = 'none'
  return toConnection(settings, {clientName, credential})
}

/** What `token verify` needs to fetch an issuer's keys: no client, no credential. */
export interface IssuerConnection {
  caFile?: string
  issuer: URL
  timeoutSeconds: number
}

/**
 * The issuer of `token verify`: --issuer over a named client's issuer over TOKENCTL_ISSUER, layered
 * as resolveConnection's (a client that names only a token endpoint has no issuer to give, and the
 * variable does not give one in its place), with --ca-file and --timeout. Unlike resolveConnection it
 * needs no client id.
 */
export function resolveIssuer(
  clientName: string | undefined,
  flags: Pick<ConnectionFlags, 'ca-file' | 'issuer' | 'timeout' | 'token-endpoint'>,
  env: NodeJS.ProcessEnv = process.env,
): IssuerConnection {
  const settings = layered([flagLayer(flags), ...(clientName ? [clientLayer(getClient(clientName))] : []), environmentLayer(env)])
  if (!settings.issuer) {
    const where = clientName ? `client "${clientName}" has no issuer` : 'no issuer'
    throw new ConfigError(`${where}: the issuer's discovery document names the keys that sign its tokens`, 'missing_configuration', {
      suggestions: [clientName ? 'pass --issuer URL' : 'pass --issuer URL or the name of a client added with tokenctl client add (or set TOKENCTL_ISSUER)'],
    })
  }

  return {
    caFile: settings.caFile,
    issuer: secureUrl(settings.issuer, '--issuer'),
    timeoutSeconds: timeoutSecondsOf(settings.timeout),
  }
}
