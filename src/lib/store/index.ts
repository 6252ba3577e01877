import {ConfigError, StoreError} from '../errors.js'
import type {SecretKind, StoreSecret} from './envelope.js'
import {type SecretOption, type SecretSource, resolveStoreSecret, storeSecretSource} from './store-secret.js'
import type {SecretStore} from './types.js'

export type StoreMode = 'auto' | 'file' | 'keychain' | 'redis'

/** Both ways to give the file store its passphrase, in words a CI author can paste. */
const PASSPHRASE_WAYS = 'export TOKENCTL_STORE_PASSPHRASE_FILE=/path/to/passphrase-file, or export TOKENCTL_STORE_PASSPHRASE="$SECRET" from a CI secret (the same every run)'

/** The recommended way for machines (CI, fleets), whose secret is machine-made: a key, no scrypt. */
const KEY_WAY = 'export TOKENCTL_STORE_KEY_FILE=/path/to/file-holding-a-key made once by openssl rand -base64 32 (or TOKENCTL_STORE_KEY="$KEY" from a CI secret variable)'

/** What the command wants to hear from the store it opens. */
export interface OpenOptions {
  /** A warning for the user (stderr): something the operation did not fail for. */
  warn?: (message: string) => void
}

/** The store in use and why it was chosen: `store status` says it, nothing is downgraded silently. */
export interface StoreChoice {
  reason: string
  /** What an encrypted store (file, Redis) is sealed with; the keychain has none of its own. */
  sealedWith?: SecretKind
  store: SecretStore
}

/** The secret of an encrypted store as its backend takes it, and where it came from (for the reason). */
function sealing(env: NodeJS.ProcessEnv): undefined | {option: SecretOption; source: SecretSource} {
  const source = storeSecretSource(env)
  const secret: StoreSecret | undefined = source && resolveStoreSecret(env)
  if (source === undefined || secret === undefined) return undefined
  return {option: typeof secret === 'string' ? {passphrase: secret} : {key: secret.key}, source}
}

const from = ({kind, variable}: SecretSource) => `${kind} from ${variable}`

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
  const sealed = sealing(env)
  if (sealed === undefined) return undefined
  const {FileStore} = await import('./file-store.js')
  return {reason: `${reason} (${from(sealed.source)})`, sealedWith: sealed.source.kind, store: new FileStore(sealed.option)}
}

/** A Redis topology as `store status` names it. */
export const REDIS_TOPOLOGY_WORDS = {cluster: 'Cluster', sentinel: 'Sentinel', server: 'server'} as const

/**
 * The Redis store shared by a fleet: TOKENCTL_REDIS_URL and a key or a passphrase (the values are
 * sealed on this side). Its module, and the Redis client library, are loaded only here.
 */
async function redisStore(env: NodeJS.ProcessEnv, {warn}: OpenOptions): Promise<StoreChoice> {
  const sealed = sealing(env)
  if (sealed === undefined) {
    throw new StoreError('TOKENCTL_STORE=redis needs a key or a passphrase: every value is encrypted before it is sent to Redis', 'no_store', {
      suggestions: [
        'set TOKENCTL_STORE_KEY_FILE to a file holding a key made by openssl rand -base64 32 (or TOKENCTL_STORE_KEY), or a passphrase in TOKENCTL_STORE_PASSPHRASE_FILE or TOKENCTL_STORE_PASSPHRASE: the same on every host',
      ],
    })
  }

  const {RedisStore, redisSettings} = await import('./redis-store.js')
  const settings = redisSettings(env)
  const topology = REDIS_TOPOLOGY_WORDS[settings.topology]
  return {
    reason: `TOKENCTL_STORE=redis (${topology} from TOKENCTL_REDIS_URL, ${from(sealed.source)})`,
    sealedWith: sealed.source.kind,
    store: new RedisStore({...sealed.option, settings, warn}),
  }
}

/**
 * TOKENCTL_STORE picks the backend; `auto` takes the OS keychain when one answers, else the
 * encrypted file store when a key or a passphrase is set, else fails naming the ways out (exit 7).
 * `auto` never picks Redis: a shared store is chosen explicitly.
 */
export async function openStore(env: NodeJS.ProcessEnv = process.env, options: OpenOptions = {}): Promise<StoreChoice> {
  const mode = storeMode(env)
  if (mode === 'redis') return redisStore(env, options)
  if (mode === 'file') {
    const choice = await fileStore(env, 'TOKENCTL_STORE=file')
    if (choice) return choice
    throw new StoreError('TOKENCTL_STORE=file needs a key or a passphrase', 'no_store', {suggestions: [KEY_WAY, PASSPHRASE_WAYS]})
  }

  const keychain = await import('./keychain-store.js')
  if (mode === 'keychain') return {reason: 'TOKENCTL_STORE=keychain', store: new keychain.KeychainStore()}
  const probe = await keychain.probeKeychain()
  if (probe.ok) return {reason: 'TOKENCTL_STORE=auto and the OS keychain answers', store: new keychain.KeychainStore({probe})}
  const choice = await fileStore(env, `TOKENCTL_STORE=auto, no keychain answers (${probe.reason}), so the encrypted file store`)
  if (choice) return choice
  throw new StoreError(`no secure store: no keychain answers (${probe.reason}) and no key or passphrase is set for the encrypted file store`, 'no_store', {
    suggestions: [`on a server, container or CI runner: ${KEY_WAY}; or a passphrase: ${PASSPHRASE_WAYS}`, 'on a desktop: start or unlock the OS keychain (gnome-keyring, KWallet)'],
  })
}
