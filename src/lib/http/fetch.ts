import type {Dispatcher} from 'undici'

import {baselineWasmOnly} from './baseline-wasm.js'
import {isLoopbackName} from './destination.js'
import {createDispatcher, type DispatcherOptions, proxyVariable} from './dispatcher.js'
import {type HttpExchange, maskHeaders, maskParams, maskUrl, type TraceSink} from './trace.js'

export type FetchFn = (url: string, init?: RequestInit) => Promise<Response>

export interface HttpOptions extends DispatcherOptions {
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
    const body = (await response.clone().json()) as unknown
    if (body && typeof body === 'object' && !Array.isArray(body)) return maskParams(Object.entries(body))
  } catch {
    // a malformed body is reported by whoever parses it; the trace just omits it
  }

  return undefined
}

/**
 * The fetch every tokenctl request goes through: undici's, on the command's dispatcher (proxy,
 * CAs), with each exchange reported, masked, to the trace sink.
 */
export async function createFetch(options: HttpOptions = {}): Promise<FetchFn> {
  baselineWasmOnly()
  const send = await transport(options)
  const {trace, traceBodies} = options
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
      exchange.error = describeFetchFailure(error)
      throw error
    } finally {
      exchange.ms = Math.round(performance.now() - started)
      trace(exchange)
    }
  }
}

/**
 * undici's fetch on the command's dispatcher (proxy, CAs, timeouts, loopback names checked) when a
 * proxy or an extra CA is configured or the host is a localhost name; otherwise Node's own fetch
 * (the same undici inside), which starts ~35 ms sooner than importing the package. An IP literal
 * needs no lookup, so 127.0.0.1 without a proxy keeps the fast path.
 */
async function transport(options: HttpOptions): Promise<FetchFn> {
  const always = Boolean(proxyVariable() || options.caFile)
  let undici: Promise<[typeof import('undici'), Dispatcher]> | undefined
  return async (url, init) => {
    if (!always && !isLoopbackName(new URL(url).hostname)) return fetch(url, init)
    undici ??= Promise.all([import('undici'), createDispatcher(options)])
    const [{fetch: undiciFetch}, dispatcher] = await undici
    return undiciFetch(url, {...(init as object), dispatcher} as Parameters<typeof undiciFetch>[1]) as unknown as Promise<Response>
  }
}

/** undici reports the real reason (ECONNREFUSED, a certificate error…) as the cause of "fetch failed". */
export function describeFetchFailure(error: unknown): string {
  const cause = (error as {cause?: {code?: string; message?: string}})?.cause
  if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ''}`
  if (cause?.message) return cause.message
  if (error instanceof Error) return error.name === 'TimeoutError' ? 'timed out' : error.message
  return String(error)
}

