/**
 * The call client: IdentityModel's ClientAccessTokenHandler from a terminal. Sends one API request with
 * the token attached, retries what is worth retrying, renews the token once on a 401, and hands the
 * response back with its body still streaming (the command writes it out, in constant memory).
 *
 * Transport: node:http(s) directly (native parser, no import cost, ~25 MB for a 50 MB download),
 * or undici's request() on the EnvHttpProxyAgent when a proxy variable is set. fetch is not used
 * here: its web streams and undici's WebAssembly parser cost 50–80 MB on a large body.
 */
import {createReadStream} from 'node:fs'
import {type IncomingHttpHeaders, type OutgoingHttpHeaders, request as httpRequest, type RequestOptions, STATUS_CODES} from 'node:http'
import {request as httpsRequest} from 'node:https'
import {Readable} from 'node:stream'

import {ReauthenticationRequiredError, UsageError} from '../errors.js'
import type {Hooks} from './context.js'
import {isLoopbackHost, loopbackCheckedLookup} from './destination.js'
import {createDispatcher, proxyVariable, trustedCas} from './dispatcher.js'
import {connectionFailure, type Destination, noAnswer} from './failure.js'
import {type ClientCertificate, presenting} from './mtls.js'
import {HTTP_POLICY, mayRepeat, retriesStatus} from './policy.js'
import {parseRetryAfter, retryProgress, withRetries} from './retry.js'
import {maskHeaders, maskUrl} from './trace.js'

export type CallBody = {data: string; kind: 'data'} | {kind: 'file'; path: string} | {kind: 'stdin'}

export interface CallRequest {
  body?: CallBody
  headers: Array<[string, string]>
  method: string
  url: URL
}

/** A token to attach, and how: `Bearer`, or `DPoP` with a proof per request. */
export interface SentToken {
  token: string
  type: string
}

/** Proofs of possession of a DPoP key for the requests to an API (oauth/dpop.ts makes them). */
export interface DpopProver {
  noteNonce(url: URL, nonce: string | null | undefined): Promise<void>
  proof(method: string, url: URL, accessToken: string): Promise<string>
}

/** What a request carries besides its token: a DPoP proof, a client certificate in the TLS handshake. */
export interface SenderBinding {
  certificate?: ClientCertificate
  dpop?: DpopProver
}

/** Where the token comes from; `renew` (a forced renewal) exists only for managed sources. */
export interface TokenSource {
  /** What the source's tokens are bound to: its DPoP key, its client certificate. */
  binding?: () => Promise<SenderBinding>
  renew?: () => Promise<SentToken>
  token: () => Promise<SentToken>
}

export interface CallOptions {
  caFile?: string
  /** --certificate-file: the certificate to present, whatever the token source's. */
  clientCertificate?: ClientCertificate
  /** Never wait longer than this in total for Retry-After and backoff (the api policy's budget by default). */
  maxTotalWaitMs?: number
  /** Attempts after the first one, on what the api policy retries (./policy.ts). */
  retries: number
  /** Retry non-idempotent methods too (--retry-all). */
  retryAll?: boolean
  /** Seconds to wait for the response headers, and for each chunk of the body. */
  timeoutSeconds: number
  /** Told once the token is renewed after a 401, before the request goes again: `why` is the API's status and error. */
  onRenewal?: (why: string) => void
}

export interface CallResponse {
  body: Readable
  /** As received, in order; a repeated header (set-cookie) appears once per value. */
  headers: Array<[string, string]>
  status: number
  statusText: string
}

