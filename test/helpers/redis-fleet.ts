/**
 * The promises of the fleet store on a replicated Redis (README, "A fleet: sessions and the token
 * cache on Redis"), as one set of end-to-end tests that a topology's test file runs against the
 * topology it starts once (test/e2e/redis-sentinel.test.ts, test/e2e/redis-cluster.test.ts):
 *
 * - a write a later run depends on is acknowledged by a replica before the command returns: a
 *   refresh whose rotated refresh token reached only the primary is not done when the primary dies
 *   (WAIT); it writes again on the promoted replica (the retry through a failover), and the next
 *   refresh presents that token;
 * - a failover in the middle of refreshes from several homes and processes loses no grant and
 *   presents no refresh token twice (the authorization server's reuse detection is the judge);
 * - a replica that does not acknowledge (paused) makes the command warn, not hang;
 * - the Redis password is in no output of any run.
 *
 * The authorization server's record (test/helpers/auth-server.ts) counts a refresh token presented
 * twice, as a server with reuse detection would, which then revokes the user's whole grant.
 */
import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {setTimeout as sleep} from 'node:timers/promises'

import {expectExit, stdoutJson as json, waitFor} from './assertions.js'
import {type AuthServer, useAuthServer} from './auth-server.js'
import {type CliOptions, type CliResult, cliWithHome} from './cli.js'
import type {RedisTopology} from './redis-topologies.js'

const PASSPHRASE = 'fleet passphrase from a secret manager'
const sha256hex = (text: string) => createHash('sha256').update(text).digest('hex')
/** Where tokenctl keeps a session (README: one hash tag per entry). */
export const sessionEntryKey = (key: string) => `tokenctl:{${sha256hex(`session:${key}`)}}e:session`
/** Each run must redeem the refresh token: the token the server issues lives less than this. */
const REDEEM = ['--min-ttl', '86400']

export interface ReplicatedFleetOptions {
  start: () => Promise<RedisTopology>
  /** Checks what `store status` says the store reached (the location), for this topology. */
  reached: (topology: RedisTopology, location: string) => Promise<void> | void
  /** The word `store status` gives the topology in its reason ("Sentinel", "Cluster"). */
  topologyName: string
}

