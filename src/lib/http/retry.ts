import {setTimeout as delay} from 'node:timers/promises'

import {NetworkError} from '../errors.js'

export interface RetryPolicy {
  /** First backoff step; later steps double it. */
  baseDelayMs?: number
  /** Give up rather than wait longer than this in total (a Retry-After beyond it ends the retries). */
  maxTotalWaitMs?: number
  /** Attempts after the first one. */
  retries: number
  /** How a wait is made; a test passes its own to see the schedule without waiting it. */
  sleep?: (ms: number) => Promise<unknown>
}

export interface RetryNotice {
  attempt: number
  delayMs: number
  reason: string
}

const DEFAULT_BASE_DELAY_MS = 250
const DEFAULT_MAX_TOTAL_WAIT_MS = 60_000

/** Exponential backoff with jitter: base·2ⁿ, scaled by a random factor in [0.5, 1). */
export function backoffDelay(attempt: number, baseDelayMs = DEFAULT_BASE_DELAY_MS): number {
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
 * Runs op until it succeeds, fails with an error that is not a retryable NetworkError, or the
 * policy is spent. The server's Retry-After wins over our own backoff.
 */
export async function withRetries<T>(
  op: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (notice: RetryNotice) => void,
): Promise<T> {
  const maxTotalWaitMs = policy.maxTotalWaitMs ?? DEFAULT_MAX_TOTAL_WAIT_MS
  const sleep = policy.sleep ?? delay
  let waited = 0
  for (let attempt = 1; ; attempt++) {
    try {
      return await op(attempt)
    } catch (error) {
      if (!(error instanceof NetworkError) || !error.retryable || attempt > policy.retries) throw error
      const delayMs = error.retryAfterMs ?? backoffDelay(attempt, policy.baseDelayMs)
      if (waited + delayMs > maxTotalWaitMs) throw error
      onRetry?.({attempt, delayMs, reason: error.message})
      await sleep(delayMs)
      waited += delayMs
    }
  }
}
