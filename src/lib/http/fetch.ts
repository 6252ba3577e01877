import type {Dispatcher} from 'undici'

import {baselineWasmOnly} from './baseline-wasm.js'
import {limitBody} from './bodies.js'
import {isLoopbackName} from './destination.js'
import {directFetch, sendsDirectly} from './direct.js'
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
    const body = (await response.clone().json()) as unknown
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
 * proxy or an extra CA is configured or the host is a localhost name; otherwise the request goes
 * straight over node:https (./direct.ts), which is what one request costs at least, or, for what
 * that does not send, Node's own fetch. An IP literal needs no lookup, so 127.0.0.1 without a proxy
 * goes straight too. Every answer's body is held to maxBodyBytes.
 */
async function transport(options: HttpOptions): Promise<FetchFn> {
  const always = Boolean(proxyVariable() || options.caFile)
  const {maxBodyBytes} = options
  const bounded = (url: string, response: Response) => (maxBodyBytes === undefined ? response : limitBody(response, maxBodyBytes, `the answer from ${maskUrl(url)}`))
  const direct = directFetch(options)
  let undici: Promise<[typeof import('undici'), Dispatcher]> | undefined
  return async (url, init) => {
    const target = new URL(url)
    if (!always && !isLoopbackName(target.hostname)) return sendsDirectly(target, init) ? direct(url, init) : bounded(url, await fetch(url, init))
    undici ??= Promise.all([import('undici'), createDispatcher(options)])
    const [{fetch: undiciFetch}, dispatcher] = await undici
    // After the loading: V8 flags changed at run time make it compile Node's own modules afresh (baseline-wasm.ts).
    baselineWasmOnly()
    return bounded(url, (await undiciFetch(url, {...(init as object), dispatcher} as Parameters<typeof undiciFetch>[1])) as unknown as Response)
  }
}
