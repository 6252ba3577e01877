/**
 * The one retry loop of tokenctl's requests. It knows how to wait (exponential backoff with jitter, a
 * Retry-After honoured, a budget for all waits); what is worth another attempt is the policy's to say
 * (./policy.ts): a NetworkError marked retryable, or an answer that `again` asks to repeat.
 */
import {setTimeout as delay} from 'node:timers/promises'

import {NetworkError} from '../errors.js'
import {WAITS} from './policy.js'

export interface RetryPolicy<T = unknown> {
  /**
   * An answer that asks for another attempt (a `call` answered 503), or undefined. When no attempt is
   * left, or its wait would exceed the budget, that answer is returned as it is; otherwise `release`
   * lets it go (its body is never read) before the wait.
   */
  again?: (value: T) => RetryRequest | undefined
  /** First backoff step; later steps double it. */
  baseDelayMs?: number
  /** Give up rather than wait longer than this in total (a Retry-After beyond it ends the retries). */
  maxTotalWaitMs?: number
  /** Attempts after the first one. */
  retries: number
  /** How a wait is made; a test passes its own to see the schedule without waiting it. */
  sleep?: (ms: number) => Promise<unknown>
}

export interface RetryRequest {
  reason: string
  release?: () => void
  retryAfterMs?: number
}

export interface RetryNotice {
  attempt: number
  delayMs: number
  reason: string
}

/** Exponential backoff with jitter: base·2ⁿ, scaled by a random factor in [0.5, 1). */
export function backoffDelay(attempt: number, baseDelayMs: number = WAITS.baseDelayMs): number {
  return Math.round(baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2))
}

/** Retry-After as seconds or as an HTTP date (RFC 9110 §10.2.3), in milliseconds from now. */
export function parseRetryAfter(value: null | string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - now)
}

/**
 * Runs op until it succeeds with an answer `again` does not ask to repeat, fails with an error that
 * is not a retryable NetworkError, or the policy is spent. The server's Retry-After wins over our own
 * backoff.
 */
export async function withRetries<T>(op: (attempt: number) => Promise<T>, policy: RetryPolicy<T>, onRetry?: (notice: RetryNotice) => void): Promise<T> {
  const maxTotalWaitMs = policy.maxTotalWaitMs ?? WAITS.maxTotalWaitMs
  const sleep = policy.sleep ?? delay
  let waited = 0
  for (let attempt = 1; ; attempt++) {
    let outcome: {error: NetworkError} | {value: T}
    let request: RetryRequest | undefined
    try {
      const value = await op(attempt)
      request = policy.again?.(value)
      if (!request) return value
      outcome = {value}
    } catch (error) {
      if (!(error instanceof NetworkError) || !error.retryable) throw error
      request = {reason: error.message, retryAfterMs: error.retryAfterMs}
      outcome = {error}
    }

    const delayMs = request.retryAfterMs ?? backoffDelay(attempt, policy.baseDelayMs)
    if (attempt > policy.retries || waited + delayMs > maxTotalWaitMs) {
      if ('error' in outcome) throw outcome.error
      return outcome.value
    }

    request.release?.()
    onRetry?.({attempt, delayMs, reason: request.reason})
    await sleep(delayMs)
    waited += delayMs
  }
}

/** What a command hears of a wait: "waiting 2 s: 503 Service Unavailable". */
export function retryProgress(notice: RetryNotice): {delayMs: number; message: string; state: 'retry'} {
  return {delayMs: notice.delayMs, message: `waiting ${Math.max(1, Math.round(notice.delayMs / 1000))} s: ${notice.reason}`, state: 'retry'}
}
