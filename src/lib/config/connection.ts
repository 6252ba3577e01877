import {ConfigError, UsageError} from '../errors.js'
import {AUTH_METHODS, type AuthMethod, type ClientSettings, getClient} from './clients.js'
import {secureUrl} from './urls.js'

/** Where a secret given on the command line comes from: never the flag's own value. */
export type SecretSource = {kind: 'env'; variable: string} | {kind: 'file'; path: string} | {kind: 'stdin'}

/** The connection flags of the contract, as parsed by oclif (see flags.ts). */
export interface ConnectionFlags {
  alg?: string
  audience?: string
  'auth-method'?: string
  'ca-file'?: string
  'client-id'?: string
  'client-secret-env'?: string
  'client-secret-file'?: string
  'client-secret-stdin'?: boolean
  issuer?: string
  'key-id'?: string
  param?: string[]
  'private-key-file'?: string
  resource?: string[]
  scope?: string[]
  timeout?: number
  'token-endpoint'?: string
}

/** Everything needed to talk to one token endpoint as one client, flags over named client over environment. */
export interface Connection {
  alg?: string
  audience?: string
  authMethod: AuthMethod
  caFile?: string
  clientId: string
  /** The named client this came from, if any. */
  clientName?: string
  hasStoredSecret: boolean
  issuer?: URL
  keyId?: string
  /** Extra token request parameters, sorted by name. */
  params: Array<[string, string]>
  privateKeyFile?: string
  resources: string[]
  scopes: string[]
  secretSource?: SecretSource
  timeoutSeconds: number
  tokenEndpoint?: URL
}

export const DEFAULT_TIMEOUT_SECONDS = 30

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
  client_assertion: 'pass --private-key-file PATH: tokenctl signs a fresh client assertion for every request',
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

export interface AssertionFlags {
  'assertion-env'?: string
  'assertion-file'?: string
  'assertion-stdin'?: boolean
}

/** Where the user's token for on-behalf-of comes from; it is required. */
export function assertionSourceOf(flags: AssertionFlags): SecretSource {
  if (flags['assertion-env']) return {kind: 'env', variable: flags['assertion-env']}
  if (flags['assertion-file']) return {kind: 'file', path: flags['assertion-file']}
  if (flags['assertion-stdin']) return {kind: 'stdin'}
  throw new UsageError('no assertion: pass the user\'s access token with --assertion-env VAR, --assertion-stdin or --assertion-file PATH')
}

/** What `session refresh` / `session end` flags add to the client a session remembers. */
export function sessionOverridesOf(flags: ConnectionFlags): {caFile?: string; privateKeyFile?: string; secretSource?: SecretSource; timeout?: number} {
  return {caFile: flags['ca-file'], privateKeyFile: flags['private-key-file'], secretSource: secretSourceOf(flags), timeout: flags.timeout}
}

export function secretSourceOf(flags: ConnectionFlags): SecretSource | undefined {
  if (flags['client-secret-env']) return {kind: 'env', variable: flags['client-secret-env']}
  if (flags['client-secret-file']) return {kind: 'file', path: flags['client-secret-file']}
  if (flags['client-secret-stdin']) return {kind: 'stdin'}
  return undefined
}

