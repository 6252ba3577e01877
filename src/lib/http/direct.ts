/**
 * One request straight over node:http or node:https, answered as a fetch Response: what token,
 * discovery and key-set requests need when nothing stands between tokenctl and the server (no proxy,
 * no extra CA, an IP literal or a public name: fetch.ts decides). Node's own fetch (undici inside)
 * costs a one-request run about 40 ms of CPU before anything is sent: its HTTP client, web streams,
 * and an HTTP parser compiled to WebAssembly at start-up. node:https parses with the C parser node
 * already has, on the same TLS (certificate checks, NODE_EXTRA_CA_CERTS) and the same system errors,
 * which ./failure.ts reads as it reads fetch's (README, "Performance").
 *
 * What it does is what these requests ask for, and no more: the request's method, headers and body
 * (text, a form, bytes), redirects never followed (`redirect: 'manual'`), the AbortSignal, a wait
 * bounded by --timeout, the answer's body read whole up to the policy's bound. Anything else (a
 * stream as body, a redirect to follow, a URL with credentials) goes to fetch.
 */
import {Agent as HttpAgent, type ClientRequest, type IncomingMessage, request as httpRequest, type RequestOptions} from 'node:http'
import {Agent as HttpsAgent, request as httpsRequest} from 'node:https'

import {Answer} from './answer.js'
import {trackConnections} from './connections.js'
import {bodyFailure, cutShort} from './bodies.js'
import {tooLarge} from './failure.js'
import {maskUrl} from './trace.js'

export interface DirectOptions {
  /** The most of an answer's body that is read; more fails the request (./bodies.ts says why). */
  maxBodyBytes?: number
  /** Each wait (connecting, the answer's headers, each pause in its body); default 30 s. */
  timeoutSeconds?: number
}

type Body = Buffer | string | undefined

/** The body as bytes or text when this module can send it as is; undefined (no body) or null (fetch's to send). */
function plainBody(body: RequestInit['body']): Body | null {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return body
  if (body instanceof URLSearchParams) return body.toString()
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  return null
}

/**
 * Whether this module sends the request as fetch would; when not, fetch does. A URL with a user name
 * or password is fetch's to refuse (node:http would send them as Basic credentials).
 */
export function sendsDirectly(url: URL, init: RequestInit = {}): boolean {
  return init.redirect === 'manual' && plainBody(init.body) !== null && url.username === '' && url.password === ''
}

/** fetch's own Content-Type for a text or form body sent without one. */
function defaultContentType(body: RequestInit['body']): string | undefined {
  if (body instanceof URLSearchParams) return 'application/x-www-form-urlencoded;charset=UTF-8'
  return typeof body === 'string' ? 'text/plain;charset=UTF-8' : undefined
}

function headerList(headers: RequestInit['headers']): Array<[string, string]> {
  if (headers === undefined) return []
  // A plain object (openid-client's), an array of pairs, or a Headers: all iterate as pairs but the first.
  const pairs = Symbol.iterator in headers ? (headers as Iterable<[string, string]>) : Object.entries(headers)
  return [...pairs].map(([name, value]) => [name, String(value)])
}

/** fetch's failure: a TypeError whose cause is what the system said (./failure.ts reads the chain). */
const fetchFailed = (cause: unknown) => new TypeError('fetch failed', {cause})

/** A wait that ran out: could not connect (as the system says it), or no answer (as an AbortSignal's timeout says it). */
function timedOut(connecting: boolean, seconds: number): Error {
  if (connecting) return Object.assign(new Error(`connect ETIMEDOUT (no connection within ${seconds} s)`), {code: 'ETIMEDOUT'})
  return new DOMException(`no answer within ${seconds} s`, 'TimeoutError')
}

/**
 * The answer as those who read it see a Response (./answer.ts). Its status is the server's, whatever
 * it is (a 1xx or 600–999 is passed on as it came, as fetch passes it on).
 */
