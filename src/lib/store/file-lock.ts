import {randomBytes} from 'node:crypto'
import {readlinkSync} from 'node:fs'
import {open, readFile, stat, unlink, utimes} from 'node:fs/promises'
import {hostname} from 'node:os'
import {setTimeout as sleep} from 'node:timers/promises'

import {StoreError} from '../errors.js'
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

let ownPidNamespace: null | string | undefined

/** Linux only: two containers sharing TOKENCTL_HOME see each other's pids as dead. */
function pidNamespace(): string | undefined {
  if (ownPidNamespace === undefined) {
    try {
      ownPidNamespace = readlinkSync('/proc/self/ns/pid')
    } catch {
      ownPidNamespace = null
    }
  }

  return ownPidNamespace ?? undefined
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

interface Observed {
  identity: string
  mtimeMs: number
  record: LockRecord | undefined
}

async function observe(lockPath: string): Promise<Observed | undefined> {
  try {
    const [info, text] = await Promise.all([stat(lockPath), readFile(lockPath, 'utf8')])
    let record: LockRecord | undefined
    try {
      record = JSON.parse(text) as LockRecord
    } catch {
      record = undefined // created but not yet written, or written by a process that died right then
    }

    return {identity: record?.nonce ?? `${info.ino}:${info.size}:${info.mtimeMs}`, mtimeMs: info.mtimeMs, record}
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function isStale(seen: Observed, staleMs: number): boolean {
  const {record} = seen
  const sameProcessSpace =
    record !== undefined &&
    typeof record.pid === 'number' &&
    record.host === hostname() &&
    record.pidns === pidNamespace()
  if (sameProcessSpace && !isProcessAlive(record.pid!)) return true
  return Date.now() - seen.mtimeMs > staleMs
}

/**
 * Removes a stale lock, but only the very one judged stale: breakers serialize on a short-lived
 * side lock and re-check the identity, so a fresh lock taken meanwhile by a live process survives.
 */
async function breakStaleLock(lockPath: string, judged: Observed): Promise<void> {
  const breakerPath = `${lockPath}.break`
  let breaker
  try {
    breaker = await open(breakerPath, 'wx', 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    const info = await stat(breakerPath).catch(() => undefined)
    if (info && Date.now() - info.mtimeMs > BREAKER_STALE_MS) await unlink(breakerPath).catch(() => {})
    return
  }

  try {
    const now = await observe(lockPath)
    if (now && now.identity === judged.identity) await unlink(lockPath).catch(() => {})
  } finally {
    await breaker.close()
    await unlink(breakerPath).catch(() => {})
  }
}

export type ReleaseLock = () => Promise<void>

export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<ReleaseLock> {
  const waitMs = options.waitMs ?? DEFAULT_WAIT_MS
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS
  const deadline = Date.now() + waitMs
  const record: LockRecord = {
    acquiredAt: new Date().toISOString(),
    host: hostname(),
    nonce: randomBytes(16).toString('hex'),
    pid: process.pid,
    pidns: pidNamespace(),
  }
  let pollMs = MIN_POLL_MS
  let waiting = false

  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', 0o600)
      try {
        await handle.writeFile(JSON.stringify(record))
      } finally {
        await handle.close()
      }

      return holdLock(lockPath, record.nonce, staleMs)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'EEXIST') {
        throw new StoreError(`cannot create the lock file ${lockPath}: ${(error as Error).message}`, 'store_error', {cause: error})
      }
    }

    const seen = await observe(lockPath)
    if (seen === undefined) continue // released between our attempt and our look
    if (isStale(seen, staleMs)) {
      await breakStaleLock(lockPath, seen)
      continue
    }

    if (!waiting) {
      waiting = true
      options.onWait?.(seen.record && {acquiredAt: seen.record.acquiredAt, host: seen.record.host, pid: seen.record.pid})
    }

    if (Date.now() >= deadline) {
      const who = seen.record?.pid ? ` (held by process ${seen.record.pid} on ${seen.record.host})` : ''
      throw new StoreError(`timed out after ${Math.round(waitMs / 1000)} s waiting for a lock${who}`, 'store_lock_timeout', {
        suggestions: ['another tokenctl is still working on the same entry; try again later'],
      })
    }

    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())))
    pollMs = Math.min(pollMs * 2, MAX_POLL_MS)
  }
}

function holdLock(lockPath: string, nonce: string, staleMs: number): ReleaseLock {
  const heartbeat = setInterval(() => {
    const now = new Date()
    utimes(lockPath, now, now).catch(() => {})
  }, Math.max(1000, Math.floor(staleMs / 3)))
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
