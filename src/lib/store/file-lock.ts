import {randomBytes} from 'node:crypto'
import {constants, readlinkSync} from 'node:fs'
import {lstat, open, unlink, utimes} from 'node:fs/promises'
import {hostname} from 'node:os'
import {setTimeout as sleep} from 'node:timers/promises'

import {StoreError} from '../errors.js'
import {isProcessAlive} from '../process-alive.js'
import type {LockHolder, LockOptions} from './types.js'

/**
 * A cross-process exclusive lock on one file, created with O_EXCL. The holder's record (pid, host,
 * pid namespace, nonce) lets waiters break the lock of a process that died; a heartbeat on the
 * file's mtime lets them break the lock of one that hangs, after staleMs.
 */

export interface FileLockOptions extends LockOptions {
  /** A lock whose holder has not touched it for this long is broken. Default 30 s. */
  staleMs?: number
}

interface LockRecord extends LockHolder {
  nonce: string
  pidns?: string
}

const DEFAULT_WAIT_MS = 180_000
const DEFAULT_STALE_MS = 30_000
const BREAKER_STALE_MS = 5000
const MIN_POLL_MS = 5
const MAX_POLL_MS = 50

let ownPidNamespace: string | undefined

/**
 * Linux only: two containers sharing TOKENCTL_HOME see each other's pids as dead. Only an answer is
 * kept: a failed look (no /proc) is cheap to repeat, and nothing wrong is kept for the process's life.
 */
function pidNamespace(): string | undefined {
  if (ownPidNamespace === undefined) {
    try {
      ownPidNamespace = readlinkSync('/proc/self/ns/pid')
    } catch {
      return undefined
    }
  }

  return ownPidNamespace
}

interface Observed {
  /** A symbolic link: no tokenctl makes one, so it is damage or a trap, never a held lock. */
  foreign?: boolean
  identity: string
  mtimeMs: number
  record: LockRecord | undefined
}

