import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {redisSettings, RedisStore} from '../../src/lib/store/redis-store.js'
import {allFileContents, expectExit, stdoutJson as json, waitFor} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {cliWithHome, runNode, tempHome} from '../helpers/cli.js'
import {requireRedis, type RedisServer} from '../helpers/redis.js'

const PASSPHRASE = 'fleet passphrase from a secret manager'
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const sha256hex = (text: string) => createHash('sha256').update(text).digest('hex')

type Home = ReturnType<typeof cliWithHome>

describe('a fleet on Redis (end to end: three homes sharing nothing but a real redis-server)', function () {
  this.timeout(120_000)
  let server: AuthServer
  let redis: RedisServer
  let prefixes = 0

  useAuthServer((started) => {
    server = started
  })
  before(async () => {
    // An ACL user that may run tokenctl's commands on keys under tokenctl* and nothing else.
    redis = await requireRedis({acl: true})
  })
  after(async () => {
    await redis?.dispose()
  })

  /** n homes (n hosts) on a prefix of their own in the shared Redis. */
  function fleet(n = 3, env: Record<string, string | undefined> = {}): {homes: Home[]; prefix: string} {
    const prefix = `tokenctl-e2e-${process.pid}-${++prefixes}:`
    const homes = Array.from({length: n}, () => cliWithHome({env: {...redis.env, TOKENCTL_REDIS_PREFIX: prefix, TOKENCTL_STORE_PASSPHRASE: PASSPHRASE, ...env}}))
    return {homes, prefix}
  }

  /** Reads an entry as tokenctl does, in this process (with a home of its own, where the store remembers its salt). */
  async function stored(prefix: string, name: string, over: RedisServer = redis): Promise<string | undefined> {
    const previous = process.env.TOKENCTL_HOME
    process.env.TOKENCTL_HOME = tempHome()
    const store = new RedisStore({passphrase: PASSPHRASE, settings: redisSettings({...over.env, TOKENCTL_REDIS_PREFIX: prefix})})
    try {
      return await store.get(name)
    } finally {
      await store.close()
      if (previous === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = previous
    }
  }

  /** Home A adds the web API's client (its secret goes to Redis) and starts session `key`; the other homes have nothing. */
  async function sharedSession(homes: Home[], key = 'nightly-report', sub = 'alice'): Promise<void> {
    const [a] = homes
    const add = await a.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret})
    expectExit(add, 0)
    const userToken = await server.mintUserToken({aud: 'api', sub})
    expectExit(await a.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--key', key], {env: {USER_TOKEN: userToken}}), 0)
    server.resetCounters()
  }

  it('store status: backend redis, why, the server (never its password), and that it answers', async () => {
    const {
      homes: [home],
    } = fleet(1)
    const status = await home.run(['store', 'status', '--json'])
    expectExit(status, 0)
    const body = json(status)
    assert.equal(body.backend, 'redis')
    assert.equal(body.ok, true)
    assert.match(body.reason, /TOKENCTL_STORE=redis/)
    assert.ok(body.location.includes(redis.display), body.location)
    const human = await home.run(['store', 'status'])
    for (const text of [status.stdout, status.stderr, human.stdout, human.stderr]) assert.ok(!text.includes(redis.password), 'no password')
    assert.match(human.stdout, /backend: +redis/)

    const inUrl = await home.run(['store', 'status', '--json'], {env: {TOKENCTL_REDIS_PASSWORD: undefined, TOKENCTL_REDIS_URL: redis.url}})
    expectExit(inUrl, 0)
    assert.ok(!inUrl.stdout.includes(redis.password))
    const wrong = await home.run(['store', 'status', '--json'], {env: {TOKENCTL_REDIS_PASSWORD: 'not-the-password'}})
    expectExit(wrong, 7)
    assert.equal(json(wrong).ok, false)
    assert.match(json(wrong).error, /refused tokenctl's credentials/)
  })

  it('a hit on the fast path loads ioredis from the one file the build puts beside it, never its forty files, and answers as oclif does', async () => {
    const {
      homes: [home],
      prefix,
    } = fleet(1)
    const add = await home.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: server.clients.basic.clientSecret})
    expectExit(add, 0)
    expectExit(await home.run(['token', 'client', 'ci']), 0)
    const traced = async (env: Record<string, string> = {}) => {
      const trace = join(tempHome(), 'modules.txt')
      const result = await runNode(['--no-warnings', '--require', join(ROOT, 'bench', 'module-trace.cjs'), join(ROOT, 'bin', 'run.js'), 'token', 'client', 'ci', '--json'], {
        env: {...redis.env, TOKENCTL_REDIS_PREFIX: prefix, TOKENCTL_STORE_PASSPHRASE: PASSPHRASE, TOKENCTL_MODULE_TRACE: trace, ...env},
        home: home.home,
      })
      return {...result, modules: readFileSync(trace, 'utf8')}
    }

    const fast = await traced()
    const oclif = await traced({TOKENCTL_NO_FAST_PATH: '1'})
    expectExit(fast, 0)
    assert.equal(json(fast).token_source, 'cache')
    const normal = (text: string) => text.replaceAll(/"expires_in": \d+/g, '"expires_in": <seconds>')
    assert.deepEqual([fast.code, normal(fast.stdout), fast.stderr], [oclif.code, normal(oclif.stdout), oclif.stderr])
    assert.match(fast.modules, /\/dist\/fast-path\/ioredis\.cjs\n/)
    assert.doesNotMatch(fast.modules, /\/node_modules\/ioredis\//)
    assert.match(oclif.modules, /\/node_modules\/ioredis\//, 'oclif loads the package itself')
  })

  it('30 overlapping session refresh --force --key K over three homes: all exit 0, zero reuse, the session alive afterwards', async () => {
    const {homes} = fleet()
    await sharedSession(homes)
    const runs = Array.from({length: 30}, (_, i) => homes[i % 3].start(['session', 'refresh', '--key', 'nightly-report', '--force', '--json'], {timeoutMs: 90_000}))
    const results = await Promise.all(runs.map((run) => run.result))
    for (const result of results) expectExit(result, 0)
    assert.equal(server.reuseDetected, 0, 'no refresh token presented twice')
    assert.ok(server.refreshTokenUses.length >= 1)
    assert.ok(server.refreshTokenUses.every((use) => use.status === 200 && !use.alreadyUsed))
    assert.equal(new Set(server.refreshTokenUses.map((use) => use.sha256)).size, server.refreshTokenUses.length)
    const fromIdp = results.filter((result) => json(result).token_source === 'identity_provider').length
    assert.equal(fromIdp, server.refreshTokenUses.length, 'each refresh token grant served one run; the others reused its token')
    console.log(`      30 runs over 3 homes: ${server.refreshTokenUses.length} refresh(es) at the server, ${30 - fromIdp} served the fresh token, 0 reuse`)

    const after = await homes[2].run(['session', 'refresh', '--key', 'nightly-report', '--force', '--json'])
    expectExit(after, 0)
    assert.equal(json(after).token_source, 'identity_provider', 'the grant is alive')
    assert.equal(server.reuseDetected, 0)
  })

  it('15 overlapping refreshes over three homes that must each redeem (--min-ttl beyond the token life): 15 grants in turn, each refresh token once', async () => {
    const {homes} = fleet()
    await sharedSession(homes, 'every-run')
    const runs = Array.from({length: 15}, (_, i) => homes[i % 3].start(['session', 'refresh', '--key', 'every-run', '--min-ttl', '86400', '--json'], {timeoutMs: 90_000}))
    const results = await Promise.all(runs.map((run) => run.result))
    for (const result of results) expectExit(result, 0)
    assert.equal(server.refreshTokenUses.length, 15, 'every run redeemed the refresh token')
    assert.equal(new Set(server.refreshTokenUses.map((use) => use.sha256)).size, 15, 'each time the one its predecessor stored')
    assert.equal(server.reuseDetected, 0)
    assert.equal(json(await homes[0].run(['session', 'show', '--key', 'every-run', '--json'])).refresh_count, 15)
  })

  it('a session started on one home is listed, shown, refreshed and ended on the others, with nothing there but the shared Redis', async () => {
    const {
      homes: [a, b, c],
    } = fleet()
    await sharedSession([a, b, c], 'shared-1', 'bob')
    const list = await b.run(['session', 'list', '--json'])
    expectExit(list, 0)
    assert.deepEqual(
      json(list).map((session: {session_key: string}) => session.session_key),
      ['shared-1'],
    )
    assert.equal(json(list)[0].client, 'api')

    // Home C has no client "api" in its config: the session remembers its client, Redis holds the secret.
    assert.equal(readFileSync(join(a.home, 'config.json'), 'utf8').includes('"api"'), true)
    const refreshed = await c.run(['session', 'refresh', '--key', 'shared-1', '--force', '--json'])
    expectExit(refreshed, 0)
    assert.equal(json(refreshed).token_source, 'identity_provider')
    const shown = json(await a.run(['session', 'show', '--key', 'shared-1', '--json']))
    assert.equal(shown.refresh_count, 1, "home A sees home C's refresh")
    assert.equal(json(await b.run(['session', 'list', '--json']))[0].refresh_count, 1, 'and so does the index')

    const ended = await b.run(['session', 'end', '--key', 'shared-1', '--json'])
    expectExit(ended, 0)
    assert.equal(json(ended).revocation, 'revoked')
    assert.deepEqual(json(await a.run(['session', 'list', '--json'])), [])
    expectExit(await c.run(['session', 'refresh', '--key', 'shared-1']), 3)
  })

  it('10 concurrent cold token client runs over three homes: one token request', async () => {
    const {homes} = fleet()
    const [a, ...others] = homes
    // Home A stores the secret in Redis; B and C name the same client without a secret of their own.
    expectExit(await a.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: server.clients.basic.clientSecret}), 0)
    for (const home of others) expectExit(await home.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic']), 0)
    server.resetCounters()
    const runs = Array.from({length: 10}, (_, i) => homes[i % 3].start(['token', 'client', 'ci', '--json'], {timeoutMs: 60_000}))
    const results = await Promise.all(runs.map((run) => run.result))
    for (const result of results) expectExit(result, 0)
    assert.equal(server.tokenRequests.length, 1, 'one token request fleet-wide')
    assert.equal(new Set(results.map((result) => json(result).access_token)).size, 1, 'everyone got that token')
    assert.equal(results.filter((result) => json(result).token_source === 'identity_provider').length, 1)

    const hit = await others[1].run(['token', 'client', 'ci', '--json'])
    assert.equal(json(hit).token_source, 'cache')
    assert.equal(server.tokenRequests.length, 1)
  })

  it('every value under the prefix is ciphertext: no token, refresh token, secret, session key or client name in a dump', async () => {
    const {
      homes: [a, b],
      prefix,
    } = fleet(2)
    const clientName = 'payroll-nightly-client'
    const sessionKey = 'payroll-session-key-7f3a'
    expectExit(await a.run(['client', 'add', clientName, '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret}), 0)
    const userToken = await server.mintUserToken({aud: 'api', sub: 'carol'})
    const started = await a.run(['session', 'start', clientName, '--assertion-env', 'T', '--scope', 'read', '--key', sessionKey, '--json'], {env: {T: userToken}})
    expectExit(started, 0)
    const refreshed = await b.run(['session', 'refresh', '--key', sessionKey, '--force', '--json'])
    expectExit(refreshed, 0)
    const obo = await a.run(['token', 'obo', clientName, '--assertion-env', 'T', '--scope', 'read', '--json'], {env: {T: userToken}})
    expectExit(obo, 0)
    expectExit(await a.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: server.clients.basic.clientSecret}), 0)
    const client = await a.run(['token', 'client', 'ci', '--json'])
    expectExit(client, 0)

    const record = JSON.parse((await stored(prefix, `session:${sessionKey}`))!)
    const secrets = {
      'a client secret': server.clients.api.clientSecret!,
      'another client secret': server.clients.basic.clientSecret!,
      'a client name': clientName,
      'a session key': sessionKey,
      'an OBO token': json(obo).access_token,
      'the refresh token': record.refresh_token,
      'the session access token': json(refreshed).access_token,
      'the client-credentials token': json(client).access_token,
      'the user assertion': userToken,
      'a field name of the session record': 'refresh_token',
    }
    const keys = await redis.keys(`${prefix}*`)
    assert.ok(keys.length >= 8, keys.join('\n'))
    assert.ok(
      keys.every((key) => /^[\w-]+:(\{[\da-f]{64}\}(e:[a-z-]+|f)|keycheck)$/.test(key)),
      keys.join('\n'),
    )
    const everything = await redis.dump() // redis-cli --scan, then GET (SMEMBERS for the index sets) of each key
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(value && value.length > 8, what)
      assert.ok(!everything.includes(value), `${what} is not in Redis in the clear`)
      assert.ok(!keys.join('\n').includes(value), `${what} is in no key name`)
    }

    for (const home of [a, b]) assert.ok(!allFileContents(home.home).includes(record.refresh_token), 'nor in any local file')
    assert.ok(keys.includes(`${prefix}{${sha256hex(`session:${sessionKey}`)}}e:session`))
  })

  it('a wrong passphrase on one host: exit 7 store_wrong_passphrase, and Redis is left exactly as it was', async () => {
    const {
      homes: [a, b],
    } = fleet(2)
    await sharedSession([a, b], 'pp-1', 'dave')
    const before = await redis.dump()
    const wrong = {TOKENCTL_STORE_PASSPHRASE: 'not the fleet passphrase'}
    const refresh = await b.run(['session', 'refresh', '--key', 'pp-1', '--force', '--json'], {env: wrong})
    expectExit(refresh, 7)
    assert.equal(json(refresh).error.code, 'store_wrong_passphrase')
    const add = await b.run(['client', 'add', 'x', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin', '--json'], {env: wrong, input: 'secret'})
    expectExit(add, 7)
    expectExit(await b.run(['session', 'end', '--key', 'pp-1', '--no-revoke'], {env: wrong}), 7)
    assert.equal(await redis.dump(), before)
    assert.equal(server.tokenRequests.length, 0)
  })

  it('a fleet on a store key (TOKENCTL_STORE_KEY_FILE, no passphrase): shared sessions and secrets, store status says a key; a passphrase host is refused, Redis unchanged', async () => {
    const keyFile = join(tempHome(), 'fleet-key')
    writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`)
    const {
      homes: [a, b],
    } = fleet(2, {TOKENCTL_STORE_KEY_FILE: keyFile, TOKENCTL_STORE_PASSPHRASE: undefined})
    await sharedSession([a, b], 'key-1', 'frank')
    const refreshed = await b.run(['session', 'refresh', '--key', 'key-1', '--json'])
    expectExit(refreshed, 0)
    const status = await b.run(['store', 'status', '--json'])
    expectExit(status, 0)
    assert.equal(json(status).sealed_with, 'key')
    assert.match(json(status).reason, /key from TOKENCTL_STORE_KEY_FILE/)
    assert.ok(!status.stdout.includes(readFileSync(keyFile, 'utf8').trim()))

    const before = await redis.dump()
    const withPassphrase = {TOKENCTL_STORE_KEY_FILE: undefined, TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}
    const refused = await a.run(['session', 'refresh', '--key', 'key-1', '--force', '--json'], {env: withPassphrase})
    expectExit(refused, 7)
    assert.equal(json(refused).error.code, 'store_wrong_secret_kind')
    assert.match(json(refused).error.message, /^cannot open the secure store in Redis at .*: it is sealed with a key, and a passphrase is set$/)
    assert.equal(await redis.dump(), before)
  })

  it('a lock held by a killed process is taken over after its lease, not before', async () => {
    const lease = 3
    const {homes, prefix} = fleet(3, {TOKENCTL_REDIS_LOCK_LEASE: String(lease)})
    await sharedSession(homes, 'locked')
    const lockKey = `${prefix}{${sha256hex('session:locked')}}l`
    server.injectTokenFaults({delayMs: 15_000})
    const victim = homes[1].start(['session', 'refresh', '--key', 'locked', '--force'])
    await waitFor(() => server.tokenRequests.length > 0, 20_000)
    assert.equal(server.tokenRequests.length, 1, 'the victim holds the lock, its refresh in flight')
    // Held 1.5 lease periods by then? Wait past one lease to see the renewal at work.
    await new Promise((resolve) => setTimeout(resolve, lease * 1000 + 500))
    assert.ok(Number(await redis.cli('PTTL', lockKey)) > 0, 'renewed past its first lease')

    victim.kill('SIGKILL')
    await victim.result
    const before = Date.now()
    const remaining = Number(await redis.cli('PTTL', lockKey))
    assert.ok(remaining > 0 && remaining <= lease * 1000, `the dead holder's lock lives on: PTTL ${remaining}`)
    const expiresNoSoonerThan = before + remaining
    const waiter = homes[2].start(['session', 'refresh', '--key', 'locked', '--force', '--json'], {timeoutMs: 60_000})
    const result = await waiter.result
    expectExit(result, 0)
    assert.equal(json(result).token_source, 'identity_provider')
    const takeover = server.tokenRequests[1].time
    console.log(`      lease ${lease} s; the killed holder's lock had ${remaining} ms left; taken over ${takeover - before} ms after the kill (${takeover - expiresNoSoonerThan} ms after its expiry)`)
    assert.ok(takeover >= expiresNoSoonerThan, `not before the lease ran out (${expiresNoSoonerThan - takeover} ms early)`)
    assert.equal(server.reuseDetected, 0)
  })

  describe('an outage (append-only Redis, stopped and restarted)', () => {
    let persistent: RedisServer
    before(async () => {
      persistent = await requireRedis({appendOnly: true})
    })
    after(async () => {
      await persistent?.dispose()
    })

    it('Redis stopped: exit 7 store_unavailable naming it, nothing local touched; restarted: the same session refreshes', async () => {
      const env = {...persistent.env, TOKENCTL_REDIS_PREFIX: 'tokenctl:', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}
      const [a, b] = [cliWithHome({env}), cliWithHome({env})]
      await sharedSession([a, b], 'survivor', 'erin')
      expectExit(await b.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: server.clients.basic.clientSecret}), 0)
      const localBefore = allFileContents(b.home)
      const record = JSON.parse((await stored('tokenctl:', 'session:survivor', persistent))!)

      await persistent.stop()
      for (const args of [
        ['session', 'refresh', '--key', 'survivor', '--force', '--json'],
        ['session', 'refresh', '--key', 'survivor', '--json'],
        ['token', 'client', 'ci', '--json'],
        ['session', 'list', '--json'],
      ]) {
        const result = await b.run(args)
        expectExit(result, 7)
        const {error} = json(result)
        assert.equal(error.code, 'store_unavailable', `${args.join(' ')}: ${result.stdout}`)
        assert.ok(error.message.includes(persistent.display), `${args.join(' ')} names the server: ${error.message}`)
      }

      // store status --json reports rather than fails: its "error" is the reason, a string.
      const status = await b.run(['store', 'status', '--json'])
      expectExit(status, 7)
      assert.equal(json(status).ok, false)
      assert.equal(typeof json(status).error, 'string')
      assert.ok(json(status).error.includes(persistent.display), json(status).error)
      assert.equal(server.tokenRequests.length, 0, 'nothing reached the authorization server')
      assert.equal(allFileContents(b.home), localBefore, 'nothing local changed')

      await persistent.start()
      const later = await b.run(['session', 'refresh', '--key', 'survivor', '--force', '--json'])
      expectExit(later, 0)
      assert.equal(json(later).token_source, 'identity_provider')
      assert.equal(server.refreshTokenUses.length, 1)
      assert.equal(server.refreshTokenUses[0].sha256, sha256hex(record.refresh_token), 'the refresh token kept across the restart')
      assert.equal(server.reuseDetected, 0)
      expectExit(await a.run(['token', 'client', 'ci']), 3) // A has no client "ci" in its config: clients stay local
      expectExit(await b.run(['token', 'client', 'ci']), 0)
    })
  })
})
