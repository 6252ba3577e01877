/**
 * An answer read whole, as the code that reads token, discovery and key-set answers sees a fetch
 * Response: openid-client and oauth4webapi (status, headers, text, JSON, clone, bodyUsed, a body to
 * cancel) and tokenctl's own readers. Requests sent straight over node:https (./direct.ts) are
 * answered with one, and the fast path's openid-client builds its request headers with AnswerHeaders
 * (scripts/build.mjs): Node's Response and Headers come with its fetch, whose module costs a
 * one-request run about 24 ms of CPU to load, for what these few methods do (README, "Performance").
 * Both say they are a Response and Headers (Symbol.toStringTag), which is how oauth4webapi recognises
 * one, so each works wherever the other does.
 */

type HeaderInput = Iterable<readonly [string, string]> | Record<string, string> | undefined

/** An HTTP field name (RFC 9110 §5.1): a token. */
const FIELD_NAME = /^[\w!#$%&'*+.^`|~-]+$/
/** What no field value may carry (RFC 9110 §5.5), once its surrounding whitespace is dropped as fetch drops it. */
const NOT_IN_A_VALUE = /[\0\n\r]/

/** Headers with the semantics fetch gives them: names in any case, appended values joined by ", ", entries sorted by name. */
export class AnswerHeaders {
  readonly #fields = new Map<string, string>()

  constructor(init?: HeaderInput) {
    if (init === undefined) return
    const pairs = Symbol.iterator in init ? (init as Iterable<readonly [string, string]>) : Object.entries(init)
    for (const [name, value] of pairs) this.append(name, value)
  }

  get [Symbol.toStringTag](): string {
    return 'Headers'
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries()
  }

  append(name: string, value: string): void {
    const [field, text] = checked(name, value)
    const existing = this.#fields.get(field)
    this.#fields.set(field, existing === undefined ? text : `${existing}, ${text}`)
  }

  delete(name: string): void {
    this.#fields.delete(name.toLowerCase())
  }

  entries(): IterableIterator<[string, string]> {
    return [...this.#fields].sort(([a], [b]) => (a < b ? -1 : 1))[Symbol.iterator]()
  }

  forEach(callback: (value: string, name: string, headers: AnswerHeaders) => void): void {
    for (const [name, value] of this.entries()) callback(value, name, this)
  }

  get(name: string): null | string {
    return this.#fields.get(name.toLowerCase()) ?? null
  }

  has(name: string): boolean {
    return this.#fields.has(name.toLowerCase())
  }

  keys(): IterableIterator<string> {
    return [...this.entries()].map(([name]) => name)[Symbol.iterator]()
  }

  set(name: string, value: string): void {
    const [field, text] = checked(name, value)
    this.#fields.set(field, text)
  }

  values(): IterableIterator<string> {
    return [...this.entries()].map(([, value]) => value)[Symbol.iterator]()
  }
}

function checked(name: string, value: string): [string, string] {
  const text = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '')
  if (!FIELD_NAME.test(name)) throw new TypeError(`"${name}" is not a header name`)
  if (NOT_IN_A_VALUE.test(text)) throw new TypeError(`the value of header "${name}" is not one a header can carry`)
  return [name.toLowerCase(), text]
}

export interface AnswerInit {
  headers?: HeaderInput
  status?: number
  statusText?: string
}

/** A Response whose body is already here: read once as text, JSON or bytes, or cloned before. */
export class Answer {
  readonly headers: AnswerHeaders
  readonly redirected = false
  readonly status: number
  readonly statusText: string
  readonly type = 'basic'
  readonly url = ''
  readonly #bytes: Buffer
  #stream: null | ReadableStream<Uint8Array> | undefined
  #used = false

  /** Bytes as read; text too, or nothing, as openid-client makes a Response of its own (a JSON text). */
  constructor(body: Buffer | null | string | undefined, init: AnswerInit = {}) {
    this.#bytes = typeof body === 'string' ? Buffer.from(body) : (body ?? Buffer.alloc(0))
    this.headers = new AnswerHeaders(init.headers)
    this.status = init.status ?? 200
    this.statusText = init.statusText ?? ''
  }

  get [Symbol.toStringTag](): string {
    return 'Response'
  }

  /** A stream of the bytes, made when asked for (an error page quoted, a body cancelled); null when there are none. */
  get body(): null | ReadableStream<Uint8Array> {
    if (this.#stream === undefined) {
      const bytes = new Uint8Array(this.#bytes)
      this.#stream =
        bytes.length === 0
          ? null
          : new ReadableStream<Uint8Array>({
              start(controller) {
                controller.enqueue(bytes)
                controller.close()
              },
            })
    }

    return this.#stream
  }

  get bodyUsed(): boolean {
    return this.#used
  }

  get ok(): boolean {
    return this.status >= 200 && this.status <= 299
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.#take()
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
  }

  clone(): Answer {
    if (this.#used) throw new TypeError('the body of this answer was already read')
    return new Answer(this.#bytes, {headers: this.headers, status: this.status, statusText: this.statusText})
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text())
  }

  /** UTF-8, a byte-order mark dropped and what is not UTF-8 replaced, as fetch decodes. */
  async text(): Promise<string> {
    return new TextDecoder().decode(this.#take())
  }

  #take(): Buffer {
    if (this.#used) throw new TypeError('the body of this answer was already read')
    this.#used = true
    return this.#bytes
  }
}
