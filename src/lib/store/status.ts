import {isTokenctlError, messageOf, StoreError} from '../errors.js'
import {homeFile} from '../paths.js'
import {REDIS_TOPOLOGY_WORDS, type StoreChoice, openStore, storeMode} from './index.js'
import {STORE_FILE} from './store-key.js'
import {storeSecretSource} from './store-secret.js'

export interface StoreStatus {
  /** `keychain`, `file`, `redis`, or `none` when no store can be chosen at all. */
  backend: string
  error?: string
  error_code?: string
  /** Where it lives; null when there is no store. */
  location: null | string
  ok: boolean
  reason: string
  /** What an encrypted store (file, Redis) is sealed with, `key` or `passphrase`: never the secret. */
  sealed_with?: string
  /** What to do about a store that does not answer, or that cannot be opened. */
  advice?: string[]
}

/**
 * The chosen store and a live check of it. A store that cannot even be opened (no keychain and no
 * key or passphrase, a key or passphrase file that is not there) is reported all the same, with why
 * and what to do: `store status` is where a person looks when another command ended with exit 7.
 */
export async function storeStatus(env: NodeJS.ProcessEnv = process.env): Promise<StoreStatus> {
  let choice: StoreChoice
  try {
    choice = await openStore(env)
  } catch (error) {
    if (!(error instanceof StoreError)) throw error // TOKENCTL_STORE or TOKENCTL_REDIS_URL mistyped: exit 3, one line
    return unopened(error, env)
  }

  const {reason, sealedWith, store} = choice
  const status: StoreStatus = {backend: store.backend, reason, location: store.location, ok: true}
  if (sealedWith) status.sealed_with = sealedWith
  try {
    await store.check()
  } catch (error) {
    status.ok = false
    status.error = messageOf(error)
    if (isTokenctlError(error)) {
      status.error_code = error.code
      status.advice = error.suggestions
    }
  }

  // What the check reached (Redis: the master Sentinel named, a Cluster's masters) is part of where it lives.
  status.location = store.location
  return status
}

/** The store TOKENCTL_STORE asked for (and, under auto, a key or passphrase pointed at), which did not open. */
async function unopened(error: StoreError, env: NodeJS.ProcessEnv): Promise<StoreStatus> {
  const failed = (backend: string, reason: string, location: null | string): StoreStatus => ({
    backend,
    reason,
    location,
    ok: false,
    error: error.message,
    error_code: error.code,
    advice: error.suggestions,
  })
  const mode = storeMode(env)
  if (mode === 'redis') {
    const {redisSettings} = await import('./redis-store.js')
    let location: null | string = null
    let reason = 'TOKENCTL_STORE=redis'
    try {
      const {display, prefix, topology} = redisSettings(env)
      location = `Redis at ${display}, keys under "${prefix}"`
      reason += ` (${REDIS_TOPOLOGY_WORDS[topology]} from TOKENCTL_REDIS_URL)`
    } catch {
      // no TOKENCTL_REDIS_URL: the error says so
    }

    return failed('redis', reason, location)
  }

  // auto fails only when no keychain answers: then a key or a passphrase, if one is named, meant the file store.
  if (mode === 'file' || storeSecretSource(env)) {
    const reason = mode === 'file' ? 'TOKENCTL_STORE=file' : 'TOKENCTL_STORE=auto and no keychain answers, so the encrypted file store'
    return failed('file', reason, homeFile(STORE_FILE))
  }

  return failed('none', error.message, null)
}
