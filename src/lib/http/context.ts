import type {FetchFn} from './fetch.js'
import {withRetries} from './retry.js'
import type {TraceSink} from './trace.js'

/** What a command wants to hear while the library works; the library itself never prints. */
export type Progress =
  | {delayMs: number; message: string; state: 'retry'}
  | {message: string; state: 'request'}
  | {message: string; state: 'waiting'}
  | {state: 'done'}

export interface Hooks {
  progress?: (progress: Progress) => void
  trace?: TraceSink
  /** Something the user should know that did not fail the operation (a store write no replica acknowledged). */
  warning?: (message: string) => void
}

/** The HTTP side of one command: one fetch (proxy, CAs, trace), one timeout, one retry policy. */
export interface HttpContext {
  fetch(): Promise<FetchFn>
  readonly hooks: Hooks
  retrying<T>(op: () => Promise<T>): Promise<T>
  readonly timeoutSeconds: number
}

export interface HttpContextOptions {
  caFile?: string
  /** Attempts after the first, on connection errors, 429 and 5xx. */
  retries?: number
  timeoutSeconds: number
}

export const DEFAULT_TOKEN_RETRIES = 3

export function httpContext(options: HttpContextOptions, hooks: Hooks = {}): HttpContext {
  let fetchPromise: Promise<FetchFn> | undefined
  return {
    fetch() {
      // Loaded only when a request is really made: a cache hit never pays for undici or TLS.
      fetchPromise ??= import('./fetch.js').then(({createFetch}) => createFetch({caFile: options.caFile, timeoutSeconds: options.timeoutSeconds, trace: hooks.trace, traceBodies: true}))
      return fetchPromise
    },
    hooks,
    retrying(op) {
      return withRetries(op, {retries: options.retries ?? DEFAULT_TOKEN_RETRIES}, ({delayMs, reason}) =>
        hooks.progress?.({delayMs, message: `waiting ${Math.max(1, Math.round(delayMs / 1000))} s: ${reason}`, state: 'retry'}),
      )
    },
    timeoutSeconds: options.timeoutSeconds,
  }
}
