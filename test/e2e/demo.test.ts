import {strict as assert} from 'node:assert'
import {readdirSync} from 'node:fs'

import {expectExit} from '../helpers/assertions.js'
import {runCli} from '../helpers/cli.js'

describe('demo', function () {
  this.timeout(120_000)

  it("walks both reference flows with real commands, names every step, exits 0, and leaves the user's home alone", async () => {
    const result = await runCli(['demo'], {timeoutMs: 110_000})
    expectExit(result, 0)
    // The walk is the output (`demo | less`): all of it on stdout, nothing for stderr.
    assert.equal(result.stderr, '')
    const steps = [...result.stdout.matchAll(/^ {2}(\d+)\. /gm)].map((match) => Number(match[1]))
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    for (const command of [
      'client add worker',
      'token client worker',
      'call http://127.0.0.1:',
      'token user',
      'client add api',
      'token obo api',
      'session start api',
      'session refresh --key nightly-report',
      'session end --key nightly-report',
    ]) {
      assert.ok(result.stdout.includes(`$ tokenctl ${command}`), `the demo shows "${command}"`)
    }

    assert.match(result.stdout, /token_source: identity_provider[^\n]*\n[^]*token_source: cache/)
    assert.match(result.stdout, /refreshed 1×/)
    assert.match(result.stdout, /refresh token revoked/)
    assert.match(result.stdout, /Every step worked\./)
    assert.match(result.stdout, /IdentityModel's worker[^]*Microsoft\.Identity\.Web's long-running OBO/, 'the reference flows named by their libraries')
    assert.doesNotMatch(result.stdout, /\bseeds?\b/i, 'no internal shorthand')
    assert.doesNotMatch(result.stdout, /worker-secret|api-secret/, 'no secret shown')
    assert.deepEqual(readdirSync(result.home), [], 'the demo used a home of its own')
  })
})
