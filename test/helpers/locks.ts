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

/**
 * Adds one to the number stored under `name`, a read-modify-write under the entry's lock as the token
 * cache and sessions do theirs (withLock around get and set): concurrent increments that lose none
 * prove the lock serialises them. Answers the value written.
 */
export function incremented(store: Pick<SecretStore, 'get' | 'set' | 'withLock'>, name: string): Promise<string> {
  return store.withLock(name, async () => {
    const next = String(Number((await store.get(name)) ?? '0') + 1)
    await store.set(name, next)
    return next
  })
}
