/**
 * The Redis store (src/lib/store/redis-store.ts) in detail, against a real redis-server: the layout
 * the header comment promises (one salt per store, an index per kind, the remembered salt under
 * TOKENCTL_HOME, a lifetime as the entry's TTL), what each failure says (which step failed, which server, never the password), and
 * that a process using the store ends by itself. test/unit/redis-store.test.ts covers the main paths.
 */
import {strict as assert} from 'node:assert'
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath} from 'node:url'

import {Command} from 'ioredis'

import {ConfigError, ExitCode, type StoreError} from '../../src/lib/errors.js'
import {openEnvelope, parseEnvelope, sealEnvelope} from '../../src/lib/store/envelope.js'
import {entryKind, RedisStore, redisSettings} from '../../src/lib/store/redis-store.js'
import {requireRedis, type RedisServer, TOKENCTL_COMMANDS} from '../helpers/redis.js'
import {rejectsWith} from '../helpers/assertions.js'
import {holdLock} from '../helpers/locks.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MODULE = path.join(ROOT, 'src/lib/store/redis-store.ts')
const PASSPHRASE = 'correct horse battery staple'
const sha256hex = (text: string) => createHash('sha256').update(text).digest('hex')
/** The keys of an entry share the hash tag of its name's hash: one Cluster slot. */
const keysOf = (name: string, kind = name.slice(0, name.indexOf(':'))) => {
  const tag = `tokenctl:{${sha256hex(name)}}`
  return {entry: `${tag}e:${kind}`, fence: `${tag}f`, lock: `${tag}l`}
}
/** A key's Cluster slot (CRC16 of its hash tag), as ioredis routes it. */
const slotOf = (key: string) => new Command('get', [key]).getSlot()
const FORMS =
  'use one of: redis://[user[:password]@]host[:port][/db] (one server; rediss:// for TLS); redis+sentinel://[user[:password]@]host:port[,host:port…]/MASTER_NAME[/db] (Sentinel; rediss+sentinel:// for TLS); redis+cluster://[user[:password]@]host:port[,host:port…] (Cluster; rediss+cluster:// for TLS)'

function configError(env: NodeJS.ProcessEnv, message: string, suggestions?: string[]): void {
  assert.throws(
    () => redisSettings(env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error))
      assert.equal(error.message, message)
      assert.equal(error.code, 'config_error')
      assert.equal(error.exitCode, ExitCode.config)
      if (suggestions) assert.deepEqual(error.suggestions, suggestions)
      return true
    },
  )
}

