import {isTokenctlError, messageOf} from '../errors.js'
import {openStore} from './index.js'

export interface StoreStatus {
  backend: string
  error?: string
  error_code?: string
  location: string
  ok: boolean
  reason: string
  /** What an encrypted store (file, Redis) is sealed with, `key` or `passphrase`: never the secret. */
  sealed_with?: string
}

/** The chosen store and a live check of it; a store that cannot even be chosen is an error (exit 7). */
export async function storeStatus(env: NodeJS.ProcessEnv = process.env): Promise<StoreStatus> {
  const {reason, sealedWith, store} = await openStore(env)
  const status: StoreStatus = {backend: store.backend, location: store.location, ok: true, reason}
  if (sealedWith) status.sealed_with = sealedWith
  try {
    await store.check()
  } catch (error) {
    status.ok = false
    status.error = messageOf(error)
    if (isTokenctlError(error)) status.error_code = error.code
  }

  return status
}
