import {createHash} from 'node:crypto'

import {homePath} from '../paths.js'
import {type FileLockOptions, withFileLock} from './file-lock.js'
import type {SecretStore} from './types.js'

/** Lock files of the local backends live under TOKENCTL_HOME/locks, named by a hash of the entry. */
export function localLockPath(name: string): string {
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 40)
  return homePath('locks', `${digest}.lock`)
}

export function withLocalLock<T>(name: string, fn: () => Promise<T>, options?: FileLockOptions): Promise<T> {
  return withFileLock(localLockPath(name), fn, options)
}

/** SecretStore.update for backends whose get/set are not atomic by themselves. */
export function updateUnderLock(
  store: Pick<SecretStore, 'delete' | 'get' | 'set' | 'withLock'>,
  name: string,
  fn: (current: string | undefined) => Promise<string | undefined> | string | undefined,
): Promise<string | undefined> {
  return store.withLock(name, async () => {
    const next = await fn(await store.get(name))
    if (next === undefined) await store.delete(name)
    else await store.set(name, next)
    return next
  })
}