const TOKEN_NAME = /^[!#$%&'*+.^`|~\w-]+$/

/** What Node (and RFC 9110 §5.5) lets a header value carry: no CR, LF, NUL or other control but HTAB. */
const FIELD_VALUE = /^[\t\u0020-\u007E\u0080-\u00FF]*$/

/** `-H 'Name: value'` pairs; a malformed one is named by its position and its start, never its value. */
export function parseHeaders(values: string[] = []): Array<[string, string]> {
  return values.map((header, index): [string, string] => {
    const colon = header.indexOf(':')
    const name = colon > 0 ? header.slice(0, colon).trim() : ''
    if (!TOKEN_NAME.test(name)) {
      const start = header.split(/[\s:]/, 1)[0].slice(0, 40)
      throw new UsageError(`malformed header #${index + 1} ("${start}…"): expected -H 'Name: value'`)
    }

    const value = header.slice(colon + 1).trim()
    if (!FIELD_VALUE.test(value)) {
      throw new UsageError(`header #${index + 1} (${name}) has a character no header can carry (CR, LF or another control character, or beyond Latin-1)`, 'usage_error', {
        suggestions: ['one -H per header; encode the value (base64, percent-encoding) if it is binary'],
      })
    }

    return [name, value]
  })
}

/** `-X`: an HTTP method is a token (RFC 9110 §9.1), so never a request line. */
export function parseMethod(value: string): string {
  if (!TOKEN_NAME.test(value)) {
    throw new UsageError(`-X takes an HTTP method such as GET, POST or PATCH, not "${value.slice(0, 40)}"`, 'usage_error', {
      suggestions: ['put the path in the URL: tokenctl call https://host/path -X METHOD'],
    })
  }

  return value.toUpperCase()
}

/** curl's choice for -d (a form, unless the data is JSON), and octet-stream for a file. */
export function defaultContentType(body: CallBody): string {
  if (body.kind !== 'data') return 'application/octet-stream'
  try {
    JSON.parse(body.data)
    return /^\s*[[{]/.test(body.data) ? 'application/json' : 'application/x-www-form-urlencoded'
  } catch {
    return 'application/x-www-form-urlencoded'
  }
}

function requestBody(body: CallBody | undefined): Readable | string | undefined {
  if (!body) return undefined
  if (body.kind === 'data') return body.data
  // Streamed, never read into memory: a file is opened afresh for every attempt.
  return body.kind === 'file' ? createReadStream(body.path) : process.stdin
}

function header(response: CallResponse, name: string): string | undefined {
  return response.headers.find(([candidate]) => candidate.toLowerCase() === name)?.[1]
}

/** The parameters of the first challenge of a scheme in WWW-Authenticate (RFC 9110 §11.6.1), quoted or not. */
export function challengeOf(response: Pick<CallResponse, 'headers'>, scheme: string): Record<string, string> | undefined {
  const header = response.headers
    .filter(([name]) => name.toLowerCase() === 'www-authenticate')
    .map(([, value]) => value)
    .join(', ')
  const start = new RegExp(`(?:^|,)\\s*${scheme}(?:\\s+|\\s*$|\\s*,)`, 'i').exec(header)
  if (!start) return undefined
  const parameters: Record<string, string> = {}
  const pattern = /\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/gy
  pattern.lastIndex = start.index + start[0].length
  for (let match = pattern.exec(header); match; match = pattern.exec(header)) {
    parameters[match[1].toLowerCase()] = match[2] === undefined ? match[3] : match[2].replaceAll(/\\(.)/g, '$1')
  }

  return parameters
}

/**
 * Why an API refused a request, from its DPoP challenge: a proof it would not take
 * (`invalid_dpop_proof`, RFC 9449 §7.1) with its reason, or a nonce it asked for again after
 * being given one. Undefined when the challenge says nothing tokenctl can add to.
 */
export function refusalOf(response: Pick<CallResponse, 'headers' | 'status'>): {message: string; suggestion: string} | undefined {
  if (response.status !== 401 && response.status !== 403) return undefined
  const dpop = challengeOf(response, 'DPoP')
  const reason = dpop?.error_description ? `: ${dpop.error_description}` : ''
  if (dpop?.error === 'invalid_dpop_proof') {
    return {
      message: `the API refused the DPoP proof (invalid_dpop_proof${reason})`,
      suggestion: "check that the API expects this URL and method (htu and htm: the URL without query and fragment), and this machine's clock (iat)",
    }
  }

  if (dpop?.error === 'use_dpop_nonce') {
    return {
      message: `the API asked again for a DPoP nonce (use_dpop_nonce${reason})`,
      suggestion: 'the API refused the nonce it had just given: try again, and check that nothing between tokenctl and the API rewrites its headers',
    }
  }

  return undefined
}

/** "401 Unauthorized, invalid_token": the status and the bearer challenge's error (RFC 6750 §3), as the API gave them. */
function refusal(response: CallResponse): string {
  const error = /\berror="?([\w.-]+)"?/i.exec(header(response, 'www-authenticate') ?? '')?.[1]
  return `${`${response.status} ${response.statusText}`.trim()}${error ? `, ${error}` : ''}`
}

/** Entra's claims challenge (RFC 6750 error="insufficient_claims", claims base64): the user must sign in again. */
function claimsChallenge(response: CallResponse): ReauthenticationRequiredError | undefined {
  const challenge = header(response, 'www-authenticate') ?? ''
  if (!/error="?insufficient_claims"?/i.test(challenge)) return undefined
  const encoded = /claims="([^"]*)"/i.exec(challenge)?.[1]
  let claims = encoded
  if (encoded) {
    const decoded = Buffer.from(encoded, 'base64').toString('utf8')
    if (decoded.trim().startsWith('{')) claims = decoded
  }

  return new ReauthenticationRequiredError('the API wants more claims than the token has (insufficient_claims)', 'insufficient_claims', {
    details: {claims, status: response.status},
    suggestions: ['sign the user in again requesting these claims (the claims challenge below), then retry'],
  })
}

function headerPairs(raw: IncomingHttpHeaders | string[]): Array<[string, string]> {
  if (Array.isArray(raw)) {
    const pairs: Array<[string, string]> = []
    for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i], raw[i + 1]])
    return pairs
  }

  return Object.entries(raw).flatMap(([name, value]) => (Array.isArray(value) ? value.map((v): [string, string] => [name, v]) : [[name, String(value)]]))
}

