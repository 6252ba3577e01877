import {ConfigError, StoreError} from '../errors.js'
import {passphraseSource, resolvePassphrase} from './passphrase.js'
import type {SecretStore} from './types.js'

export type StoreMode = 'auto' | 'file' | 'keychain' | 'redis'

/** Both ways to give the file store its passphrase, in words a CI author can paste. */
const PASSPHRASE_WAYS = 'export TOKENCTL_STORE_PASSPHRASE_FILE=/path/to/passphrase-file, or export TOKENCTL_STORE_PASSPHRASE="$SECRET" from a CI secret (the same every run)'

/** What the command wants to hear from the store it opens. */
export interface OpenOptions {
  /** A warning for the user (stderr): something the operation did not fail for. */
  warn?: (message: string) => void
}

/** The store in use and why it was chosen: `store status` says it, nothing is downgraded silently. */
export interface StoreChoice {
  reason: string
  store: SecretStore
}

/** The backend TOKENCTL_STORE asks for, known before any store is opened (or any server reached). */
export function storeMode(env: NodeJS.ProcessEnv = process.env): StoreMode {
  const mode = (env.TOKENCTL_STORE ?? '').trim() || 'auto'
  if (mode === 'auto' || mode === 'file' || mode === 'keychain' || mode === 'redis') return mode
  throw new ConfigError(`TOKENCTL_STORE must be auto, keychain, file or redis, not "${mode}"`)
}

/** Whether the store is shared by several machines (Redis): state that other homes must see lives in it. */
export function isSharedStore(env: NodeJS.ProcessEnv = process.env): boolean {
  return storeMode(env) === 'redis'
}

async function fileStore(env: NodeJS.ProcessEnv, reason: string): Promise<StoreChoice | undefined> {
  const passphrase = resolvePassphrase(env)
  if (passphrase === undefined) return undefined
  const {FileStore} = await import('./file-store.js')
  const source = passphraseSource(env)
  return {reason: `${reason} (passphrase from ${source?.variable})`, store: new FileStore({passphrase})}
}

/** A Redis topology as `store status` names it. */
export const REDIS_TOPOLOGY_WORDS = {cluster: 'Cluster', sentinel: 'Sentinel', server: 'server'} as const

/**
 * The Redis store shared by a fleet: TOKENCTL_REDIS_URL and a passphrase (the values are sealed
 * on this side). Its module, and the Redis client library, are loaded only here.
 */
async function redisStore(env: NodeJS.ProcessEnv, {warn}: OpenOptions): Promise<StoreChoice> {
  const passphrase = resolvePassphrase(env)
  if (passphrase === undefined) {
    throw new StoreError('TOKENCTL_STORE=redis needs a passphrase: every value is encrypted before it is sent to Redis', 'no_store', {
      suggestions: ['set TOKENCTL_STORE_PASSPHRASE, or TOKENCTL_STORE_PASSPHRASE_FILE to a file holding it (the same on every host)'],
    })
  }

  const {RedisStore, redisSettings} = await import('./redis-store.js')
  const settings = redisSettings(env)
  const source = passphraseSource(env)
  const topology = REDIS_TOPOLOGY_WORDS[settings.topology]
  return {reason: `TOKENCTL_STORE=redis (${topology} from TOKENCTL_REDIS_URL, passphrase from ${source?.variable})`, store: new RedisStore({passphrase, settings, warn})}
}

/**
 * TOKENCTL_STORE picks the backend; `auto` takes the OS keychain when one answers, else the
 * encrypted file store when a passphrase is set, else fails naming both ways out (exit 7).
 * `auto` never picks Redis: a shared store is chosen explicitly.
 */
export async function openStore(env: NodeJS.ProcessEnv = process.env, options: OpenOptions = {}): Promise<StoreChoice> {
  const mode = storeMode(env)
  if (mode === 'redis') return redisStore(env, options)
  if (mode === 'file') {
    const choice = await fileStore(env, 'TOKENCTL_STORE=file')
    if (choice) return choice
    throw new StoreError('TOKENCTL_STORE=file needs a passphrase', 'no_store', {suggestions: [PASSPHRASE_WAYS]})
  }

  const keychain = await import('./keychain-store.js')
  if (mode === 'keychain') return {reason: 'TOKENCTL_STORE=keychain', store: new keychain.KeychainStore()}
  const probe = await keychain.probeKeychain()
  if (probe.ok) return {reason: 'TOKENCTL_STORE=auto and the OS keychain answers', store: new keychain.KeychainStore({probe})}
  const choice = await fileStore(env, `TOKENCTL_STORE=auto, no keychain answers (${probe.reason}), so the encrypted file store`)
  if (choice) return choice
  throw new StoreError(`no secure store: no keychain answers (${probe.reason}) and no passphrase is set for the encrypted file store`, 'no_store', {
    suggestions: [`on a server, container or CI runner: ${PASSPHRASE_WAYS}`, 'on a desktop: start or unlock the OS keychain (gnome-keyring, KWallet)'],
  })
}
