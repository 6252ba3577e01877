import {ConfigError, StoreError} from '../errors.js'
import {passphraseSource, resolvePassphrase} from './passphrase.js'
import type {SecretStore} from './types.js'

export type StoreMode = 'auto' | 'file' | 'keychain'

/** The store in use and why it was chosen: `store status` says it, nothing is downgraded silently. */
export interface StoreChoice {
  reason: string
  store: SecretStore
}

export function storeMode(env: NodeJS.ProcessEnv = process.env): StoreMode {
  const mode = (env.TOKENCTL_STORE ?? '').trim() || 'auto'
  if (mode === 'auto' || mode === 'file' || mode === 'keychain') return mode
  throw new ConfigError(`TOKENCTL_STORE must be auto, keychain or file, not "${mode}"`)
}

async function fileStore(env: NodeJS.ProcessEnv, reason: string): Promise<StoreChoice | undefined> {
  const passphrase = resolvePassphrase(env)
  if (passphrase === undefined) return undefined
  const {FileStore} = await import('./file-store.js')
  const source = passphraseSource(env)
  return {reason: `${reason} (passphrase from ${source?.variable})`, store: new FileStore({passphrase})}
}

/**
 * TOKENCTL_STORE picks the backend; `auto` takes the OS keychain when one answers, else the
 * encrypted file store when a passphrase is set, else fails naming both ways out (exit 7).
 */
export async function openStore(env: NodeJS.ProcessEnv = process.env): Promise<StoreChoice> {
  const mode = storeMode(env)
  if (mode === 'file') {
    const choice = await fileStore(env, 'TOKENCTL_STORE=file')
    if (choice) return choice
    throw new StoreError('TOKENCTL_STORE=file needs a passphrase', 'no_store', {
      suggestions: ['set TOKENCTL_STORE_PASSPHRASE, or TOKENCTL_STORE_PASSPHRASE_FILE to a file holding it'],
    })
  }

  const keychain = await import('./keychain-store.js')
  if (mode === 'keychain') return {reason: 'TOKENCTL_STORE=keychain', store: new keychain.KeychainStore()}
  const probe = await keychain.probeKeychain()
  if (probe.ok) return {reason: 'TOKENCTL_STORE=auto and the OS keychain answers', store: new keychain.KeychainStore({probe})}
  const choice = await fileStore(env, `TOKENCTL_STORE=auto, no keychain answers (${probe.reason}), so the encrypted file store`)
  if (choice) return choice
  throw new StoreError(`no secure store: no keychain answers (${probe.reason}) and no passphrase is set for the encrypted file store`, 'no_store', {
    suggestions: [
      'start or unlock the OS keychain, or set TOKENCTL_STORE_PASSPHRASE (or TOKENCTL_STORE_PASSPHRASE_FILE) to use the encrypted file store; --no-cache needs no store',
    ],
  })
}
