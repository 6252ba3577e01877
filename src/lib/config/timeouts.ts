import {UsageError} from '../errors.js'

export const DEFAULT_TIMEOUT_SECONDS = 30

/**
 * The longest wait any timeout of tokenctl may be given (--timeout, call's --timeout, token user's
 * --wait): one day. Node's timers hold at most 2^31-1 ms (24.8 days); a longer delay fires at once,
 * so a larger value would make every request time out immediately rather than never.
 */
export const MAX_TIMEOUT_SECONDS = 86_400

/** A timeout from flags, a named client or a session: within 1 s to a day (a config.json edited by hand included). */
export function timeoutSecondsOf(timeout: number | undefined): number {
  if (timeout === undefined) return DEFAULT_TIMEOUT_SECONDS
  if (!(timeout > 0 && timeout <= MAX_TIMEOUT_SECONDS)) throw new UsageError(`--timeout must be a number of seconds from 1 to ${MAX_TIMEOUT_SECONDS}`)
  return timeout
}
