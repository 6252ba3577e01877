import {warmUpFileStore} from './file-store.js'
import {storeMode} from './index.js'
import {warmUpKeychain} from './keychain-store.js'
import {resolvePassphrase} from './passphrase.js'

/**
 * Starts the slow part of opening the secure store ahead of time, for a command about to read it (the
 * fast path of bin/run.js calls it before loading the command's modules): the file store's scrypt
 * derivation on libuv's thread pool; the keychain's D-Bus probe and its native module. Synchronous up
 * to the point where the slow part runs on its own. Reports nothing and decides nothing: openStore()
 * still chooses the store and reports every failure, and finds the work done or under way.
 */
export function warmUpStore(env: NodeJS.ProcessEnv = process.env): void {
  try {
    const mode = storeMode(env)
    if (mode === 'redis') return
    // With no session bus at all, `auto` will take the file store (if it has a passphrase).
    if (mode !== 'file' && (warmUpKeychain() || mode === 'keychain')) return
    const passphrase = resolvePassphrase(env)
    if (passphrase !== undefined) warmUpFileStore(passphrase)
  } catch {
    // the real open reports it
  }
}
