import type {Dispatcher} from 'undici'

import {baselineWasmOnly} from './baseline-wasm.js'
import {readBounded} from './bodies.js'
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
    const body: unknown = await response.clone().json()
    if (body && typeof body === 'object' && !Array.isArray(body)) return maskParams(Object.entries(body))
  } catch {
    // a malformed body is reported by whoever parses it; the trace just omits it
  }

  return undefined
}

/**
 * The fetch every tokenctl request but `call`'s goes through (openid-client's and jose's customFetch):
 * straight over node:http(s) when nothing stands between, else undici's on the command's dispatcher
 * (proxy, CAs), each answer read whole and held to the policy's bound, each exchange reported,
 * masked, to the trace sink.
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

/** What the request straight over node:http(s) honours itself; any other option (--ca-file…) is undici's to honour. */
const STRAIGHT_OPTIONS = new Set(['maxBodyBytes', 'timeoutSeconds', 'trace', 'traceBodies'])

/**
 * undici's fetch on the command's dispatcher (proxy, NO_PROXY, CAs, loopback names checked) when a
 * proxy variable is set, an option only undici honours is given (--ca-file, a client certificate
 * for mutual TLS), or the host is a localhost name. Otherwise the request goes straight over node:http(s) (./direct.ts), which is what
 * one request costs at least: no proxy, no CA but the system's and NODE_EXTRA_CA_CERTS (which node:tls
 * honours as undici does), an IP literal or a name the system looks up. What that does not send (a
 * redirect to follow, a stream) goes to Node's own fetch. Each way the answer is read whole, held to
 * maxBodyBytes, before it is returned, so a failure is the same failure in the same words whichever
 * way the request went (test/e2e/direct-transport.test.ts).
 */
async function transport(options: HttpOptions): Promise<FetchFn> {
  const undiciOnly = Boolean(proxyVariable()) || Object.entries(options).some(([name, value]) => value !== undefined && !STRAIGHT_OPTIONS.has(name))
  const {maxBodyBytes} = options
  const bounded = (url: string, response: Response) => (maxBodyBytes === undefined ? response : readBounded(response, maxBodyBytes, `the answer from ${maskUrl(url)}`))
  const direct = directFetch(options)
  let undici: Promise<[typeof import('undici'), Dispatcher]> | undefined
  return async (url, init) => {
    const target = new URL(url)
    if (!undiciOnly && !isLoopbackName(target.hostname)) return sendsDirectly(target, init) ? direct(url, init) : bounded(url, await fetch(url, init))
    undici ??= Promise.all([import('undici'), createDispatcher(options)])
    const [{fetch: undiciFetch}, dispatcher] = await undici
    // After the loading: V8 flags changed at run time make it compile Node's own modules afresh (baseline-wasm.ts).
    baselineWasmOnly()
    return bounded(url, await undiciFetch(url, {...(init as object), dispatcher}))
  }
}