function responseOf(answer: IncomingMessage, body: Buffer): Response {
  const headers: Array<[string, string]> = []
  for (let at = 0; at + 1 < answer.rawHeaders.length; at += 2) headers.push([answer.rawHeaders[at], answer.rawHeaders[at + 1]])
  return new Answer(body, {headers, status: answer.statusCode ?? 0, statusText: answer.statusMessage ?? ''}) as unknown as Response
}

/**
 * fetch for the requests sendsDirectly accepts, over connections kept alive for the command's next
 * request (a discovery, then the token) and closed when it ends (./connections.ts).
 */
export function directFetch(options: DirectOptions = {}): (url: string, init?: RequestInit) => Promise<Response> {
  const timeoutMs = (options.timeoutSeconds ?? 30) * 1000
  let agents: undefined | {http: HttpAgent; https: HttpsAgent}
  const agentFor = (protocol: string) => {
    if (!agents) {
      const kept = {http: new HttpAgent({keepAlive: true}), https: new HttpsAgent({keepAlive: true})}
      trackConnections({
        async destroy() {
          kept.http.destroy()
          kept.https.destroy()
        },
      })
      agents = kept
    }

    return protocol === 'https:' ? agents.https : agents.http
  }

  return (url, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const {signal} = init
      if (signal?.aborted) {
        reject(signal.reason as Error) // the signal's own reason, as fetch rejects with it
        return
      }

      const target = new URL(url)
      const body = plainBody(init.body) ?? undefined
      const headers = headerList(init.headers)
      const contentType = defaultContentType(init.body)
      if (contentType && !headers.some(([name]) => name.toLowerCase() === 'content-type')) headers.push(['content-type', contentType])
      const settings: RequestOptions = {agent: agentFor(target.protocol), headers: Object.fromEntries(headers), method: init.method ?? 'GET', timeout: timeoutMs}
      const open = target.protocol === 'https:' ? httpsRequest : httpRequest
      let request: ClientRequest | undefined
      const fail = (error: Error) => {
        request?.destroy()
        reject(error)
      }

      const onAbort = () => fail(signal!.reason as Error)
      signal?.addEventListener('abort', onAbort, {once: true})
      const settle =
        <T>(outcome: (value: T) => void) =>
        (value: T) => {
          signal?.removeEventListener('abort', onAbort)
          outcome(value)
        }

      const done = settle(resolve)
      const failed = settle(fail)
      request = open(target, settings, (answer) => {
        const limit = options.maxBodyBytes ?? Number.POSITIVE_INFINITY
        const what = `the answer from ${maskUrl(url)}`
        if (Number(answer.headers['content-length'] ?? 0) > limit) {
          failed(tooLarge(what, limit))
          return
        }

        const chunks: Buffer[] = []
        let size = 0
        answer.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > limit) failed(tooLarge(what, limit))
          else chunks.push(chunk)
        })
        answer.on('end', () => {
          try {
            done(responseOf(answer, Buffer.concat(chunks)))
          } catch (error) {
            failed(fetchFailed(error)) // a header no Response can carry
          }
        })
        answer.on('error', (error) => failed(bodyFailure(fetchFailed(error))))
        answer.on('close', () => {
          if (!answer.complete) failed(cutShort())
        })
      })
      // Connected means the TLS handshake is done too: until then a timeout is a connect timeout. And
      // nothing is written before: a handshake that fails then fails as itself (an https URL to an http
      // port: ERR_SSL_WRONG_VERSION_NUMBER), as undici reports it, not as the write waiting on it (EPROTO).
      let connected = false
      const send = () => {
        connected = true
        request.end(body)
      }

      request.on('socket', (socket) => {
        if (socket.connecting) socket.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', send)
        else send()
      })
      request.on('timeout', () => failed(timedOut(!connected, timeoutMs / 1000)))
      request.on('error', (error) => failed(fetchFailed(error)))
    })
}
