/**
 * A response body read up to a bound and no further: what a server sends is untrusted, and a key set
 * or a token answer many times larger than any real one is the wrong thing, not something to hold.
 */
export async function boundedText(response: Response, limit: number, tooLarge: () => Error): Promise<string> {
  if (Number(response.headers.get('content-length') ?? 0) > limit) throw tooLarge()
  if (!response.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body) {
    size += chunk.byteLength
    if (size > limit) throw tooLarge()
    chunks.push(chunk)
  }

  return Buffer.concat(chunks).toString('utf8')
}