interface Outgoing {
  body?: Readable | string
  headers: OutgoingHttpHeaders
  method: string
  url: URL
}

/**
 * node:http(s): the socket's idle timeout bounds DNS, connect, TLS, the wait for headers and every
 * pause in the body. A localhost name is resolved once and held to loopback (destination.ts); a
 * loopback destination gets an agent of its own, never one a proxy setting could reach.
 */
async function sendDirect(outgoing: Outgoing, destination: Destination, caFile: string | undefined, certificate: ClientCertificate | undefined): Promise<CallResponse> {
  const https = outgoing.url.protocol === 'https:'
  const ca = https ? await trustedCas(caFile) : undefined
  const timeoutMs = destination.timeoutSeconds * 1000
  return new Promise((resolve, reject) => {
    const send = https ? httpsRequest : httpRequest
    const agent = isLoopbackHost(outgoing.url.hostname) ? false : undefined
    const tls = https ? presenting(certificate) : {}
    const options = {agent, ca, ...tls, headers: outgoing.headers, lookup: loopbackCheckedLookup, method: outgoing.method, timeout: timeoutMs}
    const request = send(outgoing.url, options as RequestOptions, (response) => {
      resolve({body: response, headers: headerPairs(response.rawHeaders), status: response.statusCode ?? 0, statusText: response.statusMessage ?? ''})
    })
    request.on('timeout', () => request.destroy(noAnswer(destination)))
    request.on('error', (error) => reject(connectionFailure(error, destination)))
    if (outgoing.body instanceof Readable) outgoing.body.pipe(request)
    else request.end(outgoing.body)
  })
}

/**
 * undici's request() on the command's dispatcher: HTTPS_PROXY / HTTP_PROXY / NO_PROXY as for token
 * requests, --timeout on connect, the proxy's CONNECT answer, headers and each pause in the body.
 */
function proxiedSender(caFile: string | undefined, destination: Destination, certificate: () => ClientCertificate | undefined) {
  const timeoutMs = destination.timeoutSeconds * 1000
  let dispatcher: ReturnType<typeof createDispatcher> | undefined
  return async (outgoing: Outgoing): Promise<CallResponse> => {
    dispatcher ??= createDispatcher({caFile, clientCertificate: certificate(), timeoutSeconds: destination.timeoutSeconds})
    const [{request}, opened] = await Promise.all([import('undici'), dispatcher])
    try {
      const response = await request(outgoing.url, {
        body: outgoing.body,
        bodyTimeout: timeoutMs,
        dispatcher: opened,
        headers: outgoing.headers as Record<string, string>,
        headersTimeout: timeoutMs,
        method: outgoing.method as 'GET',
      })
      return {body: response.body, headers: headerPairs(response.headers), status: response.statusCode, statusText: STATUS_CODES[response.statusCode] ?? ''}
    } catch (error) {
      throw connectionFailure(error, destination)
    }
  }
}

function outgoingRequest(request: CallRequest, sent: SentToken, proof: string | undefined): Outgoing {
  const headers: OutgoingHttpHeaders = {}
  for (const [name, value] of request.headers) headers[name.toLowerCase()] = value
  // RFC 9449 §7.1: a DPoP-bound token goes with its scheme and a proof; sent as Bearer it would be refused.
  headers.authorization = `${proof === undefined ? 'Bearer' : 'DPoP'} ${sent.token}`
  if (proof !== undefined) headers.dpop = proof
  if (request.body && !headers['content-type']) headers['content-type'] = defaultContentType(request.body)
  return {body: requestBody(request.body), headers, method: request.method, url: request.url}
}