async function observe(lockPath: string): Promise<Observed | undefined> {
  let handle
  try {
    // Never through a symbolic link: a link at the lock path (dangling or not) is judged as itself.
    handle = await open(lockPath, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (error) {
    const {code} = error as NodeJS.ErrnoException
    if (code === 'ENOENT') return undefined
    if (code === 'ELOOP') return {foreign: true, identity: 'symbolic link', mtimeMs: 0, record: undefined}
    throw new StoreError(`cannot read the lock file ${lockPath}: ${(error as Error).message}`, 'store_error', {cause: error})
  }

  try {
    const info = await handle.stat()
    const text = await handle.readFile('utf8')
    let record: LockRecord | undefined
    try {
      const parsed = JSON.parse(text) as unknown
      record = typeof parsed === 'object' && parsed !== null ? (parsed as LockRecord) : undefined
    } catch {
      record = undefined // created but not yet written, or written by a process that died right then
    }

    return {identity: record?.nonce ?? `${info.ino}:${info.size}:${info.mtimeMs}`, mtimeMs: info.mtimeMs, record}
  } catch (error) {
    throw new StoreError(`cannot read the lock file ${lockPath}: ${(error as Error).message}`, 'store_error', {cause: error})
  } finally {
    await handle.close()
  }
}

/**
 * How long the lock has gone untouched. Its mtime is the holder's heartbeat, but only a time in the
 * past is evidence: a time in the future (a shared home written by a host whose clock is ahead, or a
 * forged file) would keep a lock alive forever. So the age is never less than how long this waiter
 * has itself watched the same lock with the same mtime, by its own clock (watchedSince).
 */
function untouchedFor(seen: Observed, watchedSince: number, now: number): number {
  return Math.max(now - seen.mtimeMs, now - watchedSince)
}

interface Watched {
  identity: string
  mtimeMs: number
  /** When this waiter first saw the lock with this identity and mtime (its own clock). */
  since: number
}

function isStale(seen: Observed, staleMs: number, watchedSince: number): boolean {
  if (seen.foreign) return true
  const {record} = seen
  const sameProcessSpace = record !== undefined && typeof record.pid === 'number' && record.host === hostname() && record.pidns === pidNamespace()
  if (sameProcessSpace && !isProcessAlive(record.pid!)) return true
  return untouchedFor(seen, watchedSince, Date.now()) > staleMs
}

async function unlinkIfPresent(file: string): Promise<void> {
  try {
    await unlink(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw new StoreError(`cannot remove the lock file ${file}: ${(error as Error).message}`, 'store_error', {cause: error})
  }
}

/**
 * Removes a stale lock, but only the very one judged stale: breakers serialize on a short-lived
 * side lock and re-check the identity, so a fresh lock taken meanwhile by a live process survives.
 * Returns false when another process is breaking it right now.
 */
async function breakStaleLock(lockPath: string, judged: Observed): Promise<boolean> {
  const breakerPath = `${lockPath}.break`
  let breaker
  try {
    breaker = await open(breakerPath, 'wx', 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    const info = await lstat(breakerPath).catch(() => undefined) // a link there is judged as itself
    // A breaker lives for milliseconds: one older than that, or dated in the future, was left behind.
    if (info && Math.abs(Date.now() - info.mtimeMs) > BREAKER_STALE_MS) await unlinkIfPresent(breakerPath)
    return false
  }

  try {
    const now = await observe(lockPath)
    if (now && now.identity === judged.identity) await unlinkIfPresent(lockPath)
    return true
  } finally {
    await breaker.close()
    await unlinkIfPresent(breakerPath)
  }
}

export type ReleaseLock = () => Promise<void>

function lockTimeout(lockPath: string, waitMs: number, seen?: Observed): StoreError {
  const who = seen?.record?.pid ? `, held by process ${seen.record.pid} on ${seen.record.host}` : ''
  return new StoreError(`timed out after ${Math.round(waitMs / 1000)} s waiting for the lock ${lockPath}${who}`, 'store_lock_timeout', {
    suggestions: ['another tokenctl is still working on the same entry; try again later'],
  })
}

export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<ReleaseLock> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS
  const deadline = Date.now() + waitMs
  let pollMs = MIN_POLL_MS
  let waiting = false
  let watched: Watched | undefined

  for (;;) {
    const nonce = await tryCreate(lockPath)
    if (nonce) return holdLock(lockPath, nonce, staleMs)
    const seen = await observe(lockPath)
    if (seen === undefined) {
      if (Date.now() < deadline) continue // released between our attempt and our look
      throw lockTimeout(lockPath, waitMs)
    }

    if (watched === undefined || watched.identity !== seen.identity || watched.mtimeMs !== seen.mtimeMs) watched = {identity: seen.identity, mtimeMs: seen.mtimeMs, since: Date.now()}
    if (isStale(seen, staleMs, watched.since) && (await breakStaleLock(lockPath, seen))) continue

    if (!waiting) {
      waiting = true
      options.onWait?.(seen.record && {acquiredAt: seen.record.acquiredAt, host: seen.record.host, pid: seen.record.pid})
    }

    if (Date.now() >= deadline) throw lockTimeout(lockPath, waitMs, seen)

    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())))
    pollMs = Math.min(pollMs * 2, MAX_POLL_MS)
  }
}

/** Creates the lock file with our record; undefined when someone else holds it. */
async function tryCreate(lockPath: string): Promise<string | undefined> {
  let handle
  try {
    handle = await open(lockPath, 'wx', 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined
    throw new StoreError(`cannot create the lock file ${lockPath}: ${(error as Error).message}`, 'store_error', {cause: error})
  }

  const record: LockRecord = {
    acquiredAt: new Date().toISOString(),
    host: hostname(),
    nonce: randomBytes(16).toString('hex'),
    pid: process.pid,
    pidns: pidNamespace(),
  }
  try {
    await handle.writeFile(JSON.stringify(record))
  } catch (error) {
    // An empty lock file could only be judged by its age: never leave one behind.
    await handle.close().catch(() => {})
    await unlink(lockPath).catch(() => {})
    throw new StoreError(`cannot write the lock file ${lockPath}: ${(error as Error).message}`, 'store_error', {cause: error})
  }

  await handle.close()
  return record.nonce
}

function holdLock(lockPath: string, nonce: string, staleMs: number): ReleaseLock {
  const heartbeat = setInterval(
    () => {
      const now = new Date()
      utimes(lockPath, now, now).catch(() => {})
    },
    Math.max(1000, Math.floor(staleMs / 3)),
  )
  heartbeat.unref()

  let released = false
  return async () => {
    if (released) return
    released = true
    clearInterval(heartbeat)
    const seen = await observe(lockPath).catch(() => undefined)
    // If we were judged dead (suspended past staleMs), the file now belongs to someone else.
    if (seen?.record?.nonce === nonce) await unlink(lockPath).catch(() => {})
  }
}

export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, options?: FileLockOptions): Promise<T> {
  const release = await acquireFileLock(lockPath, options)
  try {
    return await fn()
  } finally {
    await release()
  }
}
