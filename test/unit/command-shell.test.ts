/**
 * How a failure is told (src/lib/command-shell.ts, CommandShell.fail): one line on stderr, the
 * exit code README's "Exit codes" gives, and with --verbose a stack trace for an internal error (exit 1, a bug) only —
 * an expected outcome (a refusal, a failed check, an unknown session) is never shown as a crash.
 * test/e2e/first-hour.test.ts runs the expected outcomes through the CLI.
 */
import {strict as assert} from 'node:assert'

import {CommandShell} from '../../src/lib/command-shell.js'
import {AuthorizationError, ConfigError, ExitCode, InternalError, NetworkError, TokenInvalidError, UsageError} from '../../src/lib/errors.js'

/** What fail() writes on stderr, and the exit code it sets. */
async function told(error: unknown, verbose: boolean): Promise<{exitCode: typeof process.exitCode; stderr: string}> {
  const write = process.stderr.write.bind(process.stderr)
  const saved = process.exitCode
  let stderr = ''
  process.stderr.write = (chunk: string | Uint8Array) => {
    stderr += chunk.toString()
    return true
  }
  try {
    await new CommandShell({json: false, verbose}).fail(error)
    return {exitCode: process.exitCode, stderr}
  } finally {
    process.stderr.write = write
    process.exitCode = saved
  }
}

const STACK_LINE = /^\s+at .+$/m

describe('a failure, told: a stack trace with --verbose only for an internal error', () => {
  it('an internal error (exit 1): its stack with --verbose, the one line without', async () => {
    for (const error of [new TypeError('cannot read properties of undefined'), new InternalError('internal error: boom')]) {
      const verbose = await told(error, true)
      assert.equal(verbose.exitCode, ExitCode.internal)
      assert.match(verbose.stderr, STACK_LINE)
      const quiet = await told(error, false)
      assert.doesNotMatch(quiet.stderr, STACK_LINE)
      assert.equal(quiet.stderr.trimEnd().split('\n').length, 1)
    }
  })

  it('the stack of what caused an internal error, when it wraps one', async () => {
    const cause = new RangeError('the real place')
    const {stderr} = await told(new InternalError('internal error: wrapped', {cause}), true)
    assert.match(stderr, /RangeError: the real place/)
  })

  it('an expected outcome, whatever its exit code: one line, no stack, with --verbose too', async () => {
    const expected = [
      new UsageError('--scope is empty'),
      new ConfigError('unknown session "nope"', 'unknown_session'),
      new AuthorizationError('the server refused', 'invalid_client'),
      new NetworkError('no answer within 30 s', 'timeout'),
      new TokenInvalidError('the token fails a check: audience'),
    ]
    for (const error of expected) {
      const {exitCode, stderr} = await told(error, true)
      assert.equal(exitCode, error.exitCode)
      assert.doesNotMatch(stderr, STACK_LINE, error.message)
      assert.equal(stderr.trimEnd().split('\n').length, 1, stderr)
    }
  })
})
