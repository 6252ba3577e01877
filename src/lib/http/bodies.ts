/**
 * How much of an answer is read. What a server sends is untrusted: a token response, a metadata
 * document or a key set many times larger than any real one is the wrong thing, not something to
 * hold, so every answer to a token or document request is cut off at the policy's bound (./policy.ts)
 * — whoever reads it: openid-client reads token responses and metadata itself, through our fetch.
 * An API's answer (`call`) is never held: it streams to the user.
 */
import {tooLarge} from './failure.js'

/**
 * The response, its body held to `limit` bytes: an announced Content-Length beyond it is refused at
 * once, a body that grows beyond it fails its reader (with tooLarge, the error the command reports)
 * and the rest is never downloaded.
 */
export function limitBody(response: Response, limit: number, what: string): Response {
  // No Response can be made with a status outside 200–599 (a server's nonsense): that one is passed on as it came.
  if (!response.body || response.status < 200 || response.status > 599) return response
  if (Number(response.headers.get('content-length') ?? 0) > limit) {
    response.body.cancel().catch(() => {})
    throw tooLarge(what, limit)
  }

  let size = 0
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        size += chunk.byteLength
        if (size > limit) controller.error(tooLarge(what, limit))
        else controller.enqueue(chunk)
      },
    }),
  )
  return new Response(body, {headers: response.headers, status: response.status, statusText: response.statusText})
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
