import type {SecretStore} from '../../src/lib/store/types.js'

/**
 * Takes `name`'s lock and keeps it, as another process would: resolves once the lock is held (never
 * after a guessed delay, which a loaded machine outlasts), with the function that lets it go.
 */
export async function holdLock(locker: Pick<SecretStore, 'withLock'>, name: string): Promise<() => Promise<void>> {
  let held!: () => void
  let release!: () => void
  const acquired = new Promise<void>((resolve) => (held = resolve))
  const holding = locker.withLock(name, () => {
    held()
    return new Promise<void>((resolve) => (release = resolve))
  })
  await Promise.race([acquired, holding])
  return async () => {
    release()
    await holding
  }
}
