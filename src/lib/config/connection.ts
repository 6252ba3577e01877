import {resolve} from 'node:path'

import {ConfigError, UsageError} from '../errors.js'
import type {AssertionFlags, ConnectionFlags} from '../flags.js'
import type {ThumbprintAlgorithm} from './certificates.js'
import type {DpopKeyLocation} from '../oauth/dpop-keys.js'
import {AUTH_METHODS, type AuthMethod, type ClientSettings, getClient, isMtlsMethod} from './clients.js'
import {
  ASSERTION_AUDIENCES,
  type AssertionAudience,
  type AssertionSettings,
  type CredentialKind,
  credentialKind,
  type CredentialLocation,
  type CredentialSource,
  DEFAULT_FEDERATED_AUDIENCE,
  type FederatedTokenSource,
  type SecretSource,
} from './credentials.js'
import {secureUrl} from './urls.js'

export type {SecretSource} from './credentials.js'

/** The connection flags as parsed, typed from their definitions in flags.ts. */
export type {AssertionFlags, ConnectionFlags} from '../flags.js'

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

export const DEFAULT_TIMEOUT_SECONDS = 30

/**
 * The longest wait any timeout of tokenctl may be given (--timeout, call's --timeout, token user's
 * --wait): one day. Node's timers hold at most 2^31-1 ms (24.8 days); a longer delay fires at once,
 * so a larger value would make every request time out immediately rather than never.
 */
export const MAX_TIMEOUT_SECONDS = 86_400

/** A timeout from flags, a named client or a session: within 1 s to a day (a config.json edited by hand included). */
function timeoutSecondsOf(timeout: number | undefined): number {
  if (timeout === undefined) return DEFAULT_TIMEOUT_SECONDS
  if (!(timeout > 0 && timeout <= MAX_TIMEOUT_SECONDS)) throw new UsageError(`--timeout must be a number of seconds from 1 to ${MAX_TIMEOUT_SECONDS}`)
  return timeout
}

/** The audiences a named client or a session keeps: one string in those kept before --audience could repeat. */
export function audiencesOf(audience: string | string[] | undefined): string[] {
  return audience === undefined ? [] : [audience].flat()
}

/** `--scope a --scope "b c"` → [a, b, c], deduplicated, in the order given. */
export function splitScopes(values: string[] | undefined): string[] | undefined {
  if (!values) return undefined
  return [...new Set(values.flatMap((value) => value.split(/\s+/)).filter(Boolean))]
}

/**
 * Token request parameters that carry a credential: never taken from --param (a flag value leaks
 * through ps, shell history and CI logs, and would be saved in config.json). Compared without case:
 * some servers read form fields case-insensitively (.NET's NameValueCollection).
 */
const CREDENTIAL_PARAMS: Record<string, string> = {
  actor_token: 'tokenctl does not send an actor token',
  assertion: 'pass the user\'s token with --assertion-env VAR, --assertion-stdin or --assertion-file PATH',
  client_assertion:
    'pass --private-key-file PATH (tokenctl signs a fresh client assertion for every request), or a federated token with --federated-token-file PATH, --federated-token-env VAR or --federated-token-github',
  client_secret: 'use --client-secret-env VAR, --client-secret-stdin or --client-secret-file PATH (or TOKENCTL_CLIENT_SECRET)',
  code: 'sign in with tokenctl token user (authorization code with PKCE)',
  code_verifier: 'sign in with tokenctl token user (authorization code with PKCE)',
  device_code: 'sign in with tokenctl token user --device',
  password: 'tokenctl does not send passwords (the password grant): sign in with tokenctl token user',
  refresh_token: 'keep the refresh token as a session (tokenctl session start, token user --session-key) and use tokenctl session refresh',
  subject_token: 'pass the user\'s token with --assertion-env VAR, --assertion-stdin or --assertion-file PATH',
}

/** The credential-carrying parameter among these names, if any. */
export function credentialParam(names: Iterable<string>): string | undefined {
  for (const name of names) if (Object.hasOwn(CREDENTIAL_PARAMS, name.toLowerCase())) return name
  return undefined
}

