/**
 * How much of an answer is read. What a server sends is untrusted: a token response, a metadata
 * document or a key set many times larger than any real one is the wrong thing, not something to
 * hold, so every answer to a token or document request is cut off at the policy's bound (./policy.ts)
 * — whoever reads it: openid-client reads token responses and metadata itself, through our fetch.
 * An API's answer (`call`) is never held: it streams to the user.
 */
import {Answer} from './answer.js'
import {classify, tooLarge} from './failure.js'

/** A connection that closed before the answer's last byte, as fetch reports a failure: retried as a cut connection (./failure.ts). */
export function cutShort(): TypeError {
  return new TypeError('fetch failed', {cause: Object.assign(new Error('the connection closed in the middle of the answer'), {code: 'ECONNRESET'})})
}

/**
 * A body that could not be read whole: a connection that went away (undici's "terminated", its cause
 * "other side closed"; node:http's "aborted") is cutShort() whoever read it; anything else, as it came.
 */
export function bodyFailure(error: Error): Error {
  let cause: unknown = error
  for (let depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    if (classify(String((cause as NodeJS.ErrnoException).code), cause.message) === 'connection cut') return cutShort()
  }

  return error
}

/**
 * The answer read whole and held to `limit` bytes, as the request straight over node:http(s) reads
 * it (./direct.ts): an announced Content-Length beyond the bound is refused before any byte is read,
 * a body that grows beyond it is refused at the first byte too many (the rest is never downloaded),
 * and a connection that closes in the middle of the answer fails the request itself (retried as any
 * cut connection), not, later, the reader of a truncated body. Either way, the same failures in the
 * same words.
 */
export async function readBounded(response: Response, limit: number, what: string): Promise<Response> {
  const headers = [...response.headers]
  const answer = (bytes: Buffer) => new Answer(bytes, {headers, status: response.status, statusText: response.statusText}) as unknown as Response
  if (!response.body) return answer(Buffer.alloc(0))
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  if (Number(response.headers.get('content-length') ?? 0) > limit) {
    reader.cancel().catch(() => {})
    throw tooLarge(what, limit)
  }

  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    let read: Awaited<ReturnType<typeof reader.read>>
    try {
      read = await reader.read()
    } catch (error) {
      throw bodyFailure(error as Error)
    }

    if (read.done) return answer(Buffer.concat(chunks))
    size += read.value.byteLength
    if (size > limit) {
      reader.cancel().catch(() => {})
      throw tooLarge(what, limit)
    }

    chunks.push(read.value)
  }
}

/** The first `bytes` of a body, as text, to quote what an error page said; the rest is never downloaded. */
export async function bodyStart(response: Response, bytes: number): Promise<string> {
  if (!response.body) return ''
  // A body is bytes (the Fetch standard); Node's declarations leave its chunks untyped.
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < bytes) {
      const {done, value} = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
    }
  } catch {
    // a body cut short still says enough
  } finally {
    reader.cancel().catch(() => {})
  }

  return Buffer.concat(chunks).subarray(0, bytes).toString('utf8')
}