/** The settings that flags give, in the shape a named client keeps (used by `client add` too). */
export function settingsFromFlags(flags: ConnectionFlags): Partial<ClientSettings> {
  const settings: Partial<ClientSettings> = {
    alg: flags.alg,
    audience: flags.audience,
    authMethod: parseAuthMethod(flags['auth-method']),
    caFile: flags['ca-file'],
    clientId: flags['client-id'],
    issuer: flags.issuer,
    keyId: flags['key-id'],
    params: parseParams(flags.param),
    privateKeyFile: flags['private-key-file'],
    resources: flags.resource,
    scopes: splitScopes(flags.scope),
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

function defaultAuthMethod(settings: Partial<ClientSettings>): AuthMethod {
  return settings.privateKeyFile ? 'private_key_jwt' : 'client_secret_basic'
}

/** Validates merged settings into a Connection; every URL is checked before any request is made. */
export function toConnection(
  settings: Partial<ClientSettings>,
  extra: {clientName?: string; secretSource?: SecretSource} = {},
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

  const authMethod = settings.authMethod ?? defaultAuthMethod(settings)
  if (authMethod === 'private_key_jwt' && !settings.privateKeyFile) {
    throw new ConfigError(`private_key_jwt needs --private-key-file${where}`, 'missing_configuration')
  }

  if (settings.timeout !== undefined && !(settings.timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds')

  return {
    alg: settings.alg,
    audience: settings.audience,
    authMethod,
    caFile: settings.caFile,
    clientId: settings.clientId,
    clientName: extra.clientName,
    hasStoredSecret: settings.hasStoredSecret === true,
    issuer: settings.issuer ? secureUrl(settings.issuer, '--issuer') : undefined,
    keyId: settings.keyId,
    params: settings.params ?? [],
    privateKeyFile: settings.privateKeyFile,
    resources: settings.resources ?? [],
    scopes: settings.scopes ?? [],
    secretSource: extra.secretSource,
    timeoutSeconds: settings.timeout ?? DEFAULT_TIMEOUT_SECONDS,
    tokenEndpoint: settings.tokenEndpoint ? secureUrl(settings.tokenEndpoint, '--token-endpoint') : undefined,
  }
}

/**
 * A named client's settings, overridden by the flags; with no name, flags over the environment.
 * `publicByDefault` (sign-in): a client with no secret anywhere authenticates with `none`.
 */
export function resolveConnection(
  clientName: string | undefined,
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
  options: {publicByDefault?: boolean} = {},
): Connection {
  const base = clientName ? getClient(clientName) : settingsFromEnvironment(env)
  if (clientName) {
    assertNoCredentialParams(base.params, `client "${clientName}" in config.json`, `add it again without that --param: tokenctl client add ${clientName} --replace … (the secret from --client-secret-env, --client-secret-stdin or --client-secret-file)`)
  }

  const settings = {...base, ...settingsFromFlags(flags)}
  const secretSource = secretSourceOf(flags)
  const hasSecret = secretSource !== undefined || settings.hasStoredSecret || settings.privateKeyFile !== undefined || Boolean(env.TOKENCTL_CLIENT_SECRET)
  if (options.publicByDefault && settings.authMethod === undefined && !hasSecret) settings.authMethod = 'none'
  return toConnection(settings, {clientName, secretSource})
}

/** What `token verify` needs to fetch an issuer's keys: no client, no credential. */
export interface IssuerConnection {
  caFile?: string
  issuer: URL
  timeoutSeconds: number
}

/**
 * The issuer of `token verify`: --issuer over a named client's issuer over TOKENCTL_ISSUER, with the
 * client's --ca-file and --timeout. Unlike resolveConnection it needs no client id.
 */
export function resolveIssuer(
  clientName: string | undefined,
  flags: Pick<ConnectionFlags, 'ca-file' | 'issuer' | 'timeout'>,
  env: NodeJS.ProcessEnv = process.env,
): IssuerConnection {
  const base = clientName ? getClient(clientName) : settingsFromEnvironment(env)
  const settings = {...base, ...settingsFromFlags(flags)}
  if (!settings.issuer) {
    const where = clientName ? `client "${clientName}" has no issuer` : 'no issuer'
    throw new ConfigError(`${where}: the issuer's discovery document names the keys that sign its tokens`, 'missing_configuration', {
      suggestions: [clientName ? 'pass --issuer URL' : 'pass --issuer URL or the name of a client added with tokenctl client add (or set TOKENCTL_ISSUER)'],
    })
  }

  if (settings.timeout !== undefined && !(settings.timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds')
  return {
    caFile: settings.caFile,
    issuer: secureUrl(settings.issuer, '--issuer'),
    timeoutSeconds: settings.timeout ?? DEFAULT_TIMEOUT_SECONDS,
  }
}
