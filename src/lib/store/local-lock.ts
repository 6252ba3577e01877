import {createHash} from 'node:crypto'

import {homePath} from '../paths.js'
import {type FileLockOptions, withFileLock} from './file-lock.js'

/** Lock files of the local backends live under TOKENCTL_HOME/locks, named by a hash of the entry. */
export function localLockPath(name: string): string {
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 40)
  return homePath('locks', `${digest}.lock`)
}

export function withLocalLock<T>(name: string, fn: () => Promise<T>, options?: FileLockOptions): Promise<T> {
  return withFileLock(localLockPath(name), fn, options)
}