describe('the Redis store in detail', () => {
  describe('settings (no server)', () => {
    it('no URL, or a blank one: no store, and how to name one', () => {
      for (const url of [undefined, '', '   ']) {
        assert.throws(
          () => redisSettings({TOKENCTL_REDIS_URL: url}),
          (error: StoreError) =>
            error.name === 'StoreError' &&
            error.code === 'no_store' &&
            error.message === 'TOKENCTL_STORE=redis needs TOKENCTL_REDIS_URL' &&
            error.suggestions[0] === `set TOKENCTL_REDIS_URL to one of: ${FORMS.slice('use one of: '.length)}; the password in the URL or in TOKENCTL_REDIS_PASSWORD`,
        )
      }
    })

    it('what is wrong with a URL, never repeating what may be a password', () => {
      configError({TOKENCTL_REDIS_URL: 'p4ssw0rd'}, 'TOKENCTL_REDIS_URL is not a URL', [FORMS])
      configError(
        {TOKENCTL_REDIS_URL: 'https://h'},
        'TOKENCTL_REDIS_URL must start with redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://, not https://',
        [FORMS],
      )
      configError({TOKENCTL_REDIS_URL: 'redis://'}, 'TOKENCTL_REDIS_URL names no host', [FORMS])
      configError({TOKENCTL_REDIS_URL: 'redis://h/x'}, 'TOKENCTL_REDIS_URL: the database must be a number, not "x"')
      configError({TOKENCTL_REDIS_URL: 'redis://h/-1'}, 'TOKENCTL_REDIS_URL: the database must be a number, not "-1"')
      configError({TOKENCTL_REDIS_URL: 'redis://h/1.5'}, 'TOKENCTL_REDIS_URL: the database must be a number, not "1.5"')
      configError({TOKENCTL_REDIS_URL: 'redis://us%zzer:p%zz@h'}, 'TOKENCTL_REDIS_URL: the user name or password has a malformed %-escape', [
        'write % as %25 in the URL, or put the password in TOKENCTL_REDIS_PASSWORD',
      ])
      configError({TOKENCTL_REDIS_PREFIX: '', TOKENCTL_REDIS_URL: 'redis://h'}, 'TOKENCTL_REDIS_PREFIX must not be empty')
    })

    it('numbers of seconds: blank is the default, anything else at least the minimum', () => {
      const settings = redisSettings({TOKENCTL_REDIS_LOCK_LEASE: '   ', TOKENCTL_REDIS_TIMEOUT: ' ', TOKENCTL_REDIS_URL: 'redis://h'})
      assert.equal(settings.leaseMs, 60_000)
      assert.equal(settings.timeoutMs, 5000)
      assert.equal(redisSettings({TOKENCTL_REDIS_TIMEOUT: '0.1', TOKENCTL_REDIS_URL: 'redis://h'}).timeoutMs, 100)
      configError({TOKENCTL_REDIS_LOCK_LEASE: '0.5', TOKENCTL_REDIS_URL: 'redis://h'}, 'TOKENCTL_REDIS_LOCK_LEASE must be a number of seconds from 1 to 86400, not "0.5"')
      configError({TOKENCTL_REDIS_TIMEOUT: 'soon', TOKENCTL_REDIS_URL: 'redis://h'}, 'TOKENCTL_REDIS_TIMEOUT must be a number of seconds from 0.1 to 86400, not "soon"')
      configError({TOKENCTL_REDIS_TIMEOUT: 'Infinity', TOKENCTL_REDIS_URL: 'redis://h'}, 'TOKENCTL_REDIS_TIMEOUT must be a number of seconds from 0.1 to 86400, not "Infinity"')
      // Past a day Node's timer would overflow and fire at once: every command would time out.
      configError({TOKENCTL_REDIS_TIMEOUT: '2147484', TOKENCTL_REDIS_URL: 'redis://h'}, 'TOKENCTL_REDIS_TIMEOUT must be a number of seconds from 0.1 to 86400, not "2147484"')
      configError({TOKENCTL_REDIS_LOCK_LEASE: '86401', TOKENCTL_REDIS_URL: 'redis://h'}, 'TOKENCTL_REDIS_LOCK_LEASE must be a number of seconds from 1 to 86400, not "86401"')
      assert.equal(redisSettings({TOKENCTL_REDIS_LOCK_LEASE: '86400', TOKENCTL_REDIS_TIMEOUT: '86400', TOKENCTL_REDIS_URL: 'redis://h'}).timeoutMs, 86_400_000, 'a day is still allowed')
    })

    it('defaults: port 6379, database 0, no TLS; the display shows a non-default database', () => {
      const settings = redisSettings({TOKENCTL_REDIS_URL: 'redis://cache.internal'})
      assert.deepEqual(
        {db: settings.db, display: settings.display, endpoints: settings.endpoints, tls: settings.tls},
        {db: 0, display: 'redis://cache.internal:6379', endpoints: [{host: 'cache.internal', port: 6379}], tls: false},
      )
      assert.equal(redisSettings({TOKENCTL_REDIS_URL: 'redis://h/0'}).display, 'redis://h:6379')
      assert.equal(redisSettings({TOKENCTL_REDIS_URL: 'redis://h:7000/3'}).display, 'redis://h:7000/3')
    })

    it('kinds: a lower-case word of up to 32 characters before the first colon', () => {
      assert.equal(entryKind(`${'a'.repeat(32)}:x`), 'a'.repeat(32))
      assert.equal(entryKind(`${'a'.repeat(33)}:x`), '-')
      assert.equal(entryKind('my kind:x'), '-')
      assert.equal(entryKind('session-index:x'), 'session-index')
      assert.equal(entryKind(':x'), '-')
      assert.equal(entryKind('1session:x'), '-')
    })
  })

  describe('against a server', function () {
    this.timeout(30_000)
    let redis: RedisServer
    let home: string
    const stores: RedisStore[] = []
    const savedHome = process.env.TOKENCTL_HOME

    before(async () => {
      redis = await requireRedis({acl: true})
    })
    after(async () => {
      await redis?.dispose()
      if (savedHome === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = savedHome
    })
    beforeEach(async () => {
      if (!redis.running) await redis.start()
      await redis.cli('FLUSHALL')
      // Every command tokenctl needs, as the README's ACL line gives them (a test may take one away).
      await redis.cli('ACL', 'SETUSER', 'tokenctl', ...TOKENCTL_COMMANDS)
      home = mkdtempSync(path.join(tmpdir(), 'tokenctl-redis-details-'))
      process.env.TOKENCTL_HOME = home
    })
    afterEach(async () => {
      for (const store of stores.splice(0)) await store.close()
      rmSync(home, {force: true, recursive: true})
    })

    function open(env: Record<string, string> = {}, passphrase = PASSPHRASE): RedisStore {
      const store = new RedisStore({passphrase, settings: redisSettings({...redis.env, ...env})})
      stores.push(store)
      return store
    }

    const get = async (key: string): Promise<Buffer | null> => {
      const {Redis} = await import('ioredis')
      const raw = new Redis({enableReadyCheck: false, host: '127.0.0.1', password: redis.password, port: redis.port, username: redis.username})
      try {
        return await raw.getBuffer(key)
      } finally {
        raw.disconnect()
      }
    }

    const put = async (key: string, value: Buffer) => {
      const {Redis} = await import('ioredis')
      const raw = new Redis({enableReadyCheck: false, host: '127.0.0.1', password: redis.password, port: redis.port, username: redis.username})
      try {
        await raw.set(key, value)
      } finally {
        raw.disconnect()
      }
    }

    describe('layout', () => {
      it('names where it is, without the password', () => {
        assert.equal(open().location, `Redis at ${redis.display}, keys under "tokenctl:"`)
      })

      it('entries are sealed under the salt of the passphrase check: one derivation per store, whoever wrote first', async () => {
        await open().set('token:a', '1')
        await open().set('session:b', '2') // a second process: it verifies the existing check
        const check = await get('tokenctl:keycheck')
        assert.ok(check)
        const opened = await openEnvelope(check, PASSPHRASE)
        assert.ok(opened.ok)
        assert.equal(opened.plaintext.toString('utf8'), 'tokenctl redis store: passphrase check v1')
        const salt = parseEnvelope(check).salt
        for (const name of ['token:a', 'session:b']) assert.ok(parseEnvelope((await get(keysOf(name).entry))!).salt.equals(salt), name)
      })

      it('an entry, its lock and its fence share one hash slot; a delete leaves none of the entry behind', async () => {
        const store = open()
        await store.withLock('session:a', async () => store.set('session:a', '1'))
        await store.set('session:b', '2')
        const {entry, fence, lock} = keysOf('session:a')
        assert.equal(new Set([entry, fence, lock].map((key) => slotOf(key))).size, 1)
        assert.deepEqual(
          (await redis.keys()).filter((key) => key.includes(sha256hex('session:a'))),
          [entry, fence].sort(),
          'the lock released, the fence kept',
        )
        assert.equal(await store.delete('session:a'), true)
        assert.equal(await redis.cli('EXISTS', entry), '0\n')
        assert.deepEqual(await store.list('session:'), ['session:b'])
      })

      it('a prefix with braces of its own still keeps an entry in one slot, and lists', async () => {
        const store = open({TOKENCTL_REDIS_PREFIX: 'tokenctl{fleet-a}:'})
        await store.withLock('session:a', async () => store.set('session:a', '1'))
        assert.deepEqual(await store.list('session:'), ['session:a'])
        const keys = (await redis.keys('tokenctl{fleet-a}:*')).filter((key) => key !== 'tokenctl{fleet-a}:keycheck')
        assert.equal(keys.length, 2, keys.join(' '))
        assert.equal(new Set(keys.map((key) => slotOf(key))).size, 1)
        const globby = open({TOKENCTL_REDIS_PREFIX: 'tokenctl*[x]?:'})
        await globby.set('session:c', '1')
        assert.deepEqual(await globby.list('session:'), ['session:c'], 'a prefix with glob characters matches only itself')
        assert.deepEqual(await store.list('session:'), ['session:a'])
      })

      it('an entry written with a lifetime has it as its TTL, and Redis removes it; one written without (a session, a secret) has none', async () => {
        const store = open()
        const ttl = async (name: string) => Number(await redis.cli('PTTL', keysOf(name).entry))
        await store.set('session:s', 'v')
        await store.set('client-secret:c', 'v')
        assert.deepEqual([await ttl('session:s'), await ttl('client-secret:c')], [-1, -1])

        const hour = 3_600_000
        await store.set('token:t', 'v', {expiresAt: Date.now() + hour})
        assert.ok((await ttl('token:t')) > hour - 60_000 && (await ttl('token:t')) <= hour, String(await ttl('token:t')))
        await store.withLock('token:f', () => store.set('token:f', 'v', {expiresAt: Date.now() + hour})) // a fenced write too
        assert.ok((await ttl('token:f')) > hour - 60_000, String(await ttl('token:f')))
        await store.set('token:f', 'v')
        assert.equal(await ttl('token:f'), -1, 'written again without a lifetime, it keeps none')

        await store.set('token:soon', 'v', {expiresAt: Date.now() + 150})
        await store.set('token:over', 'v', {expiresAt: Date.now() - 60_000})
        assert.ok((await ttl('token:over')) <= 1, 'a lifetime already over: gone at once')
        await sleep(250)
        assert.equal(await store.get('token:soon'), undefined)
        assert.equal(await store.get('token:over'), undefined)
        assert.deepEqual(await store.list(''), ['client-secret:c', 'session:s', 'token:f', 'token:t'], 'what Redis removed is not listed')
      })

      it('lists by prefix, a partial kind and odd names included', async () => {
        const store = open()
        for (const name of ['session:a', 'session:ab', 'session:b', 'session-index:a', 'nocolon', 'Weird:x', 'token:t']) await store.set(name, 'v')
        assert.deepEqual(await store.list('session:a'), ['session:a', 'session:ab'])
        assert.deepEqual(await store.list('sess'), ['session-index:a', 'session:a', 'session:ab', 'session:b'])
        assert.deepEqual(await store.list('no'), ['nocolon'])
        assert.deepEqual(await store.list('Wei'), ['Weird:x'])
        assert.deepEqual(await store.list('x'), [])
      })

      it('an entry deleted by hand is skipped by list, and by the check of a new passphrase check', async () => {
        const store = open()
        await store.set('session:gone', 'v')
        await store.set('session:kept', 'v')
        await redis.cli('DEL', keysOf('session:gone').entry)
        assert.deepEqual(await store.list('session:'), ['session:kept'])
        await redis.cli('DEL', keysOf('session:kept').entry, 'tokenctl:keycheck')
        await open().set('token:new', 'v')
        assert.equal(await open().get('token:new'), 'v')
      })

      it("remembers the store's salt under TOKENCTL_HOME/cache/redis (0700, a 0600 file per store), for the next process", async () => {
        await open().set('token:a', '1')
        const readerHome = mkdtempSync(path.join(tmpdir(), 'tokenctl-redis-reader-'))
        try {
          process.env.TOKENCTL_HOME = readerHome
          assert.equal(await open().get('token:a'), '1') // a reader remembers it too
          const folder = path.join(readerHome, 'cache', 'redis')
          assert.equal(statSync(folder).mode & 0o777, 0o700)
          const files = readdirSync(folder)
          assert.equal(files.length, 1, files.join(' '))
          assert.match(files[0], /^[\da-f]{32}\.json$/)
          assert.equal(statSync(path.join(folder, files[0])).mode & 0o777, 0o600)
          const hint = JSON.parse(readFileSync(path.join(folder, files[0]), 'utf8'))
          const check = parseEnvelope((await get('tokenctl:keycheck'))!)
          assert.deepEqual(hint, {N: check.params.N, p: check.params.p, r: check.params.r, salt: check.salt.toString('hex')})

          await open({TOKENCTL_REDIS_PREFIX: 'tokenctl-b:'}).set('token:a', '1')
          assert.equal(readdirSync(folder).length, 2, 'another store, another file')
          assert.equal(await open().get('token:a'), '1', 'the remembered salt opens the store')
        } finally {
          process.env.TOKENCTL_HOME = home
          rmSync(readerHome, {force: true, recursive: true})
        }

        assert.equal(readdirSync(path.join(home, 'cache', 'redis')).length, 1, 'the writer remembered it in its own home')
      })
    })

    describe('damaged contents', () => {
      it('a damaged entry is corrupt, named with the key to remove; unnamed when list meets it', async () => {
        const store = open()
        await store.set('session:k', 'v')
        const key = keysOf('session:k').entry
        const data = (await get(key))!
        data[data.length - 1] ^= 1
        await put(key, data)
        const error = await rejectsWith(open().get('session:k'), 'store_corrupt')
        assert.equal(error.message, `the entry "session:k" in Redis at ${redis.display} is corrupt: the contents fail authentication (damaged or altered)`)
        assert.deepEqual(error.suggestions, [`remove it from Redis (key ${key}); tokenctl then starts it afresh`])
        const listed = await rejectsWith(open().list('session:'), 'store_corrupt')
        assert.equal(listed.message, `an entry in Redis at ${redis.display} is corrupt: the contents fail authentication (damaged or altered)`)
        assert.deepEqual(listed.suggestions, ['remove the damaged entry from Redis'])
      })

      it('an envelope that opens but holds no entry is corrupt', async () => {
        const store = open()
        await store.set('session:k', 'v')
        const key = keysOf('session:k').entry
        for (const plaintext of ['{"n":"session:k"}', '{"n":"session:k","v":1}', '{"n":1,"v":"v"}', 'not json', 'null']) {
          await put(key, await sealEnvelope(Buffer.from(plaintext), PASSPHRASE, {N: 1024, p: 1, r: 8}))
          const error = await rejectsWith(open().get('session:k'), 'store_corrupt')
          assert.equal(error.message, `the entry "session:k" in Redis at ${redis.display} is corrupt: its contents are not an entry`, plaintext)
        }
      })

      it('an entry moved to another key is corrupt', async () => {
        await open().set('session:a', 'v')
        await put(keysOf('session:b').entry, (await get(keysOf('session:a').entry))!)
        const error = await rejectsWith(open().get('session:b'), 'store_corrupt')
        assert.equal(error.message, `the entry "session:b" in Redis at ${redis.display} is corrupt: it holds another entry (moved or altered)`)
      })

      it('a damaged passphrase check is corrupt, not a wrong passphrase, with the way to make a new one', async () => {
        await open().set('token:a', 'v')
        const check = (await get('tokenctl:keycheck'))!
        check[check.length - 1] ^= 1
        await put('tokenctl:keycheck', check)
        const error = await rejectsWith(open().check(), 'store_corrupt')
        assert.equal(error.message, `the passphrase check tokenctl:keycheck in Redis at ${redis.display} is corrupt: the contents fail authentication (damaged or altered)`)
        assert.deepEqual(error.suggestions, ['delete tokenctl:keycheck: the next write makes a new one'])
      })

      it("a passphrase check that is not tokenctl's is corrupt", async () => {
        await put('tokenctl:keycheck', await sealEnvelope(Buffer.from('something else'), PASSPHRASE, {N: 1024, p: 1, r: 8}))
        const error = await rejectsWith(open().set('token:a', 'v'), 'store_corrupt')
        assert.equal(error.message, `an entry in Redis at ${redis.display} is corrupt: tokenctl:keycheck is not tokenctl's passphrase check`)
      })

      it('a wrong passphrase says so and what every host must use', async () => {
        await open().set('token:a', 'v')
        const error = await rejectsWith(open({}, 'another').get('token:a'), 'store_wrong_passphrase')
        assert.equal(error.message, `cannot open the secure store in Redis at ${redis.display}: wrong passphrase`)
        assert.deepEqual(error.suggestions, ['check TOKENCTL_STORE_PASSPHRASE / TOKENCTL_STORE_PASSPHRASE_FILE: every host must use the passphrase the store was created with'])
      })

      it('check() on an empty store finds nothing to open, and writes nothing', async () => {
        await open().check()
        assert.deepEqual(await redis.keys(), [])
      })
    })

    describe('what a failure says', () => {
      /** Runs op with the ACL user denied one command: the message names the step that needed it. */
      async function denied(command: string, op: (store: RedisStore) => Promise<unknown>, action: string): Promise<void> {
        await redis.cli('ACL', 'SETUSER', 'tokenctl', `-${command}`)
        try {
          const error = await rejectsWith(op(open()), 'store_error')
          assert.ok(error.message.startsWith(`Redis at ${redis.display} does not allow tokenctl to ${action}: `), `${action}: ${error.message}`)
          assert.match(error.message, /NOPERM|can't run this command/) // refused inside a script: in the words of a script
          assert.deepEqual(error.suggestions, ['the Redis ACL user needs ~tokenctl:* and +ping +get +set +del +pexpire +eval +scan +role +wait'])
        } finally {
          await redis.cli('ACL', 'SETUSER', 'tokenctl', `+${command}`)
        }
      }

      it('names the step the server refused (an ACL without one of the commands)', async () => {
        const seeded = open()
        await seeded.set('session:a', 'v')
        await denied('ping', (store) => store.check(), 'answer a PING')
        await denied('get', (store) => store.check(), 'read the passphrase check')
        await denied('get', (store) => store.get('session:a'), 'read "session:a"')
        await denied('get', (store) => store.set('session:b', 'v'), 'read the passphrase check')
        await denied('eval', (store) => store.set('session:b', 'v'), 'write "session:b"')
        await denied('eval', (store) => store.delete('session:a'), 'delete "session:a"')
        await denied('scan', (store) => store.list(''), 'list the entries')
        await denied('get', (store) => store.list('session:'), 'read entries')
        await denied('set', (store) => store.withLock('session:a', async () => 1), 'take the lock on "session:a"')
        await denied('role', (store) => store.set('session:b', 'v'), 'write "session:b"')
        await denied('role', (store) => store.check(), 'answer a PING')

        await redis.cli('DEL', 'tokenctl:keycheck')
        await denied('scan', (store) => store.set('session:b', 'v'), 'list the entries')
        await denied('set', (store) => store.set('session:b', 'v'), 'write the passphrase check')
        // A lock is taken only once the passphrase is proven the store's.
        await denied('get', (store) => store.withLock('session:a', async () => 1, {waitMs: 100}), 'read the passphrase check')
      })

      it('a failure after an earlier dropped connection says what failed now, not what failed then', async () => {
        const store = open()
        await store.set('token:a', 'v')
        await redis.stop()
        await rejectsWith(store.get('token:a'), 'store_unavailable')
        await redis.start()
        await redis.cli('ACL', 'SETUSER', 'tokenctl', '-get')
        try {
          const error = await rejectsWith(store.get('token:a'), 'store_error')
          assert.match(error.message, /does not allow tokenctl to read "token:a": NOPERM/)
        } finally {
          await redis.cli('ACL', 'SETUSER', 'tokenctl', '+get')
        }
      })

      it('a server that is down: the step, the server and what to check', async () => {
        const store = open()
        await redis.stop()
        const error = await rejectsWith(store.get('token:a'), 'store_unavailable')
        assert.ok(error.message.startsWith(`Redis at ${redis.display} does not answer (connect): `), error.message)
        assert.match(error.message, /ECONNREFUSED/)
        assert.deepEqual(error.suggestions, [`check that Redis runs and is reachable at ${redis.display} (TOKENCTL_REDIS_URL); nothing was changed, the next run tries again`])
        await store.close() // after a failed connection, close has nothing to close
        const connecting = open()
        const pending = connecting.get('token:a').catch((error: Error) => error)
        await connecting.close() // while the connection is being refused
        assert.equal(((await pending) as StoreError).code, 'store_unavailable')
      })

      it('a server that never answers: no answer within TOKENCTL_REDIS_TIMEOUT, said in seconds', async () => {
        const sockets: net.Socket[] = []
        const silent = net.createServer((socket) => sockets.push(socket))
        await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
        const {port} = silent.address() as net.AddressInfo
        try {
          const store = new RedisStore({passphrase: PASSPHRASE, settings: redisSettings({TOKENCTL_REDIS_TIMEOUT: '0.3', TOKENCTL_REDIS_URL: `redis://127.0.0.1:${port}`})})
          stores.push(store)
          const error = await rejectsWith(store.get('token:a'), 'store_unavailable')
          assert.equal(error.message, `Redis at redis://127.0.0.1:${port} does not answer (connect): no answer within 0.3 s (TOKENCTL_REDIS_TIMEOUT)`)
        } finally {
          for (const socket of sockets) socket.destroy()
          silent.close()
        }
      })

      it("refused credentials: the server's words, the password masked even where they happen to contain it", async () => {
        // "WRONGPASS invalid username-password pair or user is disabled.": a password of 4 characters or
        // more is masked wherever it appears; a shorter one would mangle the text and cannot be told from it.
        const masked = await rejectsWith(open({TOKENCTL_REDIS_PASSWORD: 'invalid'}).check(), 'store_unavailable')
        assert.equal(masked.message, `Redis at ${redis.display} refused tokenctl's credentials: WRONGPASS *** username-password pair or user is disabled.`)
        assert.deepEqual(masked.suggestions, ['check the user and password in TOKENCTL_REDIS_URL, or TOKENCTL_REDIS_PASSWORD'])
        const four = await rejectsWith(open({TOKENCTL_REDIS_PASSWORD: 'pair'}).check(), 'store_unavailable')
        assert.match(four.message, /username-password \*\*\* or user/)
        const short = await rejectsWith(open({TOKENCTL_REDIS_PASSWORD: 'air'}).check(), 'store_unavailable')
        assert.match(short.message, /username-password pair or user/)
      })

      it('a holder whose lock another took since deletes nothing (fenced), and says why', async () => {
        const store = open({TOKENCTL_REDIS_LOCK_LEASE: '5'})
        await store.set('session:k', 'v')
        const {fence, lock} = keysOf('session:k')
        const error = await rejectsWith(
          store.withLock('session:k', async () => {
            await redis.cli('SET', lock, 'someone-else', 'PX', '60000')
            await redis.cli('SET', fence, 'someone-else', 'PX', '600000')
            return store.delete('session:k')
          }),
          'store_lock_lost',
        )
        assert.equal(
          error.message,
          `another tokenctl took the lock on "session:k" in Redis at ${redis.display} after this one's 5 s lease ran out (was this process suspended, or cut off from Redis?); nothing was written`,
        )
        assert.deepEqual(error.suggestions, ['run it again; raise TOKENCTL_REDIS_LOCK_LEASE if the work under the lock can take longer than the lease'])
        await redis.cli('DEL', lock)
        assert.equal(await store.get('session:k'), 'v')
      })
    })

    describe('locks', () => {
      it('a waiter is told at once who holds the lock, not when it gives up', async () => {
        const holder = open()
        const waiter = open()
        const release = await holdLock(holder, 'session:k')
        let told!: (holder: unknown) => void
        const waitedFor = new Promise((resolve) => (told = resolve))
        // A wait of a minute: were onWait called only at its end, this test would time out first.
        const waiting = waiter.withLock('session:k', async () => 'mine', {onWait: told, waitMs: 60_000})
        const who = (await waitedFor) as {host: string; pid: number}
        assert.equal(who.pid, process.pid)
        await release()
        assert.equal(await waiting, 'mine')
      })

      it('a lock whose value names no holder: no holder told, and a timeout that names none', async () => {
        const lockKey = keysOf('session:k').lock
        await redis.cli('SET', lockKey, '', 'PX', '60000')
        let waited: unknown = 'not called'
        const error = await rejectsWith(
          open().withLock('session:k', async () => 1, {onWait: (holder) => (waited = holder), waitMs: 1500}),
          'store_lock_timeout',
        )
        assert.equal(waited, undefined)
        assert.equal(error.message, `timed out after 2 s waiting for the lock on "session:k" in Redis at ${redis.display}`)
        assert.deepEqual(error.suggestions, ['another tokenctl (on this host or another) is still working on the same entry; try again later'])
        await redis.cli('SET', lockKey, 'nonce not-a-pid host time', 'PX', '60000')
        const foreign = await rejectsWith(
          open().withLock('session:k', async () => 1, {onWait: (holder) => (waited = holder), waitMs: 100}),
          'store_lock_timeout',
        )
        assert.deepEqual(waited, {acquiredAt: 'time', host: 'host', pid: undefined})
        assert.ok(!foreign.message.includes('held by'), foreign.message)
      })
    })

    describe('connections', () => {
      const clients = async () => (await redis.cli('CLIENT', 'LIST')).split('\n').filter((line) => / user=tokenctl /.test(line)).length

      it('close() ends the connection', async () => {
        const store = open()
        await store.set('token:a', 'v')
        assert.equal(await clients(), 1)
        await store.close()
        for (let i = 0; i < 50 && (await clients()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
        assert.equal(await clients(), 0)
        await store.close()
      })

      it('a process that used the store ends by itself: no socket or timer keeps it alive', async () => {
        // The same operations in this process first: they must work here too (and so mutation testing
        // knows this test reaches the code the child runs).
        const local = open()
        await local.set('token:a', 'v')
        assert.deepEqual(await local.withLock('token:a', async () => local.list('')), ['token:a'])
        assert.equal(await local.get('token:a'), 'v')
        const script = `
          const {RedisStore, redisSettings} = await import(${JSON.stringify(MODULE)})
          const store = new RedisStore({passphrase: ${JSON.stringify(PASSPHRASE)}, settings: redisSettings(process.env)})
          await store.set('token:a', 'v')
          await store.withLock('token:a', async () => store.list(''))
          console.log(await store.get('token:a'))
        `
        // A timeout of a minute: a timer left running, or a socket still referenced, would keep the child that long.
        const env = {...process.env, ...redis.env, TOKENCTL_HOME: home, TOKENCTL_REDIS_TIMEOUT: '60'}
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
        let output = ''
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
        const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (...result) => resolve(result)))
        clearTimeout(timer)
        assert.equal(signal, null, `the process did not end by itself: ${output}`)
        assert.equal(code, 0, output)
        assert.equal(output.trim(), 'v')
      })
    })
  })
})
