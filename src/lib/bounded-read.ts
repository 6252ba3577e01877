import {closeSync, openSync, readSync} from 'node:fs'
import {open} from 'node:fs/promises'

/**
 * The most tokenctl reads of a secret, a key, a token or a passphrase (stdin, a file, a variable). A
 * token is a few KB, an Entra token with many groups ~10 KB, a PEM key ~3 KB: anything larger is the
 * wrong input, and reading it whole (10 MB of "assertion", /dev/zero named by mistake) would cost
 * hundreds of MB on its way to a request, or never end.
 */
export const MAX_INPUT_BYTES = 64 * 1024

/** At most `limit` + 1 bytes of a file (a FIFO or /dev/stdin too): its bytes, or undefined when it holds more than `limit`. */
export async function readAtMost(file: string, limit = MAX_INPUT_BYTES): Promise<Buffer | undefined> {
  const handle = await open(file, 'r')
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
  const descriptor = openSync(file, 'r')
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

/** Strips the one line ending that `echo` or a text editor adds; a secret never ends in one. */
export function chompLineEnding(text: string): string {
  return text.replace(/\r?\n$/, '')
}
