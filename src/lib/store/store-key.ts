/**
 * The file store's key, derived once per process and shared: by the warm-up, which starts a
 * passphrase's scrypt before the command has loaded, and by every FileStore (file-store.ts). This
 * module imports little on purpose: the warm-up loads it first, and the derivation starts no later
 * than it must.
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'

import {tokenctlHome} from '../paths.js'
import {type Derive, memoisedDerive, parseEnvelope, type StoreSecret} from './envelope.js'

export const STORE_FILE = 'store.enc'

/** Derived keys by secret, then by salt and parameters. */
const derivations = new Map<string, Derive>()

export function deriveFor(secret: StoreSecret): Derive {
  const id = typeof secret === 'string' ? `passphrase:${secret}` : `key:${secret.key.toString('hex')}`
  let derive = derivations.get(id)
  if (!derive) {
    derive = memoisedDerive(secret)
    derivations.set(id, derive)
  }

  return derive
}

/**
 * Starts deriving the key of the store file, for a FileStore about to be opened: the scrypt runs on
 * libuv's thread pool while the main thread loads the command's modules. Synchronous up to the start
 * of the derivation (a read of one small file), so that nothing the caller does next comes first.
 * Reports nothing (the real read reports every failure) and creates nothing (not even TOKENCTL_HOME).
 */
export function warmUpFileStore(passphrase: string): void {
  try {
    const {params, salt, sealedWith} = parseEnvelope(readFileSync(path.join(tokenctlHome(), STORE_FILE)))
    if (sealedWith === 'passphrase') deriveFor(passphrase)(salt, params).catch(() => {})
  } catch {
    // no file yet, an unsafe home, a damaged file: the command says so when it gets there
  }
}
