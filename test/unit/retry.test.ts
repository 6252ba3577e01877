/**
 * Retries (src/lib/http/retry.ts, the one retry loop of token requests, documents and `call`), by
 * their schedule: every wait withRetries asks for is recorded instead of waited, so a test tells
 * "honoured Retry-After" from "backed off", and "gave up on a Retry-After beyond the budget" from
 * "ran out of retries", without a clock.
 */
import {strict as assert} from 'node:assert'

import {ConfigError, NetworkError} from '../../src/lib/errors.js'
import {backoffDelay, parseRetryAfter, type RetryNotice, type RetryPolicy, retryProgress, withRetries} from '../../src/lib/http/retry.js'

interface Schedule {
  /** The attempt numbers op was called with. */
  attempts: number[]
  notices: RetryNotice[]
  /** What withRetries settled with. */
  outcome: {error: unknown} | {value: string}
  waits: number[]
}

const throttled = (retryAfterMs?: number) => new NetworkError('429 Too Many Requests', 'server_error', {retryAfterMs, retryable: true})

/** Runs withRetries over answers (an Error is thrown, a string returned; the last one repeats). */
async function schedule(answers: Array<Error | string>, policy: Omit<RetryPolicy<string>, 'sleep'>): Promise<Schedule> {
  const attempts: number[] = []
  const notices: RetryNotice[] = []
  const waits: number[] = []
  const sleep = async (ms: number) => {
    waits.push(ms)
  }

  const op = async (attempt: number) => {
    attempts.push(attempt)
    const answer = answers[Math.min(attempt, answers.length) - 1]
    if (answer instanceof Error) throw answer
    return answer
  }

  try {
    const value = await withRetries(op, {...policy, sleep}, (notice) => notices.push(notice))
    return {attempts, notices, outcome: {value}, waits}
  } catch (error) {
    return {attempts, notices, outcome: {error}, waits}
  }
}