export function parseParams(values: string[] | undefined): Array<[string, string]> | undefined {
  if (!values) return undefined
  return values
    .map((value, index): [string, string] => {
      const at = value.indexOf('=')
      // Never repeated: what was typed may be a secret pasted in the wrong place.
      if (at < 1) throw new UsageError(`--param #${index + 1} wants name=value`)
      const name = value.slice(0, at)
      if (credentialParam([name])) {
        throw new UsageError(`--param ${name} carries a credential, and secrets are never taken as flag values`, 'secret_on_command_line', {
          suggestions: [CREDENTIAL_PARAMS[name.toLowerCase()]],
        })
      }

      return [name, value.slice(at + 1)]
    })
    .sort(([a], [b]) => a.localeCompare(b))
}

/**
 * A credential among the params a named client (or a session) keeps, written by an older tokenctl
 * that took them from --param: refused before anything is sent (exit 3), never repeated.
 */
export function assertNoCredentialParams(params: Array<[string, string]> | undefined, owner: string, fix: string): void {
  const name = credentialParam((params ?? []).map(([param]) => param))
  if (name === undefined) return
  throw new ConfigError(`${owner} keeps a credential in its extra parameters (${name}), which tokenctl no longer sends`, 'credential_in_params', {
    suggestions: [fix],
  })
}

function parseAuthMethod(value: string | undefined): AuthMethod | undefined {
  if (value === undefined) return undefined
  if ((AUTH_METHODS as readonly string[]).includes(value)) return value as AuthMethod
  throw new UsageError(`--auth-method must be one of ${AUTH_METHODS.join(', ')}`)
}

/** Where the user's token for on-behalf-of comes from; it is required. */
export function assertionSourceOf(flags: AssertionFlags): SecretSource {
  if (flags['assertion-env']) return {kind: 'env', variable: flags['assertion-env']}
  if (flags['assertion-file']) return {kind: 'file', path: flags['assertion-file']}
  if (flags['assertion-stdin']) return {kind: 'stdin'}
  throw new UsageError('no assertion: pass the user\'s access token with --assertion-env VAR, --assertion-stdin or --assertion-file PATH')
}

/** What `session refresh` / `session end` flags add to the client a session remembers. */
export function sessionOverridesOf(flags: ConnectionFlags): {caFile?: string; credential?: CredentialSource; timeout?: number} {
  return {caFile: flags['ca-file'], credential: credentialSourceOf(flags), timeout: flags.timeout}
}

export function secretSourceOf(flags: ConnectionFlags): SecretSource | undefined {
  if (flags['client-secret-env']) return {kind: 'env', variable: flags['client-secret-env']}
  if (flags['client-secret-file']) return {kind: 'file', path: flags['client-secret-file']}
  if (flags['client-secret-stdin']) return {kind: 'stdin'}
  return undefined
}

/**
 * A federated token's source from the flags. --federated-audience is the audience the GitHub Actions
 * runner is asked for; a token from a file or a variable already carries the audience it was issued
 * for (the pod's projected volume, GitLab's `aud:`), which tokenctl cannot change: refused there.
 * A file's path is made absolute: a named client or a session keeps it for runs from other folders.
 */
export function federatedSourceOf(flags: ConnectionFlags): FederatedTokenSource | undefined {
  const audience = flags['federated-audience']
  if (audience !== undefined && !flags['federated-token-github']) {
    throw new UsageError('--federated-audience goes with --federated-token-github (the audience the runner is asked for)', 'usage_error', {
      suggestions: [
        'a token from --federated-token-file or --federated-token-env carries the audience it was issued for: set it where it is issued (the pod\'s projected volume audience, GitLab\'s id_tokens aud:)',
      ],
    })
  }

  if (audience === '') throw new UsageError('--federated-audience is empty', 'usage_error', {suggestions: [`omit it for ${DEFAULT_FEDERATED_AUDIENCE} (Microsoft Entra's)`]})
  if (flags['federated-token-github']) return {audience: audience ?? DEFAULT_FEDERATED_AUDIENCE, kind: 'github'}
  if (flags['federated-token-env']) return {kind: 'env', variable: flags['federated-token-env']}
  if (flags['federated-token-file']) return {kind: 'file', path: resolve(flags['federated-token-file'])}
  return undefined
}

