import {isTokenctlError, messageOf} from '../errors.js'
import {openStore} from './index.js'

export interface StoreStatus {
  backend: string
  error?: string
  error_code?: string
  location: string
  ok: boolean
  reason: string
}

/** The chosen store and a live check of it; a store that cannot even be chosen is an error (exit 7). */
export async function storeStatus(env: NodeJS.ProcessEnv = process.env): Promise<StoreStatus> {
  const {reason, store} = await openStore(env)
  const status: StoreStatus = {backend: store.backend, location: store.location, ok: true, reason}
  try {
    await store.check()
  } catch (error) {
    status.ok = false
    status.error = messageOf(error)
    if (isTokenctlError(error)) status.error_code = error.code
  }

  // What the check reached (Redis: the master Sentinel named, a Cluster's masters) is part of where it lives.
  status.location = store.location
  return status
}
