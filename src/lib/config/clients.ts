import {closeSync, openSync, readFileSync} from 'node:fs'

import {ConfigError, UsageError} from '../errors.js'
import {homePath, homeText, tokenctlHome} from '../paths.js'
import {assertPrivateDescriptor, writePrivateFile} from '../private-files.js'
import {withFileLock} from '../store/file-lock.js'
import type {CertificateFacts} from './certificates.js'
import type {AssertionSettings, CredentialLocation, FederatedTokenSource, StoredCredentialKind} from './credentials.js'

/** The non-secret settings of a named client, as kept in TOKENCTL_HOME/config.json. */
export interface ClientSettings extends AssertionSettings {
  audience?: string[]
  authMethod?: AuthMethod
  caFile?: string
  /** The public facts of a stored certificate (thumbprint, validity), for `client show`. */
  certificate?: CertificateFacts
  clientId: string
  /** Bind tokens to a DPoP key (RFC 9449): from --dpop, or a named client added with it. */
  dpop?: boolean
  /** --dpop-key-file: the user's own DPoP key, read when a proof is made (flags only: `client add` stores the key). */
  dpopKeyFile?: string
  /** The thumbprint of the DPoP key `client add --dpop` put into the secure store (the key itself never lives here). */
  dpopJkt?: string
  /** Where a federated token is read for every request (never the token): a file, a variable, the GitHub Actions runner. */
  federatedToken?: FederatedTokenSource
  issuer?: string
  params?: Array<[string, string]>
  resources?: string[]
  scopes?: string[]
  /** What `client add` put into the secure store: a secret, a private key or a certificate (the material itself never lives here). */
  storedCredential?: StoredCredentialKind
  timeout?: number
  tokenEndpoint?: string
}

/**
 * Where a named client's credential is found: under its name in the secure store, or, for a federated
 * token, the source config.json keeps (the token is read for every request).
 */
export function credentialLocationOf(name: string, settings: Partial<ClientSettings>): Extract<CredentialLocation, {kind: 'named_client'}> {
  const location: Extract<CredentialLocation, {kind: 'named_client'}> = {kind: 'named_client', name, stored: settings.storedCredential}
  if (settings.federatedToken) location.source = {from: settings.federatedToken, kind: 'federated'}
  return location
}

export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth', 'none', 'federated'] as const
export type AuthMethod = (typeof AUTH_METHODS)[number]

/** Mutual TLS client authentication (RFC 8705): the certificate is presented in the TLS handshake. */
const MTLS_METHODS: ReadonlySet<AuthMethod> = new Set(['tls_client_auth', 'self_signed_tls_client_auth'])

export function isMtlsMethod(method: string | undefined): boolean {
  return MTLS_METHODS.has(method as AuthMethod)
}

interface ConfigFile {
  clients?: Record<string, ClientSettings>
}

const NAME_PATTERN = /^[\w.:-]{1,64}$/
/**
 * Names of JavaScript's object machinery: as a key of a plain object (config.json's clients, a
 * script reading `client list --json`) `__proto__` is not a property at all, and the others collide
 * with inherited ones. Refused rather than half-working.
 */
const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype'])

export function assertClientName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new UsageError(`invalid client name "${name}": use 1–64 characters of A-Z a-z 0-9 . _ : -`)
  }

  if (RESERVED_NAMES.has(name)) throw new UsageError(`invalid client name "${name}": the name is reserved, choose another`)
}

export function configFilePath(): string {
  return `${tokenctlHome()}/config.json`
}

/**
 * Reads config.json directly (conf's import alone costs ~70 ms, more than the whole budget of a
 * cached `token client`; and conf writes through a symbolic link and honours the umask). The file
 * is refused when other users can change it: it says where a client's secret is sent.
 */
function readConfig(): ConfigFile {
  const file = configFilePath()
  let text: string
  try {
    const fd = openSync(file, 'r')
    try {
      assertPrivateDescriptor(fd, file, 'the configuration file')
      text = readFileSync(fd, 'utf8')
    } finally {
      closeSync(fd)
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new ConfigError(`cannot read ${file}: ${(error as Error).message}`)
  }

  let config: unknown
  try {
    config = JSON.parse(text)
  } catch {
    config = undefined
  }

  if (!isPlainObject(config) || (config.clients !== undefined && config.clients !== null && !isPlainObject(config.clients))) {
    const what = config === undefined ? 'is not valid JSON' : 'is not a tokenctl configuration (a JSON object whose "clients" is an object)'
    throw new ConfigError(`${file} ${what}`, 'config_error', {
      suggestions: ['fix or remove the file, then add the clients again'],
    })
  }

  return config
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** An entry of the clients map as tokenctl wrote it: an object (a hand edit may leave `null`). */
function checkedClient(name: string, entry: unknown): ClientSettings {
  if (isPlainObject(entry)) return entry as unknown as ClientSettings
  throw new ConfigError(`client "${name}" in ${configFilePath()} is not a client's settings (${entry === null ? 'null' : typeof entry})`, 'invalid_client_entry', {
    suggestions: [`remove it with tokenctl client remove ${name} and add it again, or fix the file`],
  })
}

export function findClient(name: string): ClientSettings | undefined {
  const clients = readConfig().clients ?? {}
  return Object.hasOwn(clients, name) ? checkedClient(name, clients[name]) : undefined
}

export function getClient(name: string): ClientSettings {
  const client = findClient(name)
  if (!client) {
    throw new ConfigError(`unknown client "${name}": not in the config.json of ${homeText()}`, 'unknown_client', {
      suggestions: ['tokenctl client list shows the clients there; tokenctl client add creates one'],
    })
  }

  return client
}

export function listClients(): Array<[string, ClientSettings]> {
  return Object.entries(readConfig().clients ?? {})
    .map(([name, entry]): [string, ClientSettings] => [name, checkedClient(name, entry)])
    .sort(([a], [b]) => a.localeCompare(b))
}

/**
 * Read-modify-write of the clients map, serialized across processes. The file is replaced whole
 * (private-files.ts): 0600, and a symbolic link at its name is replaced, its target never written.
 */
async function changeClients(change: (clients: Record<string, ClientSettings>) => void): Promise<void> {
  await withFileLock(homePath('locks', 'config.lock'), async () => {
    const config = readConfig()
    const clients = {...config.clients}
    change(clients)
    await writePrivateFile(configFilePath(), `${JSON.stringify({...config, clients}, undefined, '\t')}\n`)
  })
}

export async function saveClient(name: string, settings: ClientSettings): Promise<void> {
  assertClientName(name)
  await changeClients((clients) => {
    clients[name] = settings
  })
}

export async function deleteClient(name: string): Promise<boolean> {
  let existed = false
  await changeClients((clients) => {
    existed = Object.hasOwn(clients, name)
    delete clients[name]
  })
  return existed
}
