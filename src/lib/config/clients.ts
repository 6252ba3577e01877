import {readFileSync} from 'node:fs'

import {ConfigError, UsageError} from '../errors.js'
import {homePath, tokenctlHome} from '../paths.js'
import {withFileLock} from '../store/file-lock.js'
import type {CertificateFacts} from './certificates.js'
import type {AssertionSettings, StoredCredentialKind} from './credentials.js'

/** The non-secret settings of a named client, as kept in TOKENCTL_HOME/config.json. */
export interface ClientSettings extends AssertionSettings {
  audience?: string
  authMethod?: AuthMethod
  caFile?: string
  /** The public facts of a stored certificate (thumbprint, validity), for `client show`. */
  certificate?: CertificateFacts
  clientId: string
  /** Whether `client add` put a secret into the secure store (the secret itself never lives here). */
  hasStoredSecret?: boolean
  issuer?: string
  params?: Array<[string, string]>
  /** A key file read on every request: clients added before keys went into the secure store. */
  privateKeyFile?: string
  resources?: string[]
  scopes?: string[]
  /** What `client add` put into the secure store besides a secret: a private key or a certificate. */
  storedCredential?: Exclude<StoredCredentialKind, 'secret'>
  timeout?: number
  tokenEndpoint?: string
}

export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const
export type AuthMethod = (typeof AUTH_METHODS)[number]

interface ConfigFile {
  clients?: Record<string, ClientSettings>
}

const NAME_PATTERN = /^[\w.:-]{1,64}$/

export function assertClientName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new UsageError(`invalid client name "${name}": use 1–64 characters of A-Z a-z 0-9 . _ : -`)
  }
}

export function configFilePath(): string {
  return `${tokenctlHome()}/config.json`
}

/**
 * Reads config.json directly: conf's import alone costs ~70 ms, more than the whole budget of a
 * cached `token client`, so only the commands that change the file load it.
 */
function readConfig(): ConfigFile {
  let text: string
  try {
    text = readFileSync(configFilePath(), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new ConfigError(`cannot read ${configFilePath()}: ${(error as Error).message}`)
  }

  try {
    return JSON.parse(text) as ConfigFile
  } catch {
    throw new ConfigError(`${configFilePath()} is not valid JSON`, 'config_error', {
      suggestions: ['fix or remove the file, then add the clients again'],
    })
  }
}

export function findClient(name: string): ClientSettings | undefined {
  const clients = readConfig().clients ?? {}
  return Object.hasOwn(clients, name) ? clients[name] : undefined
}

export function getClient(name: string): ClientSettings {
  const client = findClient(name)
  if (!client) {
    throw new ConfigError(`unknown client "${name}"`, 'unknown_client', {
      suggestions: ['tokenctl client list shows the clients; tokenctl client add creates one'],
    })
  }

  return client
}

export function listClients(): Array<[string, ClientSettings]> {
  return Object.entries(readConfig().clients ?? {}).sort(([a], [b]) => a.localeCompare(b))
}

/** Read-modify-write of the clients map, serialized across processes. */
async function changeClients(change: (clients: Record<string, ClientSettings>) => void): Promise<void> {
  const {default: Conf} = await import('conf')
  await withFileLock(homePath('locks', 'config.lock'), async () => {
    const conf = new Conf<ConfigFile>({configName: 'config', cwd: tokenctlHome(), projectName: 'tokenctl', projectSuffix: ''})
    const clients = {...conf.get('clients', {})}
    change(clients)
    conf.set('clients', clients)
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
