/**
 * The first step of a connection: what the command line, a named client and the TOKENCTL_* variables
 * say, as settings (the shape a named client keeps in config.json). Flags are parsed and checked here
 * (a credential is never a flag's value), and the three sources are layered: flags over the named
 * client over the variables, in whole settings (README, "Environment"). The second step, settings
 * into a connection, is connection.ts.
 */
import {resolve} from 'node:path'

import {ConfigError, UsageError} from '../errors.js'
import type {AssertionFlags, ConnectionFlags} from '../flags.js'
import type {ThumbprintAlgorithm} from './certificates.js'
import {AUTH_METHODS, type AuthMethod, type ClientSettings} from './clients.js'
import {ASSERTION_AUDIENCES, type AssertionAudience, type CredentialSource, DEFAULT_FEDERATED_AUDIENCE, type FederatedTokenSource, type SecretSource} from './credentials.js'

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
  assertion: "pass the user's token with --assertion-env VAR, --assertion-stdin or --assertion-file PATH",
  client_assertion:
    'pass --private-key-file PATH (tokenctl signs a fresh client assertion for every request), or a federated token with --federated-token-file PATH, --federated-token-env VAR or --federated-token-github',
  client_secret: 'use --client-secret-env VAR, --client-secret-stdin or --client-secret-file PATH (or TOKENCTL_CLIENT_SECRET)',
  code: 'sign in with tokenctl token user (authorization code with PKCE)',
  code_verifier: 'sign in with tokenctl token user (authorization code with PKCE)',
  device_code: 'sign in with tokenctl token user --device',
  password: 'tokenctl does not send passwords (the password grant): sign in with tokenctl token user',
  refresh_token: 'keep the refresh token as a session (tokenctl session start, token user --session-key) and use tokenctl session refresh',
  subject_token: "pass the user's token with --assertion-env VAR, --assertion-stdin or --assertion-file PATH",
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
 * A credential among the params of a named client: `client add` never writes one (parseParams refuses
 * it), so only a config.json edited by hand holds one. Refused before anything is sent (exit 3), the
 * value never repeated: a secret does not belong in config.json, and is not sent from there.
 */
export function assertNoCredentialParams(clientName: string, params: Array<[string, string]> | undefined): void {
  const name = credentialParam((params ?? []).map(([param]) => param))
  if (name === undefined) return
  throw new ConfigError(`client "${clientName}" in config.json keeps a credential in its extra parameters (${name}), which tokenctl never sends`, 'credential_in_params', {
    suggestions: [`add it again without that --param: tokenctl client add ${clientName} --replace … (the secret from --client-secret-env, --client-secret-stdin or --client-secret-file)`],
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
  throw new UsageError("no assertion: pass the user's access token with --assertion-env VAR, --assertion-stdin or --assertion-file PATH")
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
        "a token from --federated-token-file or --federated-token-env carries the audience it was issued for: set it where it is issued (the pod's projected volume audience, GitLab's id_tokens aud:)",
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