/** The credential the flags give, if any (oclif lets at most one of them through). */
export function credentialSourceOf(flags: ConnectionFlags): CredentialSource | undefined {
  const federated = federatedSourceOf(flags)
  if (federated) return {from: federated, kind: 'federated'}
  if (flags['certificate-file']) return {file: flags['certificate-file'], kind: 'certificate', passwordVariable: flags['certificate-password-env']}
  if (flags['private-key-file']) return {file: flags['private-key-file'], kind: 'private_key'}
  const secret = secretSourceOf(flags)
  return secret ? {from: secret, kind: 'secret'} : undefined
}

function parseAssertionAudience(value: string | undefined): AssertionAudience | undefined {
  if (value === undefined) return undefined
  if ((ASSERTION_AUDIENCES as readonly string[]).includes(value)) return value as AssertionAudience
  throw new UsageError(`--assertion-audience must be one of ${ASSERTION_AUDIENCES.join(', ')}`)
}

function parseThumbprint(value: string | undefined): ThumbprintAlgorithm | undefined {
  if (value === undefined || value === 'sha1' || value === 'sha256') return value
  throw new UsageError('--thumbprint must be sha256 or sha1')
}

/** The settings that flags give, in the shape a named client keeps (used by `client add` too). */
export function settingsFromFlags(flags: ConnectionFlags): Partial<ClientSettings> {
  const settings: Partial<ClientSettings> = {
    alg: flags.alg,
    assertionAudience: parseAssertionAudience(flags['assertion-audience']),
    audience: flags.audience,
    authMethod: parseAuthMethod(flags['auth-method']),
    caFile: flags['ca-file'],
    clientId: flags['client-id'],
    dpop: flags.dpop || flags['dpop-key-file'] !== undefined || undefined,
    // Absolute: a session keeps what it started with for runs from other folders.
    dpopKeyFile: flags['dpop-key-file'] === undefined ? undefined : resolve(flags['dpop-key-file']),
    issuer: flags.issuer,
    keyId: flags['key-id'],
    params: parseParams(flags.param),
    resources: flags.resource,
    scopes: splitScopes(flags.scope),
    sendX5c: flags['send-x5c'] || undefined,
    thumbprint: parseThumbprint(flags.thumbprint),
    timeout: flags.timeout,
    tokenEndpoint: flags['token-endpoint'],
  }
  for (const key of Object.keys(settings) as Array<keyof ClientSettings>) {
    if (settings[key] === undefined) delete settings[key]
  }

  return settings
}

function settingsFromEnvironment(env: NodeJS.ProcessEnv): Partial<ClientSettings> {
  const settings: Partial<ClientSettings> = {}
  if (env.TOKENCTL_ISSUER) settings.issuer = env.TOKENCTL_ISSUER
  if (env.TOKENCTL_TOKEN_ENDPOINT) settings.tokenEndpoint = env.TOKENCTL_TOKEN_ENDPOINT
  if (env.TOKENCTL_CLIENT_ID) settings.clientId = env.TOKENCTL_CLIENT_ID
  return settings
}

/** One layer of settings, and whether it names the authorization server (a named client always does). */
export interface SettingsLayer {
  namesServer: boolean
  settings: Partial<ClientSettings>
}

/**
 * The fields that make up the server, one setting: where it is (issuer, token endpoint), the CA that
 * vouches for it and the audience its client assertions want (both chosen for that server).
 */
const SERVER_FIELDS: ReadonlySet<keyof ClientSettings> = new Set(['assertionAudience', 'caFile', 'issuer', 'tokenEndpoint'])

const namesServer = (settings: Partial<ClientSettings>) => settings.issuer !== undefined || settings.tokenEndpoint !== undefined

