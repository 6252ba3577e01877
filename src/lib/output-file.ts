/**
 * `--output PATH` / `-o PATH`: what would go to stdout, written to a temporary file (0600) in PATH's
 * folder and renamed over PATH only when the command succeeds. A failure, a crash or Ctrl-C leaves
 * PATH exactly as it was — never empty, never half-written — which `> PATH` in a shell cannot promise
 * (the shell truncates PATH before the command even starts).
 *
 * The temporary file is created when the command starts, before any request: a folder that does not
 * exist or cannot be written fails at once, before a user signs in or an assertion is spent.
 */
import {randomBytes} from 'node:crypto'
import {createWriteStream, fchmod, unlinkSync, type WriteStream} from 'node:fs'
import {rename, stat, unlink} from 'node:fs/promises'
import path from 'node:path'
import {promisify} from 'node:util'

import {ConfigError, messageOf} from './errors.js'

/** Temporary files not yet committed or aborted: removed on exit and on SIGINT/SIGTERM. */
const pending = new Set<string>()

function removePendingSync(): void {
  for (const file of pending) {
    try {
      unlinkSync(file)
    } catch {
      // already gone, or not ours to remove: the exit goes on either way
    }
  }

  pending.clear()
}

/** Removes the temporary files, then lets the signal do what it would have done without us. */
function onSignal(signal: NodeJS.Signals): void {
  removePendingSync()
  // Someone else listens (token user turns Ctrl-C into exit 130): they decide. Else the default: die of it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}

function track(file: string): void {
  if (pending.size === 0) {
    process.once('exit', removePendingSync)
    // First in line: a once-listener of the command's that ran before ours would be gone by then,
    // and onSignal would take the command for one that does not listen.
    process.prependOnceListener('SIGINT', onSignal)
    process.prependOnceListener('SIGTERM', onSignal)
  }

  pending.add(file)
}

function untrack(file: string): void {
  pending.delete(file)
  if (pending.size === 0) {
    process.off('exit', removePendingSync)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

function outputError(target: string, what: string, error: unknown): ConfigError {
  const code = (error as NodeJS.ErrnoException)?.code
  const reason = code === 'ENOENT' ? 'no such folder' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : messageOf(error)
  return new ConfigError(`cannot ${what} --output ${target}: ${reason}`, 'output_error', {
    cause: error,
    suggestions: [`${path.basename(target)} was left as it was; give a path in a folder that exists and that you can write`],
  })
}

export class OutputFile {
  private done = false

  private constructor(
    /** The path the user gave. */
    readonly target: string,
    private readonly temp: string,
    /** Where the command writes; nothing reaches `target` before `commit()`. */
    readonly stream: WriteStream,
  ) {}

  /** Creates the temporary file beside `target` (0600 whatever the umask, never an existing file). */
  static async open(target: string): Promise<OutputFile> {
    const existing = await stat(target).catch(() => undefined)
    if (existing?.isDirectory()) throw outputError(target, 'write', new Error('it is a folder'))
    const temp = path.join(path.dirname(target), `.${path.basename(target)}.tokenctl-${randomBytes(6).toString('hex')}.tmp`)
    // flush: the data reaches the disk before the file is closed, so the rename never publishes an empty file.
    const stream = createWriteStream(temp, {flags: 'wx', flush: true, mode: 0o600})
    let created = false
    try {
      const fd = await new Promise<number>((resolve, reject) => {
        stream.once('open', resolve)
        stream.once('error', reject)
      })
      created = true
      track(temp)
      await promisify(fchmod)(fd, 0o600)
    } catch (error) {
      stream.destroy()
      if (created) await unlink(temp).catch(() => {})
      untrack(temp)
      throw outputError(target, 'write', error)
    }

    return new OutputFile(target, temp, stream)
  }

  /** Everything written reaches the disk, then replaces `target` in one rename. */
  async commit(): Promise<void> {
    if (this.done) return
    this.done = true
    try {
      await new Promise<void>((resolve, reject) => {
        if (this.stream.closed) {
          reject(new Error('the output was cut off'))
          return
        }

        this.stream.once('error', reject)
        this.stream.once('close', () => resolve())
        this.stream.end()
      })
      await rename(this.temp, this.target)
      untrack(this.temp)
    } catch (error) {
      await this.discard()
      throw outputError(this.target, 'write', error)
    }
  }

  /** Forgets what was written: `target` stays as it was. */
  async abort(): Promise<void> {
    if (this.done) return
    this.done = true
    await this.discard()
  }

  private async discard(): Promise<void> {
    this.stream.destroy()
    await unlink(this.temp).catch(() => {})
    untrack(this.temp)
  }
}
