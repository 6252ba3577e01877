/**
 * The polling rules of RFC 8628 that oidc-provider 9 leaves out: its device authorization response
 * announces no `interval` (clients then default to 5 s) and its token endpoint never answers
 * `slow_down`. Both are added here as Koa middleware around the provider's routes, after they ran:
 * - the device authorization response gets `interval`;
 * - a poll that would have been answered `authorization_pending` but came sooner than the device
 *   code's interval after the previous poll is answered `slow_down` instead, and that code's interval
 *   grows by 5 s for every later poll (RFC 8628 §3.5). A poll that gets tokens or a final error is
 *   never held back: only waiting is slowed down.
 */
import type {OidcProvider} from './oidc.js'
import {DEVICE_CODE_GRANT} from '../oauth/urns.js'

/** RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent requests". */
const SLOW_DOWN_STEP_SECONDS = 5
/** Polls measured at the server arrive at least an interval apart from a client that waits one; a little slack for clocks. */
const GRACE_MS = 50

interface PollingContext {
  status: number
  body: unknown
  oidc?: {route?: string; params?: {grant_type?: unknown; device_code?: unknown}}
}

interface Polling {
  lastPoll: number
  intervalSeconds: number
}

export function enforceDevicePolling(provider: OidcProvider, intervalSeconds: number): void {
  // Keyed by device code; an entry goes when its polling ends (tokens, denial, expiry answered).
  const polls = new Map<string, Polling>()
  provider.use(async (ctx: PollingContext, next) => {
    await next()
    const route = ctx.oidc?.route
    if (route === 'device_authorization' && ctx.status === 200 && isRecord(ctx.body)) {
      ctx.body.interval = intervalSeconds
    } else if (route === 'token' && ctx.oidc?.params?.grant_type === DEVICE_CODE_GRANT) {
      answerPoll(ctx, polls, intervalSeconds)
    }
  })
}

function answerPoll(ctx: PollingContext, polls: Map<string, Polling>, intervalSeconds: number): void {
  const code = ctx.oidc?.params?.device_code
  if (typeof code !== 'string') return
  if (!isRecord(ctx.body) || ctx.body.error !== 'authorization_pending') {
    polls.delete(code)
    return
  }

  const now = Date.now()
  const previous = polls.get(code)
  if (previous === undefined) {
    polls.set(code, {lastPoll: now, intervalSeconds})
    return
  }

  const tooSoon = now - previous.lastPoll < previous.intervalSeconds * 1000 - GRACE_MS
  previous.lastPoll = now
  if (!tooSoon) return
  previous.intervalSeconds += SLOW_DOWN_STEP_SECONDS
  ctx.body = {
    error: 'slow_down',
    error_description: `polling too fast: wait at least ${previous.intervalSeconds} s between requests`,
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Buffer.isBuffer(value)
}
