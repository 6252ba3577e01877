/**
 * The secure store: where every secret tokenctl keeps lives (client secrets, cached tokens,
 * session refresh tokens). Callers only ever see this interface; the backend is chosen once by
 * openStore(). Locking is part of the interface so that a backend shared by several machines (a
 * remote store) can make a read-modify-write (withLock around get and set) hold across machines.
 */

export type StoreBackendName = 'file' | 'keychain' | 'redis'

export interface LockOptions {
  /** Called once if the lock is held by someone else and we start waiting for it. */
  onWait?: (holder: LockHolder | undefined) => void
  /** Give up (StoreError store_lock_timeout) after this long. Default 180 s. */
  waitMs?: number
}

/** Who holds a lock, as far as the backend can tell (for messages only). */
export interface LockHolder {
  acquiredAt?: string
  host?: string
  pid?: number
}

/**
 * What a writer may say about an entry besides its value. The store knows nothing of what an entry
 * holds; a lifetime is all it needs to drop what nobody can use any more, so that what a run costs
 * (reading, decrypting, re-sealing the store) does not grow with what expired before it.
 */
export interface EntryOptions {
  /**
   * Epoch milliseconds after which the entry is worth nothing (a cached token): the store removes it
   * once that time has passed, as later entries are written. An entry written without one is kept
   * until it is deleted (a session, a client secret). A name is written always with a lifetime or
   * always without: the keychain keeps lifetimes apart from the entries, and a write without one
   * does not look there (it would cost every such write a keychain read).
   */
  expiresAt?: number
}

export interface SecretStore {
  readonly backend: StoreBackendName
  /** Human-readable location: a file path, the keychain service name, or the Redis server (never its password). */
  readonly location: string

  /** Throws StoreError when the backend does not answer now; used by `store status`. */
  check(): Promise<void>
  delete(name: string): Promise<boolean>
  get(name: string): Promise<string | undefined>
  /** Names of the entries that start with prefix. */
  list(prefix: string): Promise<string[]>
  set(name: string, value: string, options?: EntryOptions): Promise<void>
  /** Runs fn while holding an exclusive lock on name, shared by every process using this store. */
  withLock<T>(name: string, fn: () => Promise<T>, options?: LockOptions): Promise<T>
}