describe('retries of token requests (schedule, not time)', () => {
  let random: () => number
  beforeEach(() => {
    random = Math.random
  })
  afterEach(() => {
    Math.random = random
  })

  /** Jitter pinned: factor 0.5 + r/2. */
  const jitter = (r: number) => {
    Math.random = () => r
  }

  describe('backoffDelay', () => {
    it('doubles from the base, scaled by a jitter factor in [0.5, 1)', () => {
      jitter(0)
      assert.deepEqual(
        [1, 2, 3, 4].map((attempt) => backoffDelay(attempt, 100)),
        [50, 100, 200, 400],
      )
      jitter(0.5)
      assert.deepEqual(
        [1, 2, 3].map((attempt) => backoffDelay(attempt, 100)),
        [75, 150, 300],
      )
      jitter(0.999_999)
      assert.deepEqual(
        [1, 2, 3].map((attempt) => backoffDelay(attempt, 100)),
        [100, 200, 400],
      )
    })

    it('starts from 250 ms by default', () => {
      jitter(0)
      assert.deepEqual(
        [1, 2, 3].map((attempt) => backoffDelay(attempt)),
        [125, 250, 500],
      )
    })
  })

  describe('parseRetryAfter (RFC 9110 §10.2.3)', () => {
    const now = Date.parse('2026-11-25T10:00:00Z')

    it('reads seconds, surrounding spaces allowed', () => {
      assert.equal(parseRetryAfter('3', now), 3000)
      assert.equal(parseRetryAfter(' 7 ', now), 7000)
      assert.equal(parseRetryAfter('0', now), 0)
      assert.equal(parseRetryAfter('120', now), 120_000)
    })

    it('takes only whole seconds: "5 seconds" and "-5" are no delays (the date parser makes a past date of "-5")', () => {
      assert.equal(parseRetryAfter('5 seconds', now), undefined)
      assert.equal(parseRetryAfter('-5', now), 0)
    })

    it('reads an HTTP date as the time from now, never negative', () => {
      assert.equal(parseRetryAfter('Wed, 25 Nov 2026 10:00:05 GMT', now), 5000)
      assert.equal(parseRetryAfter('Wed, 25 Nov 2026 09:00:00 GMT', now), 0)
    })

    it('is undefined when absent or unreadable', () => {
      for (const value of [undefined, null, '', 'soon', '-1 seconds']) assert.equal(parseRetryAfter(value, now), undefined, String(value))
    })

    it('measures a date from the current time by default', () => {
      const inTenSeconds = new Date(Date.now() + 10_000).toUTCString()
      const ms = parseRetryAfter(inTenSeconds)!
      assert.ok(ms > 8000 && ms <= 10_000, `${ms} ms`) // the date has whole seconds: up to 1 s is lost
    })
  })

  describe('withRetries', () => {
    it('returns the first success without waiting', async () => {
      const run = await schedule(['ok'], {retries: 3})
      assert.deepEqual(run, {attempts: [1], notices: [], outcome: {value: 'ok'}, waits: []})
    })

    it('backs off exponentially between retryable failures, announcing each wait', async () => {
      jitter(0)
      const failure = new NetworkError('503 Service Unavailable', 'server_error', {retryable: true})
      const run = await schedule([failure, failure, 'ok'], {baseDelayMs: 100, retries: 3})
      assert.deepEqual(run.outcome, {value: 'ok'})
      assert.deepEqual(run.attempts, [1, 2, 3])
      assert.deepEqual(run.waits, [50, 100])
      assert.deepEqual(run.notices, [
        {attempt: 1, delayMs: 50, reason: '503 Service Unavailable'},
        {attempt: 2, delayMs: 100, reason: '503 Service Unavailable'},
      ])
    })

    it('waits what Retry-After says, not its own backoff', async () => {
      jitter(0)
      const run = await schedule([throttled(3000), throttled(7000), 'ok'], {retries: 3})
      assert.deepEqual(run.outcome, {value: 'ok'})
      assert.deepEqual(run.waits, [3000, 7000])
      assert.deepEqual(
        run.notices.map((notice) => notice.delayMs),
        [3000, 7000],
      )
    })

    it('ran out of retries: every retry waited, the last failure thrown', async () => {
      jitter(0)
      const last = throttled(1000)
      const run = await schedule([throttled(1000), throttled(1000), last], {retries: 2})
      assert.deepEqual(run.attempts, [1, 2, 3])
      assert.deepEqual(run.waits, [1000, 1000])
      assert.deepEqual(run.outcome, {error: last})
    })

    it('gave up on Retry-After: a wait beyond the budget is not begun, and the failure thrown at once', async () => {
      const failure = throttled(120_000)
      const run = await schedule([failure, 'ok'], {maxTotalWaitMs: 60_000, retries: 3})
      assert.deepEqual(run.attempts, [1])
      assert.deepEqual(run.waits, [])
      assert.deepEqual(run.notices, [])
      assert.deepEqual(run.outcome, {error: failure})
    })

    it('counts the budget over every wait: up to it exactly, not a millisecond more', async () => {
      const run = await schedule([throttled(20_000)], {maxTotalWaitMs: 60_000, retries: 5})
      assert.deepEqual(run.waits, [20_000, 20_000, 20_000])
      assert.deepEqual(run.attempts, [1, 2, 3, 4])
      const over = await schedule([throttled(20_000), throttled(20_000), throttled(20_001)], {maxTotalWaitMs: 40_000, retries: 5})
      assert.deepEqual(over.waits, [20_000, 20_000])
    })

    it('has a budget of 60 s by default', async () => {
      assert.deepEqual((await schedule([throttled(60_000), 'ok'], {retries: 1})).waits, [60_000])
      assert.deepEqual((await schedule([throttled(60_001), 'ok'], {retries: 1})).waits, [])
    })

    it('never retries what is not a retryable NetworkError', async () => {
      for (const failure of [new NetworkError('404', 'invalid_response', {retryable: false}), new NetworkError('refused'), new ConfigError('no')]) {
        const run = await schedule([failure, 'ok'], {retries: 3})
        assert.deepEqual({attempts: run.attempts, outcome: run.outcome, waits: run.waits}, {attempts: [1], outcome: {error: failure}, waits: []}, failure.message)
      }
    })

    it('with retries 0, tries once', async () => {
      const failure = throttled(1)
      assert.deepEqual(await schedule([failure, 'ok'], {retries: 0}), {attempts: [1], notices: [], outcome: {error: failure}, waits: []})
    })

    describe('answers that ask for another attempt (call: a 503 is an answer, not an error)', () => {
      /** `busy` and `busy:MS` ask again (MS: its Retry-After); anything else is kept. Releases are recorded. */
      function asking(released: string[]): RetryPolicy<string>['again'] {
        return (value) => {
          const [word, after] = value.split(':')
          if (word !== 'busy') return undefined
          return {reason: `503 ${value}`, release: () => released.push(value), retryAfterMs: after === undefined ? undefined : Number(after)}
        }
      }

      it('retries them as errors are retried: Retry-After or backoff, each wait announced, each answer let go', async () => {
        jitter(0)
        const released: string[] = []
        const run = await schedule(['busy:3000', 'busy', 'ok'], {again: asking(released), baseDelayMs: 100, retries: 3})
        assert.deepEqual(run.outcome, {value: 'ok'})
        assert.deepEqual(run.attempts, [1, 2, 3])
        assert.deepEqual(run.waits, [3000, 100])
        assert.deepEqual(run.notices, [
          {attempt: 1, delayMs: 3000, reason: '503 busy:3000'},
          {attempt: 2, delayMs: 100, reason: '503 busy'},
        ])
        assert.deepEqual(released, ['busy:3000', 'busy'])
      })

      it('out of retries: the last answer is returned as it is, not let go', async () => {
        const released: string[] = []
        const run = await schedule(['busy:10', 'busy:20', 'busy:30'], {again: asking(released), retries: 2})
        assert.deepEqual(run.outcome, {value: 'busy:30'})
        assert.deepEqual(run.waits, [10, 20])
        assert.deepEqual(released, ['busy:10', 'busy:20'])
      })

      it('a wait beyond the budget is not begun: that answer is returned, not let go', async () => {
        const released: string[] = []
        const run = await schedule(['busy:20000', 'busy:40001', 'ok'], {again: asking(released), maxTotalWaitMs: 60_000, retries: 5})
        assert.deepEqual(run.outcome, {value: 'busy:40001'})
        assert.deepEqual(run.waits, [20_000])
        assert.deepEqual(released, ['busy:20000'])
        const exactly = await schedule(['busy:20000', 'busy:40000', 'ok'], {again: asking([]), maxTotalWaitMs: 60_000, retries: 5})
        assert.deepEqual(exactly.outcome, {value: 'ok'})
      })

      it('with retries 0, the first answer is returned whatever it asks', async () => {
        const released: string[] = []
        assert.deepEqual(await schedule(['busy:1', 'ok'], {again: asking(released), retries: 0}), {attempts: [1], notices: [], outcome: {value: 'busy:1'}, waits: []})
        assert.deepEqual(released, [])
      })

      it('errors and answers share the attempts and the budget', async () => {
        const run = await schedule([throttled(30_000), 'busy:30000', 'busy:1'], {again: asking([]), maxTotalWaitMs: 60_000, retries: 5})
        assert.deepEqual(run.waits, [30_000, 30_000])
        assert.deepEqual(run.outcome, {value: 'busy:1'})
        const spent = await schedule(['busy:1', throttled(1), throttled(1)], {again: asking([]), retries: 2})
        assert.deepEqual(spent.attempts, [1, 2, 3])
        assert.ok('error' in spent.outcome)
      })
    })

    it('retryProgress: what a command shows of a wait, in whole seconds, at least 1', () => {
      assert.deepEqual(retryProgress({attempt: 1, delayMs: 2400, reason: '503 Service Unavailable'}), {delayMs: 2400, message: 'waiting 2 s: 503 Service Unavailable', state: 'retry'})
      assert.equal(retryProgress({attempt: 1, delayMs: 2500, reason: 'x'}).message, 'waiting 3 s: x')
      assert.equal(retryProgress({attempt: 2, delayMs: 120, reason: 'x'}).message, 'waiting 1 s: x')
    })

    it('really waits when no sleep is given', async () => {
      const started = Date.now()
      let calls = 0
      const value = await withRetries(
        async () => {
          if (++calls === 1) throw throttled(200)
          return 'ok'
        },
        {retries: 1},
      )
      assert.equal(value, 'ok')
      assert.ok(Date.now() - started >= 195, `waited ${Date.now() - started} ms of Retry-After: 0.2 s`)
    })
  })
})
