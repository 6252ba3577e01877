import type {Dispatcher} from 'undici'

import {baselineWasmOnly} from './baseline-wasm.js'
import {limitBody} from './bodies.js'
import {isLoopbackName} from './destination.js'
import {createDispatcher, type DispatcherOptions, proxyVariable} from './dispatcher.js'
import {failureReason} from './failure.js'
import {type HttpExchange, maskHeaders, maskParams, maskUrl, type TraceSink} from './trace.js'

export type FetchFn = (url: string, init?: RequestInit) => Promise<Response>

export interface HttpOptions extends DispatcherOptions {
  /** The most of any answer's body that may be read (./policy.ts); unbounded when not given. */
  maxBodyBytes?: number
  trace?: TraceSink
  /** Also trace form parameters and JSON response fields (token endpoints); API bodies are never read for a trace. */
  traceBodies?: boolean
}

function formParams(body: unknown): Record<string, string> | undefined {
  if (body instanceof URLSearchParams) return maskParams(body)
  if (typeof body === 'string' && body.includes('=')) return maskParams(new URLSearchParams(body))
  return undefined
}

async function jsonSummary(response: Response): Promise<Record<string, string> | undefined> {
  if (!response.headers.get('content-type')?.includes('json')) return undefined
  try {
    const body: unknown = await response.clone().json()
    if (body && typeof body === 'object' && !Array.isArray(body)) return maskParams(Object.entries(body))
  } catch {
    // a malformed body is reported by whoever parses it; the trace just omits it
  }

  return undefined
}

/**
 * The fetch every tokenctl request but `call`'s goes through: undici's, on the command's dispatcher
 * (proxy, CAs), each answer's body held to the policy's bound, each exchange reported, masked, to the
 * trace sink.
 */
export async function createFetch(options: HttpOptions = {}): Promise<FetchFn> {
  baselineWasmOnly()
  const sendAny = await transport(options)
  const {maxBodyBytes, trace, traceBodies} = options
  const send: FetchFn =
    maxBodyBytes === undefined ? sendAny : async (url, init) => limitBody(await sendAny(url, init), maxBodyBytes, `the answer from ${maskUrl(url)}`)
  if (!trace) return send

  return async (url, init) => {
    const started = performance.now()
    const exchange: HttpExchange = {
      method: init?.method ?? 'GET',
      ms: 0,
      request: traceBodies ? formParams(init?.body) : undefined,
      requestHeaders: maskHeaders(new Headers(init?.headers)),
      url: maskUrl(url),
    }
    try {
      const response = await send(url, init)
      exchange.status = response.status
      exchange.responseHeaders = maskHeaders(response.headers)
      if (traceBodies) exchange.response = await jsonSummary(response)
      return response
    } catch (error) {
      exchange.error = failureReason(error)
      throw error
    } finally {
      exchange.ms = Math.round(performance.now() - started)
      trace(exchange)
    }
  }
}

/**
 * undici's fetch on the command's dispatcher (proxy, CAs, timeouts, loopback names checked) when a
 * proxy, an extra CA or a client certificate is configured or the host is a localhost name; otherwise Node's own fetch
 * (the same undici inside), which starts ~35 ms sooner than importing the package. An IP literal
 * needs no lookup, so 127.0.0.1 without a proxy keeps the fast path.
 */
async function transport(options: HttpOptions): Promise<FetchFn> {
  const always = Boolean(proxyVariable() || options.caFile || options.clientCertificate)
  let undici: Promise<[typeof import('undici'), Dispatcher]> | undefined
  return async (url, init) => {
    if (!always && !isLoopbackName(new URL(url).hostname)) return fetch(url, init)
    undici ??= Promise.all([import('undici'), createDispatcher(options)])
    const [{fetch: undiciFetch}, dispatcher] = await undici
    return undiciFetch(url, {...(init as object), dispatcher})
  }
}