export const flagLayer = (flags: ConnectionFlags): SettingsLayer => {
  const settings = settingsFromFlags(flags)
  return {namesServer: namesServer(settings), settings}
}

export const clientLayer = (settings: Partial<ClientSettings>): SettingsLayer => ({namesServer: true, settings})

export const environmentLayer = (env: NodeJS.ProcessEnv): SettingsLayer => {
  const settings = settingsFromEnvironment(env)
  return {namesServer: namesServer(settings), settings}
}

/**
 * Settings come in whole layers, first wins: the command line's flags, then the named client it
 * names, then the TOKENCTL_* variables. Each setting is taken whole from the first layer that has it
 * (a list — scopes, resources, params — replaces, never merges), and the server is one setting: the
 * first layer that names a server gives all of SERVER_FIELDS that it and the layers above it give,
 * and no layer below gives any. So a variable left exported by an earlier step never sends a
 * credential to a server the command line did not name (README, "Environment").
 */
export function layered(layers: SettingsLayer[]): Partial<ClientSettings> {
  const serverLayer = layers.findIndex((layer) => layer.namesServer)
  const merged: Partial<ClientSettings> = {}
  for (const [index, {settings}] of layers.entries()) {
    for (const key of Object.keys(settings) as Array<keyof ClientSettings>) {
      if (merged[key] !== undefined || settings[key] === undefined) continue
      if (serverLayer !== -1 && index > serverLayer && SERVER_FIELDS.has(key)) continue
      ;(merged as Record<string, unknown>)[key] = settings[key]
    }
  }

  return merged
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
export function toConnection(
  settings: Partial<ClientSettings>,
  extra: {clientName?: string; credential?: CredentialLocation} = {},
): Connection {
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
    audience: audiencesOf(settings.audience),
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

/** A named client's own credential (its store entry, its federated source, or the key file of a client added before keys were stored), else TOKENCTL_CLIENT_SECRET. */
export function defaultCredential(settings: Partial<ClientSettings>, clientName: string | undefined): CredentialLocation {
  if (clientName === undefined) return settings.privateKeyFile ? {kind: 'given', source: {file: settings.privateKeyFile, kind: 'private_key'}} : {kind: 'environment'}
  const stored = settings.storedCredential ?? (settings.hasStoredSecret ? 'secret' : undefined)
  const location: Extract<CredentialLocation, {kind: 'named_client'}> = {keyFile: settings.privateKeyFile, kind: 'named_client', name: clientName, stored}
  // A federated source is kept in config.json, as its location: the token is read for every request.
  if (settings.federatedToken) location.source = {from: settings.federatedToken, kind: 'federated'}
  return location
}

/**
 * The flags over a named client's settings over the environment, in whole layers (see layered).
 * `publicByDefault` (sign-in): a client with no secret anywhere authenticates with `none`.
 */
export function resolveConnection(
  clientName: string | undefined,
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
  options: {publicByDefault?: boolean} = {},
): Connection {
  const client = clientName ? getClient(clientName) : undefined
  if (client) {
    assertNoCredentialParams(client.params, `client "${clientName}" in config.json`, `add it again without that --param: tokenctl client add ${clientName} --replace … (the secret from --client-secret-env, --client-secret-stdin or --client-secret-file)`)
  }

  const settings = layered([flagLayer(flags), ...(client ? [clientLayer(client)] : []), environmentLayer(env)])
  const given = credentialSourceOf(flags)
  const credential: CredentialLocation = given ? {kind: 'given', source: given} : defaultCredential(settings, clientName)
  // The named client's method was chosen for its own credential: one given here may need another.
  if (flags['auth-method'] === undefined && settings.authMethod !== undefined && !methodFits(settings.authMethod, credentialKind(credential))) {
    delete settings.authMethod
  }

  const hasSecret =
    given !== undefined ||
    (credential.kind === 'named_client' && (credential.stored !== undefined || credential.keyFile !== undefined || credential.source !== undefined)) ||
    Boolean(env.TOKENCTL_CLIENT_SECRET)
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
