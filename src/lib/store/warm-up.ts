import {resolvePassphrase} from './passphrase.js'
import {storeMode} from './index.js'

/**
 * Starts the slow part of opening the secure store ahead of time, for a command about to read it (the
 * fast path of bin/run.js calls it before loading the command's modules): the file store's scrypt
 * derivation on libuv's thread pool; the keychain's D-Bus probe and its native module. Reports
 * nothing and decides nothing: openStore() still chooses the store and reports every failure, and
 * finds the work done or under way.
 */
export async function warmUpStore(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    const mode = storeMode(env)
    if (mode === 'redis') return
    if (mode !== 'file') {
      const keychain = await import('./keychain-store.js')
      // With no session bus at all, `auto` will take the file store (if it has a passphrase).
      if (keychain.warmUpKeychain() || mode === 'keychain') return
    }

    const passphrase = resolvePassphrase(env)
    if (passphrase === undefined) return
    const {warmUpFileStore} = await import('./file-store.js')
    warmUpFileStore(passphrase)
  } catch {
    // the real open reports it
  }
}
