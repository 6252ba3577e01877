import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, rmSync} from 'node:fs'
import net from 'node:net'
import {join} from 'node:path'

import {ConfigError, ExitCode} from '../../src/lib/errors.js'
import {openEnvelope} from '../../src/lib/store/envelope.js'
import {openStore} from '../../src/lib/store/index.js'
import {entryKind, RedisStore, redisSettings} from '../../src/lib/store/redis-store.js'
import {tempHome} from '../helpers/cli.js'
import {requireRedis, type RedisServer} from '../helpers/redis.js'
import {rejectsWith} from '../helpers/assertions.js'
import {holdLock, incremented} from '../helpers/locks.js'

const PASSPHRASE = 'correct horse battery staple'
const SECRET = 'S3CRET-recognisable-f00dcafe'
const sha256hex = (text: string) => createHash('sha256').update(text).digest('hex')
/** The keys of an entry share the hash tag of its name's hash: one Cluster slot. */
const keysOf = (name: string, kind = name.slice(0, name.indexOf(':'))) => {
  const tag = `tokenctl:{${sha256hex(name)}}`
  return {entry: `${tag}e:${kind}`, fence: `${tag}f`, lock: `${tag}l`}
}

describe('the Redis store backend', () => {
  // Stores remember things under TOKENCTL_HOME (the Redis store its salt): a home of these tests' own.
  let previousHome: string | undefined
  before(() => {
    previousHome = process.env.TOKENCTL_HOME
    process.env.TOKENCTL_HOME = tempHome()
  })
  after(() => {
    if (previousHome === undefined) delete process.env.TOKENCTL_HOME
    else process.env.TOKENCTL_HOME = previousHome
  })

  describe('settings of the Redis store (no server)', () => {
    it('reads the URL, the password from TOKENCTL_REDIS_PASSWORD or the URL, and never shows the password', () => {
      const settings = redisSettings({TOKENCTL_REDIS_URL: 'rediss://ops:p%40ss@cache.example.com:6380/2'})
      assert.deepEqual(settings.endpoints, [{host: 'cache.example.com', port: 6380}])
      assert.equal(settings.topology, 'server')
      assert.equal(settings.db, 2)
      assert.equal(settings.tls, true)
      assert.equal(settings.username, 'ops')
      assert.equal(settings.password, 'p@ss')
      assert.equal(settings.display, 'rediss://ops@cache.example.com:6380/2')
      assert.equal(settings.prefix, 'tokenctl:')
      assert.equal(settings.leaseMs, 60_000)
      assert.equal(settings.timeoutMs, 5000)

      const overridden = redisSettings({
        TOKENCTL_REDIS_LOCK_LEASE: '2.5',
        TOKENCTL_REDIS_PASSWORD: 'from-env',
        TOKENCTL_REDIS_PREFIX: 'fleet-a:',
        TOKENCTL_REDIS_TIMEOUT: '1',
        TOKENCTL_REDIS_URL: 'redis://:in-url@[::1]',
      })
      assert.equal(overridden.password, 'from-env')
      assert.deepEqual(overridden.endpoints, [{host: '::1', port: 6379}])
      assert.equal(overridden.display, 'redis://[::1]:6379')
      assert.equal(overridden.prefix, 'fleet-a:')
      assert.equal(overridden.leaseMs, 2500)
      assert.equal(overridden.timeoutMs, 1000)
      const store = new RedisStore({passphrase: PASSPHRASE, settings: overridden})
      assert.ok(!store.location.includes('in-url') && !store.location.includes('from-env'))
    })

    it('a missing URL is exit 7 (no store); a malformed one exit 3 without repeating it; auto never picks Redis', async () => {
      await rejectsWith(openStore({TOKENCTL_STORE: 'redis', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}), 'no_store')
      await rejectsWith(openStore({TOKENCTL_REDIS_URL: 'redis://127.0.0.1:1', TOKENCTL_STORE: 'redis'}), 'no_store')
      for (const url of ['http://127.0.0.1:6379', 'not a url :secret@']) {
        assert.throws(
          () => redisSettings({TOKENCTL_REDIS_URL: url}),
          (error: unknown) => error instanceof ConfigError && error.exitCode === ExitCode.config && !error.message.includes('secret'),
        )
      }

      assert.throws(() => redisSettings({TOKENCTL_REDIS_LOCK_LEASE: '0', TOKENCTL_REDIS_URL: 'redis://h'}), ConfigError)
      const {store} = await openStore({TOKENCTL_REDIS_URL: 'redis://127.0.0.1:1', TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE})
      assert.equal(store.backend, 'file')
    })

    it('kinds are the known prefixes of entry names; anything else is "-"', () => {
      assert.equal(entryKind('session:nightly'), 'session')
      assert.equal(entryKind('client-secret:ci'), 'client-secret')
      assert.equal(entryKind('token:abc'), 'token')
      assert.equal(entryKind('no-colon'), '-')
      assert.equal(entryKind('Weird Kind:x'), '-')
    })
  })

  describe('the Redis store (a real redis-server, an ACL user limited to its commands and keys)', function () {
    this.timeout(30_000)
    let redis: RedisServer
    const stores: RedisStore[] = []

    before(async () => {
      redis = await requireRedis({acl: true})
    })
    after(async () => {
      await redis?.dispose()
    })
    beforeEach(async () => {
      if (!redis.running) await redis.start()
      await redis.cli('FLUSHALL')
    })
    afterEach(async () => {
      for (const store of stores.splice(0)) await store.close()
    })

    function open(env: Record<string, string> = {}, passphrase = PASSPHRASE): RedisStore {
      const store = new RedisStore({passphrase, settings: redisSettings({...redis.env, ...env})})
      stores.push(store)
      return store
    }

    it('keeps entries sealed under hashed key names, listed by SCAN', async () => {
      const store = open()
      await store.set('session:nightly', `{"refresh_token":"${SECRET}"}`)
      await store.set('client-secret:ci', SECRET)
      await store.set('token:abc', 'token-value')
      assert.equal(await store.get('session:nightly'), `{"refresh_token":"${SECRET}"}`)
      assert.equal(await store.get('session:other'), undefined)
      assert.deepEqual(await store.list('session:'), ['session:nightly'])
      assert.deepEqual(await store.list('client-secret:'), ['client-secret:ci'])
      assert.deepEqual(await store.list(''), ['client-secret:ci', 'session:nightly', 'token:abc'])

      const dump = await redis.dump()
      for (const clear of [SECRET, 'nightly', 'client-secret:ci', 'token-value', 'refresh_token']) assert.ok(!dump.includes(clear), `${clear} is not in Redis in clear`)
      const keys = await redis.keys()
      assert.ok(keys.includes(keysOf('session:nightly').entry), keys.join('\n'))
      assert.ok(keys.every((key) => key.startsWith('tokenctl:')))

      // The envelope is the file store's, opened with the passphrase alone.
      const raw = await redis.cli('--no-raw', 'GET', keysOf('client-secret:ci').entry)
      assert.ok(raw.startsWith('"TKSE'), raw.slice(0, 20))

      assert.equal(await store.delete('session:nightly'), true)
      assert.equal(await store.delete('session:nightly'), false)
      assert.deepEqual(await store.list('session:'), [])
      assert.equal(await open().get('client-secret:ci'), SECRET, 'another connection reads it')
    })

    it('seals with the envelope of the file store: the stored bytes open with the passphrase alone', async () => {
      const store = open()
      await store.set('client-secret:ci', SECRET)
      // Read the raw bytes through a second store's connection, as a Buffer.
      const {Redis} = await import('ioredis')
      const raw = new Redis({enableReadyCheck: false, host: '127.0.0.1', password: redis.password, port: redis.port, username: redis.username})
      try {
        const data = await raw.getBuffer(keysOf('client-secret:ci').entry)
        assert.ok(data)
        const opened = await openEnvelope(data, PASSPHRASE)
        assert.ok(opened.ok)
        assert.deepEqual(JSON.parse(opened.plaintext.toString('utf8')), {n: 'client-secret:ci', v: SECRET})
        assert.equal((await openEnvelope(data, 'another passphrase')).ok, false)

        // An envelope moved to another entry's key does not pass for that entry.
        await raw.set(keysOf('client-secret:other').entry, data)
        await rejectsWith(store.get('client-secret:other'), 'store_corrupt')
      } finally {
        raw.disconnect()
      }
    })

    it('a wrong passphrase: exit 7 store_wrong_passphrase on read, write and delete, and nothing in Redis changes', async () => {
      await open().set('session:nightly', 'v1')
      const before = await redis.dump()
      const wrong = open({}, 'not the passphrase')
      await rejectsWith(wrong.get('session:nightly'), 'store_wrong_passphrase')
      await rejectsWith(wrong.set('session:nightly', 'v2'), 'store_wrong_passphrase')
      await rejectsWith(wrong.set('token:new', 'v2'), 'store_wrong_passphrase')
      await rejectsWith(wrong.delete('session:nightly'), 'store_wrong_passphrase')
      await rejectsWith(wrong.check(), 'store_wrong_passphrase')
      assert.equal(await redis.dump(), before, 'Redis is byte for byte as it was')

      // Even with the passphrase check deleted, the entries already there refuse a stranger.
      await redis.cli('DEL', 'tokenctl:keycheck')
      const stranger = open({}, 'not the passphrase')
      await rejectsWith(stranger.set('token:new', 'v2'), 'store_wrong_passphrase')
      assert.equal(await open().get('session:nightly'), 'v1')
    })

    it('sealed with a key (HKDF, nothing remembered under TOKENCTL_HOME); a store sealed with a passphrase refuses a key, and the reverse, changing nothing', async () => {
      const key = randomBytes(32)
      const withKey = (secret: Buffer) => {
        const store = new RedisStore({key: secret, settings: redisSettings(redis.env)})
        stores.push(store)
        return store
      }

      const hints = join(process.env.TOKENCTL_HOME!, 'cache', 'redis')
      rmSync(hints, {force: true, recursive: true})
      await withKey(key).set('session:nightly', SECRET)
      assert.equal(await withKey(Buffer.from(key)).get('session:nightly'), SECRET)
      const data = await redis.cli('GET', 'tokenctl:keycheck')
      assert.ok(data.startsWith('TKSE\x01\x02') || data.startsWith('TKSE\u0001\u0002'), 'the check is sealed with HKDF (kdf 2)')
      assert.ok(!existsSync(hints), 'a key needs no head start: no salt remembered')
      const before = await redis.dump()
      await rejectsWith(withKey(randomBytes(32)).get('session:nightly'), 'store_wrong_key')
      const error = await rejectsWith(open().set('token:new', 'v'), 'store_wrong_secret_kind')
      assert.equal(error.message, `cannot open the secure store in Redis at ${redis.display}: it is sealed with a key, and a passphrase is set`)
      assert.match(error.suggestions[0], /delete the keys under "tokenctl:" to start a store sealed with what is set/)
      assert.equal(await redis.dump(), before, 'Redis is byte for byte as it was')

      await redis.cli('FLUSHALL')
      await open().set('session:nightly', 'v1')
      await rejectsWith(withKey(key).get('session:nightly'), 'store_wrong_secret_kind')
      await rejectsWith(withKey(key).check(), 'store_wrong_secret_kind')
      await redis.cli('DEL', 'tokenctl:keycheck')
      await rejectsWith(withKey(key).set('token:new', 'v2'), 'store_wrong_secret_kind')
      assert.equal(await open().get('session:nightly'), 'v1')
    })

    it('a read-modify-write under the lock: 30 concurrent increments over 3 connections lose none', async () => {
      const connections = [open(), open(), open()]
      await Promise.all(Array.from({length: 30}, (_, i) => incremented(connections[i % 3], 'counter:n')))
      assert.equal(await open().get('counter:n'), '30')
      assert.deepEqual(await redis.keys('tokenctl:*l'), [], 'every lock released')
    })

    it('a held lock is renewed past its lease; a waiter times out with store_lock_timeout (exit 7) and gets it once released', async () => {
      const holder = open({TOKENCTL_REDIS_LOCK_LEASE: '1'})
      const waiter = open({TOKENCTL_REDIS_LOCK_LEASE: '1'})
      const lockKey = keysOf('session:k').lock
      let waited: unknown
      const release = await holdLock(holder, 'session:k')
      const timedOut = await rejectsWith(
        waiter.withLock('session:k', async () => 'never', {onWait: (who) => (waited = who), waitMs: 2500}),
        'store_lock_timeout',
      )
      assert.match(timedOut.message, new RegExp(`held by process ${process.pid}`))
      assert.ok(timedOut.message.includes(redis.display), timedOut.message)
      assert.equal((waited as {pid: number}).pid, process.pid)
      const ttl = Number(await redis.cli('PTTL', lockKey))
      assert.ok(ttl > 0 && ttl <= 1000, `held 2.6 s on a 1 s lease, still alive: PTTL ${ttl}`)

      await release()
      assert.equal(await redis.cli('EXISTS', lockKey), '0\n')
      assert.equal(await waiter.withLock('session:k', async () => 'mine', {waitMs: 100}), 'mine')
    })

    it('only the owner releases (compare-and-delete), and a holder whose lock another took since writes nothing (fenced)', async () => {
      const store = open()
      await store.set('session:k', 'before')
      const {fence, lock} = keysOf('session:k')
      await rejectsWith(
        store.withLock('session:k', async () => {
          // As if the lease had run out and another host had taken the lock: its lock, and the fence with it.
          await redis.cli('SET', lock, 'someone-else', 'PX', '60000')
          await redis.cli('SET', fence, 'someone-else', 'PX', '600000')
          await store.set('session:k', 'after')
        }),
        'store_lock_lost',
      )
      assert.equal(await store.get('session:k'), 'before', 'the fenced write did not happen')
      assert.equal(await redis.cli('GET', lock), 'someone-else\n', 'their lock survives our release')
      await rejectsWith(
        store.withLock('session:k', async () => store.delete('session:k'), {waitMs: 200}),
        'store_lock_timeout',
      )
      await redis.cli('DEL', lock)
      assert.equal(await store.withLock('session:k', async () => store.delete('session:k')), true)
    })

    it('a holder whose lease ran out and whom no one followed still writes (a failover outlasted the lease); a follower fences it out', async () => {
      const store = open()
      const other = open()
      const {lock} = keysOf('session:k')
      await store.withLock('session:k', async () => {
        await redis.cli('DEL', lock) // the lease ran out
        await store.set('session:k', 'fetched before the lease ran out')
      })
      assert.equal(await other.get('session:k'), 'fetched before the lease ran out')

      await rejectsWith(
        store.withLock('session:k', async () => {
          await redis.cli('DEL', lock)
          await other.withLock('session:k', async () => other.set('session:k', 'the follower'))
          await store.set('session:k', 'stale')
        }),
        'store_lock_lost',
      )
      assert.equal(await other.get('session:k'), 'the follower')
    })

    it('Redis down: exit 7 store_unavailable naming the server; back up: the same store works again', async () => {
      const store = open()
      await store.set('token:a', 'v')
      await redis.stop()
      const error = await rejectsWith(store.get('token:a'), 'store_unavailable')
      assert.ok(error.message.includes(redis.display), error.message)
      assert.ok(!error.message.includes(redis.password))
      await rejectsWith(
        store.withLock('token:a', async () => 1),
        'store_unavailable',
      )
      await redis.start()
      await store.set('token:a', 'v2') // appendonly off: the data is gone, the store is not
      assert.equal(await store.get('token:a'), 'v2')
    })

    it('a server that accepts and never answers: store_unavailable after TOKENCTL_REDIS_TIMEOUT, not a hang', async () => {
      const sockets: net.Socket[] = []
      const silent = net.createServer((socket) => sockets.push(socket))
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
      const {port} = silent.address() as net.AddressInfo
      try {
        const store = new RedisStore({
          passphrase: PASSPHRASE,
          settings: redisSettings({TOKENCTL_REDIS_PASSWORD: 'x', TOKENCTL_REDIS_TIMEOUT: '0.5', TOKENCTL_REDIS_URL: `redis://127.0.0.1:${port}`}),
        })
        stores.push(store)
        const started = Date.now()
        const error = await rejectsWith(store.get('token:a'), 'store_unavailable')
        const elapsed = Date.now() - started
        assert.ok(elapsed >= 400, `gave up after ${elapsed} ms, before its 0.5 s`)
        assert.ok(error.message.includes(`127.0.0.1:${port}`), error.message)
      } finally {
        for (const socket of sockets) socket.destroy()
        silent.close()
      }
    })

    it('wrong credentials are exit 7 naming the server, never the password', async () => {
      const store = open({TOKENCTL_REDIS_PASSWORD: 'not-the-password'})
      const error = await rejectsWith(store.check(), 'store_unavailable')
      assert.match(error.message, /refused tokenctl's credentials/)
      assert.ok(!error.message.includes('not-the-password'))
    })
  })
})
