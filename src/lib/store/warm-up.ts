import {storeMode} from './index.js'
import {warmUpFileStore} from './store-key.js'
import {resolveStoreSecret} from './store-secret.js'

/**
 * Starts the slow part of opening the secure store ahead of time, for a command about to read it (the
 * fast path of bin/run.js calls it before loading the command's modules): the file store's scrypt
 * derivation (a passphrase's; a key needs none) on libuv's thread pool; the keychain's D-Bus probe
 * and its native module. Synchronous up to the point where the slow part runs on its own (the
 * keychain's module is loaded after). Reports nothing and decides nothing: openStore() still
 * chooses the store and reports every failure, and finds the work done or under way.
 */
export async function warmUpStore(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    const mode = storeMode(env)
    if (mode === 'redis') return
    if (mode === 'file') {
      warmUpPassphraseStore(env)
      return
    }

    const {warmUpKeychain} = await import('./keychain-store.js')
    // With no session bus at all, `auto` will take the file store (if it has a passphrase).
    if (!warmUpKeychain() && mode === 'auto') warmUpPassphraseStore(env)
  } catch {
    // the real open reports it
  }
}

function warmUpPassphraseStore(env: NodeJS.ProcessEnv): void {
  const secret = resolveStoreSecret(env)
  if (typeof secret === 'string') warmUpFileStore(secret)
}
