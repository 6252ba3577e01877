/**
 * The call client: the seeds' ClientAccessTokenHandler from a terminal. Sends one API request with
 * the token attached, retries what is worth retrying, renews the token once on a 401, and hands the
 * response back with its body still streaming (the command writes it out, in constant memory).
 */
import {createReadStream} from 'node:fs'
import {Readable} from 'node:stream'
import {setTimeout as sleep} from 'node:timers/promises'

import {NetworkError, ReauthenticationRequiredError, UsageError} from '../errors.js'
import type {Hooks} from './context.js'
import {createFetch, describeFetchFailure, type FetchFn} from './fetch.js'
import {backoffDelay, parseRetryAfter} from './retry.js'

export type CallBody = {data: string; kind: 'data'} | {kind: 'file'; path: string} | {kind: 'stdin'}

export interface CallRequest {
  body?: CallBody
  headers: Array<[string, string]>
  method: string
  url: URL
}

/** Where the bearer token comes from; `renew` (a forced renewal) exists only for managed sources. */
export interface TokenSource {
  renew?: () => Promise<string>
  token: () => Promise<string>
}

export interface CallOptions {
  caFile?: string
  /** Never wait longer than this in total for Retry-After and backoff. */
  maxTotalWaitMs?: number
  /** Attempts after the first one, on connection errors, 429, 502, 503 and 504. */
  retries: number
  /** Retry non-idempotent methods too. */
  retryAll?: boolean
  /** Seconds to wait for the response headers, and for each chunk of the body. */
  timeoutSeconds: number
}

export interface CallResponse {
  body: ReadableStream<Uint8Array> | null
  headers: Headers
  status: number
  statusText: string
}

const IDEMPOTENT = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PUT', 'TRACE'])
const RETRYABLE_STATUS = new Set([429, 502, 503, 504])
const DEFAULT_MAX_TOTAL_WAIT_MS = 60_000
const TOKEN_NAME = /^[!#$%&'*+.^`|~\w-]+$/

/** `-H 'Name: value'` pairs; a malformed one is named by its position and its start, never its value. */
export function parseHeaders(values: string[] = []): Array<[string, string]> {
  return values.map((header, index): [string, string] => {
    const colon = header.indexOf(':')
    const name = colon > 0 ? header.slice(0, colon).trim() : ''
    if (!TOKEN_NAME.test(name)) {
      const start = header.split(/[\s:]/, 1)[0].slice(0, 40)
      throw new UsageError(`malformed header #${index + 1} ("${start}…"): expected -H 'Name: value'`)
    }

    return [name, header.slice(colon + 1).trim()]
  })
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

function requestBody(body: CallBody | undefined): RequestInit['body'] {
  if (!body) return undefined
  if (body.kind === 'data') return body.data
  // Streamed, never read into memory: a file is opened afresh for every attempt.
  const stream = body.kind === 'file' ? createReadStream(body.path) : process.stdin
  return Readable.toWeb(stream) as unknown as RequestInit['body']
}

/** Entra's claims challenge (RFC 6750 error="insufficient_claims", claims base64): the user must sign in again. */
function claimsChallenge(response: Response): ReauthenticationRequiredError | undefined {
  const challenge = response.headers.get('www-authenticate') ?? ''
  if (!/error="?insufficient_claims"?/i.test(challenge)) return undefined
  const encoded = /claims="([^"]*)"/i.exec(challenge)?.[1]
  let claims = encoded
  if (encoded) {
    try {
      const decoded = Buffer.from(encoded, 'base64').toString('utf8')
      if (decoded.trim().startsWith('{')) claims = decoded
    } catch {
      // keep it as the API sent it
    }
  }

  return new ReauthenticationRequiredError('the API wants more claims than the token has (insufficient_claims)', 'insufficient_claims', {
    details: {claims, status: response.status},
    suggestions: ['sign the user in again requesting these claims (the claims challenge below), then retry'],
  })
}

/**
 * Aborts a response whose headers do not come within the timeout, or whose body stalls longer than
 * that between two chunks; a steady 1 GB download never times out.
 */
function withIdleTimeout(response: Response, controller: AbortController, timeoutMs: number): ReadableStream<Uint8Array> | null {
  if (!response.body) return null
  let timer = setTimeout(() => controller.abort(), timeoutMs)
  const rearm = () => {
    clearTimeout(timer)
    timer = setTimeout(() => controller.abort(), timeoutMs)
  }

  return response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      flush: () => clearTimeout(timer),
      transform(chunk, stream) {
        rearm()
        stream.enqueue(chunk)
      },
    }),
  )
}

