import type {NonceBook} from './dpop-nonces.js'
import type {FetchFn} from './fetch.js'
import type {ClientCertificate} from './mtls.js'
import {HTTP_POLICY, type RequestKind} from './policy.js'
import {retryProgress, withRetries} from './retry.js'
import type {TraceSink} from './trace.js'

/** What a command wants to hear while the library works; the library itself never prints. */
export type Progress = {delayMs: number; message: string; state: 'retry'} | {message: string; state: 'request'} | {message: string; state: 'waiting'} | {state: 'done'}

export interface Hooks {
  progress?: (progress: Progress) => void
  trace?: TraceSink
  /** Something the user should know that did not fail the operation (a store write no replica acknowledged, a server that did not bind a token to the DPoP key). */
  warning?: (message: string) => void
}

/** The HTTP side of one command: one fetch (proxy, CAs, trace, bounded bodies), one timeout, the failure policy. */
export interface HttpContext {
  fetch(): Promise<FetchFn>
  readonly hooks: Hooks
  /** op, attempted again as the policy of its kind of request says (./policy.ts); a token request by default. */
  retrying<T>(op: () => Promise<T>, kind?: RequestKind): Promise<T>
  readonly timeoutSeconds: number
}

export interface HttpContextOptions {
  caFile?: string
  /** Mutual TLS: the certificate every connection of this context presents. */
  clientCertificate?: ClientCertificate
  /** DPoP: where the nonces the servers answer with are remembered (token requests: role `token`). */
  dpopNonces?: NonceBook
  /** Attempts after the first, instead of the policy's. */
  retries?: number
  timeoutSeconds: number
}

/** This fetch serves token requests and documents: the larger of their bounds (they are one today). */
const MAX_BODY_BYTES = Math.max(HTTP_POLICY.token.maxBodyBytes!, HTTP_POLICY.document.maxBodyBytes!)

export function httpContext(options: HttpContextOptions, hooks: Hooks = {}): HttpContext {
  let fetchPromise: Promise<FetchFn> | undefined
  return {
    fetch() {
      // Loaded only when a request is really made: a cache hit never pays for undici or TLS.
      fetchPromise ??= import('./fetch.js').then(async ({createFetch}) => {
        const {caFile, clientCertificate, dpopNonces, timeoutSeconds} = options
        const send = await createFetch({caFile, clientCertificate, maxBodyBytes: MAX_BODY_BYTES, timeoutSeconds, trace: hooks.trace, traceBodies: true})
        if (!dpopNonces) return send
        // Every answer may bring the server's next DPoP nonce (use_dpop_nonce's and a success's alike).
        return async (url, init) => {
          const response = await send(url, init)
          await dpopNonces.note('token', url, response.headers.get('dpop-nonce'))
          return response
        }
      })
      return fetchPromise
    },
    hooks,
    retrying(op, kind = 'token') {
      const {baseDelayMs, maxTotalWaitMs, retries} = HTTP_POLICY[kind]
      return withRetries(op, {baseDelayMs, maxTotalWaitMs, retries: options.retries ?? retries}, (notice) => hooks.progress?.(retryProgress(notice)))
    },
    timeoutSeconds: options.timeoutSeconds,
  }
}
