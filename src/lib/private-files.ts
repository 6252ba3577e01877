/**
 * Files under TOKENCTL_HOME: written whole or not at all, 0600 whatever the umask, never through a
 * symbolic link; and the home itself refused when other users could change what tokenctl reads.
 */
import {randomBytes} from 'node:crypto'
import {fstatSync, type Stats, statSync} from 'node:fs'
import {open, readdir, rename, stat, unlink} from 'node:fs/promises'
import path from 'node:path'

import {ConfigError} from './errors.js'
import {isProcessAlive} from './process-alive.js'

/** `<file>.<pid>.<random hex>.tmp`: the writer's pid tells whether it is still running. */
export function temporaryPath(file: string): string {
  return `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
}

export interface WriteOptions {
  /** fsync the file before the rename and the directory after it (the store: even a power cut loses nothing). */
  durable?: boolean
}

/**
 * Writes a temporary file next to FILE (created exclusively, so a link planted at its name is never
 * followed; chmod 0600 whatever the umask), then renames it over FILE. A symbolic link at FILE is
 * replaced by the file, its target is never written. Stale temporary files that killed writers left
 * in the same folder are removed first.
 */
export async function writePrivateFile(file: string, data: Buffer | string, options: WriteOptions = {}): Promise<void> {
  const directory = path.dirname(file)
  await removeStaleTemporaries(directory)
  const temp = temporaryPath(file)
  try {
    const handle = await open(temp, 'wx', 0o600)
    try {
      await handle.chmod(0o600)
      await handle.writeFile(data)
      if (options.durable) await handle.sync()
    } finally {
      await handle.close()
    }

    await rename(temp, file)
  } catch (error) {
    await unlink(temp).catch(() => {})
    throw error
  }

  if (options.durable) await syncDirectory(directory)
}

async function syncDirectory(directory: string): Promise<void> {
  if (process.platform === 'win32') return // directories cannot be opened for fsync there; rename is durable enough
  const handle = await open(directory, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** A temporary file of ours: `<name>.<pid>.<hex>.tmp` (temporaryPath). */
const TEMPORARY = /^.+?\.(\d+)\.[\da-f]{8,}\.tmp$/

/** A write takes milliseconds: a temporary file this old whose writer is gone was abandoned. */
const ABANDONED_AFTER_MS = 30_000
/** Whatever the pid says (another host sharing the home, a reused pid): this old, it was abandoned. */
const ABANDONED_ANYWAY_AFTER_MS = 60 * 60 * 1000

/**
 * Temporary files are encrypted copies of secrets that were later removed: one a killed writer left
 * behind must not stay forever. A time in the future (clock skew) is not taken as "just written".
 */
export function isAbandonedTemporary(name: string, mtimeMs: number, now = Date.now()): boolean {
  const match = TEMPORARY.exec(name)
  if (!match) return false
  const age = Math.abs(now - mtimeMs)
  if (age > ABANDONED_ANYWAY_AFTER_MS) return true
  const pid = Number(match[1])
  if (pid === process.pid) return false
  return age > ABANDONED_AFTER_MS && !isProcessAlive(pid)
}

/** Best effort: a folder we cannot list or a file we cannot remove changes nothing for the write. */
export async function removeStaleTemporaries(directory: string): Promise<void> {
  let names: string[]
  try {
    names = (await readdir(directory)).filter((name) => TEMPORARY.test(name))
  } catch {
    return
  }

  await Promise.all(
    names.map(async (name) => {
      const file = path.join(directory, name)
      try {
        const info = await stat(file)
        if (info.isFile() && isAbandonedTemporary(name, info.mtimeMs)) await unlink(file)
      } catch {
        // removed by another process meanwhile, or not removable: left for the next sweep
      }
    }),
  )
}

/** `chmod 700 'PATH'`, quoted for a POSIX shell when it needs to be. */
function chmodAdvice(mode: string, file: string): string {
  const quoted = /^[\w./@%+=:,-]+$/.test(file) ? file : `'${file.replaceAll("'", `'\\''`)}'`
  return `chmod ${mode} ${quoted}`
}

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0')

/**
 * As ssh refuses a key file others can write: a home or config.json that another user can change
 * (group or other write permission, or owned by someone else) could point a client at their server
 * and collect its secret on the next run. Refused with exit 3 and the command that fixes it.
 */
export function assertPrivate(info: Stats, file: string, what: string, fixMode: '600' | '700'): void {
  if (process.platform === 'win32') return
  const uid = process.getuid?.()
  if (uid !== undefined && info.uid !== uid && info.uid !== 0) {
    throw new ConfigError(`${what} ${file} belongs to another user (uid ${info.uid}): refusing to use it, that user could change tokenctl's clients`, 'unsafe_permissions', {
      suggestions: [`use a TOKENCTL_HOME of your own, or take it over: chown ${uid} ${file} && ${chmodAdvice(fixMode, file)}`],
    })
  }

  if ((info.mode & 0o022) !== 0) {
    throw new ConfigError(`${what} ${file} is writable by other users (mode ${octal(info.mode)}): refusing to use it, they could change tokenctl's clients`, 'unsafe_permissions', {
      suggestions: [`run: ${chmodAdvice(fixMode, file)}`],
    })
  }
}

const checkedHomes = new Set<string>()

/** Checks an existing TOKENCTL_HOME once per process; a missing one is created 0700 when first needed. */
export function assertPrivateHome(home: string): void {
  if (checkedHomes.has(home)) return
  let info: Stats
  try {
    info = statSync(home)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw new ConfigError(`cannot use TOKENCTL_HOME ${home}: ${(error as Error).message}`)
  }

  if (!info.isDirectory()) throw new ConfigError(`TOKENCTL_HOME ${home} is not a directory`)
  assertPrivate(info, home, 'TOKENCTL_HOME', '700')
  checkedHomes.add(home)
}

/** The same check on an open file, so the file judged is the file read. */
export function assertPrivateDescriptor(fd: number, file: string, what: string): void {
  assertPrivate(fstatSync(fd), file, what, '600')
}