interface Attempt {
  controller: AbortController
  response: Response
}

async function send(fetch: FetchFn, request: CallRequest, token: string, timeoutMs: number): Promise<Attempt> {
  const headers = new Headers(request.headers)
  headers.set('authorization', `Bearer ${token}`)
  if (request.body && !headers.has('content-type')) headers.set('content-type', defaultContentType(request.body))
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  try {
    const body = requestBody(request.body)
    const response = await fetch(request.url.href, {
      body,
      headers,
      method: request.method,
      redirect: 'manual',
      signal: controller.signal,
      ...(body && typeof body !== 'string' ? {duplex: 'half'} : {}),
    } as RequestInit)
    return {controller, response}
  } catch (error) {
    if (controller.signal.aborted) {
      throw new NetworkError(`no answer from ${request.url.host} within ${timeoutMs / 1000} s`, 'timeout', {
        suggestions: ['raise --timeout if the API is just slow'],
      })
    }

    const reason = describeFetchFailure(error)
    throw new NetworkError(`cannot reach ${request.url.host}: ${reason}`, /CERT|SSL|TLS/.test(reason) ? 'tls_error' : 'network_error', {
      cause: error,
      retryable: !/CERT|SSL|TLS|ENOTFOUND/.test(reason),
    })
  } finally {
    clearTimeout(timer)
  }
}

/**
 * One API call: retries (exponential backoff with jitter, Retry-After honoured, the total wait capped)
 * on connection errors and 429/502/503/504 for idempotent methods, or for all with retryAll; one forced
 * token renewal and one more try on a 401 when the source can renew. A claims challenge is exit 5.
 */
export async function callApi(request: CallRequest, source: TokenSource, options: CallOptions, hooks: Hooks = {}): Promise<CallResponse> {
  const fetch = await createFetch({caFile: options.caFile, trace: hooks.trace})
  const timeoutMs = options.timeoutSeconds * 1000
  const maxTotalWaitMs = options.maxTotalWaitMs ?? DEFAULT_MAX_TOTAL_WAIT_MS
  // A body read from stdin cannot be sent twice.
  const replayable = request.body?.kind !== 'stdin'
  const mayRetry = replayable && (options.retryAll || IDEMPOTENT.has(request.method))
  let token = await source.token()
  let renewed = false
  let waited = 0
  const wait = async (delayMs: number, reason: string) => {
    hooks.progress?.({delayMs, message: `waiting ${Math.max(1, Math.round(delayMs / 1000))} s: ${reason}`, state: 'retry'})
    await sleep(delayMs)
    waited += delayMs
  }

  for (let attempt = 1; ; attempt++) {
    const retriesLeft = mayRetry && attempt <= options.retries
    let sent: Attempt
    try {
      hooks.progress?.({message: `calling ${request.url.host}`, state: 'request'})
      sent = await send(fetch, request, token, timeoutMs)
    } catch (error) {
      const delayMs = backoffDelay(attempt)
      if (!(error instanceof NetworkError) || !error.retryable || !retriesLeft || waited + delayMs > maxTotalWaitMs) throw error
      await wait(delayMs, error.message)
      continue
    } finally {
      hooks.progress?.({state: 'done'})
    }

    const {controller, response} = sent
    if (response.status === 401) {
      const challenge = claimsChallenge(response)
      if (challenge) {
        await response.body?.cancel()
        throw challenge
      }

      if (source.renew && !renewed && replayable) {
        await response.body?.cancel()
        token = await source.renew()
        renewed = true
        attempt-- // the renewal's retry is not one of --retries
        continue
      }
    }

    if (RETRYABLE_STATUS.has(response.status) && retriesLeft) {
      const delayMs = parseRetryAfter(response.headers.get('retry-after')) ?? backoffDelay(attempt)
      if (waited + delayMs <= maxTotalWaitMs) {
        await response.body?.cancel()
        await wait(delayMs, `${response.status} ${response.statusText}`.trim())
        continue
      }
    }

    return {body: withIdleTimeout(response, controller, timeoutMs), headers: response.headers, status: response.status, statusText: response.statusText}
  }
}