/**
 * One API call: retried as the api policy says (./policy.ts: connection errors, 429/502/503/504,
 * Retry-After honoured, the total wait capped) for idempotent methods, or for all with retryAll; one
 * forced token renewal and one more try on a 401 when the source can renew, which is not one of the
 * retries. A claims challenge is exit 5. A DPoP-bound token goes with a fresh proof on every
 * attempt, and the API's first `use_dpop_nonce` challenge is answered at once with its nonce: that
 * is neither a retry nor the renewal. The source's client certificate (or --certificate-file's) is
 * presented in every TLS handshake.
 */
export async function callApi(request: CallRequest, source: TokenSource, options: CallOptions, hooks: Hooks = {}): Promise<CallResponse> {
  const destination: Destination = {host: request.url.host, role: 'the API', source: 'the URL', timeoutSeconds: options.timeoutSeconds}
  let sent = await source.token()
  const binding: SenderBinding = (await source.binding?.()) ?? {}
  const certificate = options.clientCertificate ?? binding.certificate
  // Loopback never goes through a proxy, whatever NO_PROXY says.
  const proxied = proxyVariable() && !isLoopbackHost(request.url.hostname) ? proxiedSender(options.caFile, destination, () => certificate) : undefined
  const send = (outgoing: Outgoing) => (proxied ? proxied(outgoing) : sendDirect(outgoing, destination, options.caFile, certificate))
  // A body read from stdin cannot be sent twice.
  const replayable = request.body?.kind !== 'stdin'
  const retries = replayable && mayRepeat('api', request.method, options.retryAll) ? options.retries : 0
  let renewed = false
  let nonceAnswered = false

  const proofFor = async (token: SentToken): Promise<string | undefined> => {
    if (token.type !== 'DPoP') return undefined
    if (!binding.dpop) throw new UsageError('the token is bound to a DPoP key (token_type DPoP) that this token source does not have')
    return binding.dpop.proof(request.method, request.url, token.token)
  }

  const exchange = async (): Promise<CallResponse> => {
    const outgoing = outgoingRequest(request, sent, await proofFor(sent))
    const started = performance.now()
    try {
      hooks.progress?.({message: `calling ${request.url.host}`, state: 'request'})
      const response = await send(outgoing)
      trace(hooks, outgoing, started, response)
      // Any answer may bring the API's next nonce (RFC 9449 §9): the next proof to it carries it.
      await binding.dpop?.noteNonce(request.url, header(response, 'dpop-nonce'))
      return response
    } catch (error) {
      trace(hooks, outgoing, started, undefined, error)
      throw error
    } finally {
      hooks.progress?.({state: 'done'})
    }
  }

  const attempt = async (): Promise<CallResponse> => {
    const response = await exchange()
    if (response.status !== 401) return response
    const challenge = claimsChallenge(response)
    if (challenge) {
      response.body.destroy()
      throw challenge
    }

    const dpop = sent.type === 'DPoP' ? challengeOf(response, 'DPoP') : undefined
    if (dpop?.error === 'use_dpop_nonce' && !nonceAnswered && replayable && header(response, 'dpop-nonce')) {
      response.body.destroy()
      nonceAnswered = true
      return attempt()
    }

    // A proof the API will not take is not mended by another token: shown as it is (exit 8 with its reason).
    if (dpop?.error === 'invalid_dpop_proof' || dpop?.error === 'use_dpop_nonce') return response
    if (!source.renew || renewed || !replayable) return response
    response.body.destroy()
    sent = await source.renew()
    renewed = true
    options.onRenewal?.(refusal(response))
    return attempt()
  }

  return withRetries(
    attempt,
    {
      again: (response) =>
        retriesStatus('api', response.status)
          ? {reason: `${response.status} ${response.statusText}`.trim(), release: () => response.body.destroy(), retryAfterMs: parseRetryAfter(header(response, 'retry-after'))}
          : undefined,
      baseDelayMs: HTTP_POLICY.api.baseDelayMs,
      maxTotalWaitMs: options.maxTotalWaitMs ?? HTTP_POLICY.api.maxTotalWaitMs,
      retries,
    },
    (notice) => hooks.progress?.(retryProgress(notice)),
  )
}

function trace(hooks: Hooks, outgoing: Outgoing, started: number, response?: CallResponse, error?: unknown): void {
  hooks.trace?.({
    error: error === undefined ? undefined : (error as Error).message,
    method: outgoing.method,
    ms: Math.round(performance.now() - started),
    requestHeaders: maskHeaders(Object.entries(outgoing.headers).map(([name, value]) => [name, String(value)])),
    responseHeaders: response && maskHeaders(response.headers),
    status: response?.status,
    url: maskUrl(outgoing.url.href),
  })
}