export function fleetOnReplicatedRedis(options: ReplicatedFleetOptions): void {
  let server: AuthServer
  let topology: RedisTopology
  const outputs: CliResult[] = []
  let sessions = 0

  useAuthServer((started) => {
    server = started
  })
  before(async function () {
    this.timeout(120_000)
    topology = await options.start()
  })
  after(async function () {
    this.timeout(60_000)
    await topology?.dispose()
  })
  afterEach(async function () {
    this.timeout(120_000)
    await topology?.restore() // every node back, in sync: the next test starts from the topology as it began
  })

  type Home = ReturnType<typeof recordedHome>
  function recordedHome() {
    const home = cliWithHome({env: {...topology.env, TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}})
    const kept = (result: CliResult) => {
      outputs.push(result)
      return result
    }

    return {
      home: home.home,
      run: async (args: string[], runOptions?: CliOptions) => kept(await home.run(args, runOptions)),
      start(args: string[], runOptions?: CliOptions) {
        const started = home.start(args, runOptions)
        started.result.then(kept, () => {})
        return started
      },
    }
  }

  const homes = (n: number): Home[] => Array.from({length: n}, () => recordedHome())

  /** Home A adds the web API's client (its secret goes to Redis) and starts a session of its own. */
  async function sharedSession(a: Home, what: string): Promise<string> {
    const key = `${what}-${++sessions}`
    expectExit(await a.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret}), 0)

    const userToken = await server.mintUserToken({aud: 'api', sub: key})
    expectExit(await a.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--key', key], {env: {USER_TOKEN: userToken}}), 0)
    server.resetCounters()
    return key
  }

  it('store status names the topology and what it reached, from the URL alone or with the password in it', async () => {
    const [home] = homes(1)
    const status = await home.run(['store', 'status', '--json'])
    expectExit(status, 0)
    const body = json(status)
    assert.equal(body.backend, 'redis')
    assert.equal(body.ok, true)
    assert.match(body.reason, new RegExp(`TOKENCTL_STORE=redis \\(${options.topologyName} from TOKENCTL_REDIS_URL`))
    assert.ok(body.location.startsWith(`Redis at ${topology.env.TOKENCTL_REDIS_URL} (`), body.location)
    await options.reached(topology, body.location)
    const human = await home.run(['store', 'status'])
    expectExit(human, 0)
    assert.ok(human.stdout.includes(`location: ${body.location}`), human.stdout)

    const inUrl = await home.run(['store', 'status', '--json'], {env: {TOKENCTL_REDIS_PASSWORD: undefined, TOKENCTL_REDIS_URL: topology.url}})
    expectExit(inUrl, 0)
    assert.equal(json(inUrl).location, body.location, 'the password in the URL is shown nowhere')
    const wrong = await home.run(['store', 'status', '--json'], {env: {TOKENCTL_REDIS_PASSWORD: 'not-the-password'}})
    expectExit(wrong, 7)
    assert.match(json(wrong).error, /refused tokenctl's credentials/)
  })

  it('a refresh whose rotated refresh token reached only the primary is not done: the primary killed then, it writes again on the promoted replica, and the next refresh presents that token', async () => {
    const [a, b] = homes(2)
    const key = await sharedSession(a, 'lagging')
    const entry = sessionEntryKey(key)
    const primary = await topology.primaryFor(entry)
    const replica = await topology.replicaOf(primary)
    const before = await primary.getBuffer(entry)
    // The refresh answers after a while: time to stop the replica once the lock is taken (and acknowledged).
    server.injectTokenFaults({delayMs: 1500})
    const run = a.start(['session', 'refresh', '--key', key, ...REDEEM, '--json'], {timeoutMs: 120_000})
    await waitFor(() => server.tokenRequests.length > 0, 30_000)
    assert.equal(server.tokenRequests.length, 1, 'the refresh is at the server')
    // The replica stops, and the primary drops its link: what the primary takes from now on stays there
    // (a stopped replica alone would still find in its socket what was sent before the primary died).
    replica.pause()
    await primary.cli('CLIENT', 'KILL', 'TYPE', 'replica')
    let killedAfterTheWrite = false
    try {
      // The rotated refresh token reaches the primary and nowhere else: kill the primary at once.
      for (let waited = 0; waited < 20_000; waited += 2) {
        const now = await primary.getBuffer(entry)
        if (now && before && !now.equals(before)) {
          killedAfterTheWrite = true
          break
        }

        await sleep(2)
      }

      assert.ok(killedAfterTheWrite, 'the refresh wrote to the primary')
      await topology.failover(primary, () => replica.resume())
    } finally {
      replica.resume()
    }

    const result = await run.result
    expectExit(result, 0)
    assert.equal(json(result).token_source, 'identity_provider')
    assert.doesNotMatch(result.stderr, /warning/, `acknowledged in the end: by the promoted replica, written again there: ${result.stderr}`)
    assert.equal(server.refreshTokenUses.length, 1)

    const next = await b.run(['session', 'refresh', '--key', key, ...REDEEM, '--json'], {timeoutMs: 60_000})
    expectExit(next, 0)
    assert.equal(json(next).token_source, 'identity_provider')
    assert.equal(server.refreshTokenUses.length, 2)
    assert.equal(server.reuseDetected, 0, 'the next refresh presented the rotated refresh token, not the one before it')
    assert.ok(server.refreshTokenUses.every((use) => use.status === 200))
  })

  it('the primary killed in the middle of refreshes from three homes, two processes each: every grant kept, no refresh token presented twice, the grant alive after', async () => {
    const fleet = homes(3)
    const key = await sharedSession(fleet[0], 'storm')
    const entry = sessionEntryKey(key)
    const results: CliResult[] = []
    let stop = false
    const loop = async (home: Home) => {
      while (!stop) results.push(await home.run(['session', 'refresh', '--key', key, ...REDEEM, '--json'], {timeoutMs: 120_000}))
    }

    const loops = fleet.flatMap((home) => [loop(home), loop(home)])
    await waitFor(() => server.refreshTokenUses.length >= 4, 60_000)
    const atFailover = server.refreshTokenUses.length
    await topology.failover(await topology.primaryFor(entry))
    await waitFor(() => server.refreshTokenUses.length >= atFailover + 6, 90_000)
    stop = true
    await Promise.all(loops)

    for (const result of results) assert.ok(result.code === 0 || result.code === 7, `exit ${result.code}: ${result.stdout}${result.stderr}`)
    const granted = results.filter((result) => result.code === 0 && json(result).token_source === 'identity_provider').length
    const unavailable = results.filter((result) => result.code === 7)
    for (const result of unavailable) assert.equal(json(result).error.code, 'store_unavailable', result.stdout)
    assert.ok(server.refreshTokenUses.length > atFailover + 5, 'refreshes went on after the failover')
    assert.equal(server.reuseDetected, 0, 'no refresh token presented twice')
    assert.ok(server.refreshTokenUses.every((use) => use.status === 200))
    assert.equal(granted, server.refreshTokenUses.length, 'every grant served a run that exited 0: none was redeemed and then lost')
    const shown = json(await fleet[1].run(['session', 'show', '--key', key, '--json']))
    assert.equal(shown.refresh_count, server.refreshTokenUses.length, 'every rotated refresh token was kept')
    const after = await fleet[2].run(['session', 'refresh', '--key', key, ...REDEEM, '--json'])
    expectExit(after, 0)
    assert.equal(server.reuseDetected, 0, 'the grant is alive')
    console.log(`      ${results.length} runs over 3 homes: ${granted} grants (${granted - atFailover} after the failover), ${unavailable.length} exit 7 during it, 0 reuse`)
  })

  it('a paused replica: the command warns once on stderr that a failover could lose the write, and returns its token', async () => {
    const [home] = homes(1)
    const key = await sharedSession(home, 'paused')
    const replica = await topology.replicaOf(await topology.primaryFor(sessionEntryKey(key)))
    replica.pause()
    let result: CliResult
    try {
      result = await home.run(['session', 'refresh', '--key', key, '--force', '--json'], {timeoutMs: 60_000})
    } finally {
      replica.resume()
    }

    expectExit(result, 0)
    assert.equal(json(result).token_source, 'identity_provider', 'stdout is the token, as ever')
    const warnings = result.stderr.split('\n').filter(Boolean)
    assert.equal(warnings.length, 1, result.stderr)
    assert.match(
      warnings[0],
      /^warning: no replica of Redis at \S+ acknowledged the write of the lock on "session:paused-\d+" within 1 s: if the primary fails over now, the write can be lost; check its replicas \(redis-cli INFO replication\)$/,
    )
    const again = await home.run(['session', 'refresh', '--key', key, '--force', '--json'])
    expectExit(again, 0)
    assert.equal(again.stderr, '', 'the replica back: no warning')
    assert.equal(server.reuseDetected, 0)
  })

  it('the Redis password is in no output of any run above', () => {
    assert.ok(outputs.length > 20, `${outputs.length} runs`)
    for (const result of outputs) {
      assert.ok(!result.stdout.includes(topology.password) && !result.stderr.includes(topology.password), `${result.stdout}${result.stderr}`)
    }
  })
}
