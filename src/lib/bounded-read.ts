import {closeSync, constants, fstatSync, openSync, readFileSync, readSync, type Stats} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'
import {isatty} from 'node:tty'

/**
 * The most tokenctl reads of a secret, a key, a token or a passphrase (stdin, a file, a variable). A
 * token is a few KB, an Entra token with many groups ~10 KB, a PEM key ~3 KB: anything larger is the
 * wrong input, and reading it whole (10 MB of "assertion", /dev/zero named by mistake) would cost
 * hundreds of MB on its way to a request, or never end.
 */
export const MAX_INPUT_BYTES = 64 * 1024

/**
 * A file input that is not a regular file once links are followed: a FIFO (`mkfifo`, `<(…)`), a
 * terminal or another device, a socket, a directory. Reading one waits for whoever writes to it,
 * for ever when nobody does, and --timeout bounds requests, not reading a file: so it is refused
 * before anything is read (README, "Security").
 */
export class NotRegularFileError extends Error {
  constructor(what: string) {
    super(`it is ${what}, not a regular file`)
    this.name = 'NotRegularFileError'
  }
}

function kindOf(stats: Stats, descriptor: number): string {
  if (stats.isFIFO()) return 'a FIFO or a pipe'
  if (stats.isDirectory()) return 'a directory'
  if (stats.isSocket()) return 'a socket'
  return isatty(descriptor) ? 'a terminal' : 'a device'
}

/** Read-only, without waiting: opening a FIFO otherwise blocks until a writer opens it (regular files ignore O_NONBLOCK). */
const READ_NOW = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)

function assertRegular(stats: Stats, descriptor: number): void {
  if (!stats.isFile()) throw new NotRegularFileError(kindOf(stats, descriptor))
}

async function openRegular(file: string): Promise<FileHandle> {
  const handle = await open(file, READ_NOW)
  try {
    assertRegular(await handle.stat(), handle.fd)
    return handle
  } catch (error) {
    await handle.close()
    throw error
  }
}

function openRegularSync(file: string): number {
  const descriptor = openSync(file, READ_NOW)
  try {
    assertRegular(fstatSync(descriptor), descriptor)
    return descriptor
  } catch (error) {
    closeSync(descriptor)
    throw error
  }
}

/** At most `limit` + 1 bytes of a regular file: its bytes, or undefined when it holds more than `limit`. */
export async function readAtMost(file: string, limit = MAX_INPUT_BYTES): Promise<Buffer | undefined> {
  const handle = await openRegular(file)
  try {
    const buffer = Buffer.alloc(limit + 1)
    let length = 0
    while (length < buffer.length) {
      const {bytesRead} = await handle.read(buffer, length, buffer.length - length, null)
      if (bytesRead === 0) break
      length += bytesRead
    }

    return length > limit ? undefined : buffer.subarray(0, length)
  } finally {
    await handle.close()
  }
}

/** readAtMost, for the callers that must stay synchronous (the store passphrase, read before any await). */
export function readAtMostSync(file: string, limit = MAX_INPUT_BYTES): Buffer | undefined {
  const descriptor = openRegularSync(file)
  try {
    const buffer = Buffer.alloc(limit + 1)
    let length = 0
    while (length < buffer.length) {
      const bytesRead = readSync(descriptor, buffer, length, buffer.length - length, null)
      if (bytesRead === 0) break
      length += bytesRead
    }

    return length > limit ? undefined : buffer.subarray(0, length)
  } finally {
    closeSync(descriptor)
  }
}

/** The whole of a regular file, unbounded (a CA bundle holds hundreds of certificates), for synchronous callers. */
export function readRegularFileSync(file: string): Buffer {
  const descriptor = openRegularSync(file)
  try {
    return readFileSync(descriptor)
  } finally {
    closeSync(descriptor)
  }
}

/**
 * At most `limit` bytes of a stream (stdin, a request or response body): its bytes, or undefined when
 * it holds more than `limit`. The rest is never read: leaving the loop destroys a Node stream and
 * cancels a web one.
 */
export async function readStreamAtMost(stream: AsyncIterable<Uint8Array | string>, limit = MAX_INPUT_BYTES): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    size += bytes.length
    if (size > limit) return undefined
    chunks.push(bytes)
  }

  return Buffer.concat(chunks)
}

/**
 * Why a file could not be opened, in words a message can end with — not Node's
 * `ENOENT: no such file or directory, open '…'`, which names the path a second time in its own jargon.
 */
export function unreadableReason(error: unknown): string {
  if (error instanceof NotRegularFileError) return error.message
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case 'EACCES':
    case 'EPERM': {
      return 'permission denied: this user may not read it'
    }

    case 'EISDIR': {
      return 'it is a directory, not a regular file'
    }

    case 'ELOOP': {
      return 'its symbolic links go round in a loop'
    }

    case 'ENOENT': {
      return 'there is no such file'
    }

    case 'ENOTDIR': {
      return 'a part of its path is a file, not a folder'
    }

    default: {
      return error instanceof Error ? error.message : String(error)
    }
  }
}

/** Strips the one line ending that `echo` or a text editor adds; a secret never ends in one. */
export function chompLineEnding(text: string): string {
  return text.replace(/\r?\n$/, '')
}
