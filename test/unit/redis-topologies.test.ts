/**
 * The Redis store on the replicated topologies, in this process (so that mutation testing sees the
 * code run): a real Sentinel set (a primary, a replica, three sentinels) and a real Cluster (three
 * masters, three replicas), each started once for its describe (test/helpers/redis-topologies.ts).
 * The end-to-end tests (test/e2e/redis-sentinel.test.ts, redis-cluster.test.ts) prove the same
 * promises through the CLI, with refreshes at a real authorization server.
 */
import {strict as assert} from 'node:assert'
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {RedisStore, redisSettings} from '../../src/lib/store/redis-store.js'
import {rejectsWith} from '../helpers/assertions.js'
import {tempHome} from '../helpers/cli.js'
import {holdLock} from '../helpers/locks.js'
import {type RedisClusterSet, type RedisTopology, requireRedisCluster, requireSentinelSet, SENTINEL_MASTER_NAME, type SentinelSet, stopTopology, topologyFor} from '../helpers/redis-topologies.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MODULE = path.join(ROOT, 'src/lib/store/redis-store.ts')
const PASSPHRASE = 'correct horse battery staple'
const sha256hex = (text: string) => createHash('sha256').update(text).digest('hex')
const entryKey = (name: string) => `tokenctl:{${sha256hex(name)}}e:${name.slice(0, name.indexOf(':'))}`
const WARNING =
  /^no replica of Redis at \S+ acknowledged the write of (the lock on )?"[^"]+" within 1 s: if the primary fails over now, the write can be lost; check its replicas \(redis-cli INFO replication\)$/

describe('the Redis store on Sentinel and Cluster (in process, real redis-server and redis-sentinel)', function () {
  this.timeout(120_000)
  let previousHome: string | undefined
  before(() => {
    previousHome = process.env.TOKENCTL_HOME
    process.env.TOKENCTL_HOME = tempHome()
  })
  after(() => {
    if (previousHome === undefined) delete process.env.TOKENCTL_HOME
    else process.env.TOKENCTL_HOME = previousHome
  })

  const topologies: Array<{reached: (topology: RedisTopology) => Promise<RegExp>; start: () => Promise<RedisTopology>; title: string}> = [
    {
      async reached(topology) {
        const primary = await (topology as SentinelSet).primary()
        return new RegExp(
          `^Redis at redis\\+sentinel://tokenctl@[\\d.:,]+/${SENTINEL_MASTER_NAME} \\(Sentinel master "${SENTINEL_MASTER_NAME}" at ${primary.address}, 1 replica\\), keys under "tokenctl:"$`,
        )
      },
      start: () => requireSentinelSet(),
      title: 'Sentinel',
    },
    {
      async reached(topology) {
        const masters = (await (topology as RedisClusterSet).masters()).map((master) => master.address).sort()
        const each = masters.map((address) => `${address.replaceAll('.', '\\.')} \\(slots [\\d,-]+, 1 replica\\)`).join(', ')
        return new RegExp(`^Redis at redis\\+cluster://tokenctl@[\\d.:,]+ \\(Cluster of 3 masters: ${each}\\), keys under "tokenctl:"$`)
      },
      start: () => requireRedisCluster(),
      title: 'Cluster',
    },
  ]

  for (const {reached, start, title} of topologies) {
    describe(title, () => {
      let topology: RedisTopology
      const stores: RedisStore[] = []
      let warnings: string[] = []

      before(async () => {
        topology = await topologyFor(title, start)
      })
      after(async () => {
        await stopTopology(topology)
      })
      // The library never prints (ioredis would, with a ready check the ACL refuses, or a password a server does not want).
      const printed: string[] = []
      const consoleMethods = ['debug', 'error', 'info', 'log', 'warn'] as const
      const originals = consoleMethods.map((method) => console[method].bind(console))
      beforeEach(() => {
        warnings = []
        printed.length = 0
        for (const method of consoleMethods) console[method] = (...args: unknown[]) => printed.push(`console.${method}: ${args.join(' ')}`)
      })
      afterEach(async () => {
        consoleMethods.forEach((method, index) => (console[method] = originals[index]))
        assert.deepEqual(printed, [], 'nothing printed')
        for (const store of stores.splice(0)) await store.close()
        await topology.restore()
        await topology.flush()
      })

      function open(env: Record<string, string | undefined> = {}): RedisStore {
        const store = new RedisStore({passphrase: PASSPHRASE, settings: redisSettings({...topology.env, ...env}), warn: (message) => warnings.push(message)})
        stores.push(store)
        return store
      }

      it("keeps, lists, locks and deletes entries: one entry's keys in one slot, listed from every master", async () => {
        const store = open()
        const names = Array.from({length: 12}, (_, i) => `${['session', 'token', 'client-secret'][i % 3]}:n${i}`)
        for (const name of names) await store.set(name, `value of ${name}`)
        assert.deepEqual(await store.list(''), [...names].sort())
        assert.deepEqual(await store.list('session:'), names.filter((name) => name.startsWith('session:')).sort())
        assert.deepEqual(await store.list('client'), names.filter((name) => name.startsWith('client-secret:')).sort())
        assert.equal(await open().get('token:n1'), 'value of token:n1')
        // As the token cache and sessions write: withLock around get and set.
        await Promise.all(
          Array.from({length: 6}, async () => {
            const each = open()
            await each.withLock('session:counter', async () => each.set('session:counter', String(Number((await each.get('session:counter')) ?? '0') + 1)))
          }),
        )
        assert.equal(await store.get('session:counter'), '6')
        assert.equal(await store.delete('session:n0'), true)
        assert.equal(await store.get('session:n0'), undefined)
        assert.equal(await store.withLock('session:n3', async () => store.delete('session:n3')), true)
        assert.deepEqual(warnings, [])
        if (title === 'Cluster') {
          const holding = await Promise.all((await (topology as RedisClusterSet).masters()).map(async (master) => (await master.cli('--scan', '--pattern', 'tokenctl:{*}e:*')).trim() !== ''))
          assert.ok(holding.filter(Boolean).length >= 2, 'the entries are spread over the masters')
        }
      })

      it('check() names the topology and what it reached', async () => {
        const store = open()
        assert.match(store.location, /^Redis at redis\+(sentinel|cluster):\/\/tokenctl@[^ ]+, keys under "tokenctl:"$/)
        await store.check()
        assert.match(store.location, await reached(topology))
      })

      it('a write a later run depends on waits for a replica: paused, one warning per process, the write done; the token cache does not wait', async () => {
        const replica = await topology.replicaOf(await topology.primaryFor(entryKey('session:a')))
        const cache = open()
        await cache.set('token:warm', 'v') // connected, the passphrase check read, before the replica stops
        const store = open()
        await store.set('session:warm', 'v')
        replica.pause()
        try {
          await cache.set('token:t', 'cached')
          assert.equal(warnings.length, 0, 'a cache entry waits for no replica')
          await store.set('session:a', '1')
          assert.equal(warnings.length, 1)
          assert.match(warnings[0], WARNING)
          assert.ok(warnings[0].includes('"session:a"'), warnings[0])
          await store.set('session:a', '2')
          assert.equal(warnings.length, 1, 'once per process')
          const locker = open()
          await locker.withLock('session:a', async () => {})
          assert.equal(warnings.length, 2)
          assert.ok(warnings[1].includes('the lock on "session:a"'), warnings[1])
        } finally {
          replica.resume()
        }

        assert.equal(await open().get('session:a'), '2')
      })

      it('a failover in the middle of a fenced write: written on the promoted replica, kept', async () => {
        const store = open()
        await store.set('session:f', 'before')
        const primary = await topology.primaryFor(entryKey('session:f'))
        await store.withLock('session:f', async () => {
          const failover = topology.failover(primary)
          // The primary is dead: the write meets the failover, and lands once the replica is promoted.
          await store.set('session:f', 'after')
          await failover
        })
        assert.equal(await open().get('session:f'), 'after')
        assert.deepEqual(warnings, [])
        assert.deepEqual(await open().list('session:'), ['session:f'])
      })

      it('a read meeting a failover is tried again up to TOKENCTL_REDIS_TIMEOUT: within it, it answers; beyond it, exit 7 naming the store', async () => {
        const patient = open({TOKENCTL_REDIS_TIMEOUT: '30'})
        const hasty = open({TOKENCTL_REDIS_TIMEOUT: '0.3'})
        await patient.set('token:r', 'v')
        await hasty.get('token:r')
        const failover = topology.failover(await topology.primaryFor(entryKey('token:r')))
        try {
          const error = await rejectsWith(hasty.get('token:r'), 'store_unavailable')
          assert.ok(error.message.startsWith(`Redis at ${topology.env.TOKENCTL_REDIS_URL.replace('tokenctl@', 'tokenctl@')} does not answer (`), error.message)
          assert.ok(!error.message.includes(topology.password))
          assert.equal(await patient.get('token:r'), 'v')
        } finally {
          await failover
        }
      })

      it("wrong credentials: exit 7 in the server's words, at once (a failover does not fix a password)", async () => {
        const error = await rejectsWith(open({TOKENCTL_REDIS_PASSWORD: 'not-the-password', TOKENCTL_REDIS_TIMEOUT: '30'}).check(), 'store_unavailable')
        assert.match(error.message, /refused tokenctl's credentials: WRONGPASS/)
      })

      if (title === 'Cluster') {
        it('a Cluster node named as one server (redis://): exit 7 saying it is a Cluster, and the URL to give', async () => {
          const [node] = await (topology as RedisClusterSet).masters()
          const single = open({TOKENCTL_REDIS_URL: `redis://tokenctl@${node.address}`})
          // Among a few entries, some live on other masters: MOVED.
          const error = await rejectsWith(
            (async () => {
              for (let i = 0; i < 12; i++) await single.set(`session:moved-${i}`, 'v')
            })(),
            'store_error',
          )
          assert.match(
            error.message,
            new RegExp(
              `^Redis at redis://tokenctl@${node.address.replaceAll('.', '\\.')} is a node of a Redis Cluster, which keeps this entry on another node \\((read the passphrase check|write the passphrase check|write "session:moved-\\d+")\\): MOVED `,
            ),
          )
          assert.deepEqual(error.suggestions, [`name it as a Cluster: TOKENCTL_REDIS_URL=redis+cluster://tokenctl@${node.address}`])
        })
      }

      it('a process that used the store ends by itself: no socket or timer of the topology keeps it alive', async () => {
        const script = `
          const {RedisStore, redisSettings} = await import(${JSON.stringify(MODULE)})
          const store = new RedisStore({passphrase: ${JSON.stringify(PASSPHRASE)}, settings: redisSettings(process.env)})
          await store.set('session:exit', 'v')
          await store.withLock('session:exit', async () => store.list(''))
          await store.check()
          console.log(await store.get('session:exit'))
        `
        // A timeout of a minute: a sentinel subscription, a slots refresh timer or a socket still referenced would keep the child that long.
        const env = {...process.env, ...topology.env, TOKENCTL_REDIS_TIMEOUT: '60'}
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

      it('a lock held elsewhere is waited for across the topology, and taken once released', async () => {
        const holder = open()
        const release = await holdLock(holder, 'session:l')
        let told!: () => void
        const waited = new Promise<void>((resolve) => (told = resolve))
        const waiting = open().withLock('session:l', async () => 'mine', {onWait: () => told()})
        await waited
        await release()
        assert.equal(await waiting, 'mine')
      })
    })
  }

  describe('Sentinel with sentinels that want a password', () => {
    let sentinel: SentinelSet
    before(async () => {
      sentinel = await topologyFor('Sentinel with sentinel passwords', () => requireSentinelSet({sentinelAuth: true}))
    })
    after(async () => {
      await stopTopology(sentinel)
    })

    it("are given the servers' user and password once they refuse to answer without", async () => {
      const store = new RedisStore({passphrase: PASSPHRASE, settings: redisSettings(sentinel.env)})
      try {
        await store.set('session:s', 'v')
        await store.check()
        assert.match(store.location, /\(Sentinel master "tokenctl-fleet" at 127\.0\.0\.1:\d+, 1 replica\)/)
      } finally {
        await store.close()
      }

      // "All sentinels are unreachable" is also what a failover in progress says: a refusal in it must not be tried again until the timeout.
      const connections = async () => {
        let total = 0
        for (const each of sentinel.sentinels) total += Number((await each.info('stats')).total_connections_received)
        return total
      }

      const wrong = new RedisStore({passphrase: PASSPHRASE, settings: redisSettings({...sentinel.env, TOKENCTL_REDIS_PASSWORD: 'not-the-password', TOKENCTL_REDIS_TIMEOUT: '5'})})
      try {
        const before = await connections()
        const error = await rejectsWith(wrong.get('session:s'), 'store_unavailable')
        assert.match(error.message, /All sentinels are unreachable/)
        assert.match(error.message, /WRONGPASS/, "the sentinels' own words")
        assert.ok(!error.message.includes(sentinel.password))
        // Each sentinel asked without a password, then with the refused one; INFO's own connection counts too.
        const asked = (await connections()) - before - sentinel.sentinels.length
        assert.ok(asked <= 2 * sentinel.sentinels.length, `the refused password was not tried again through a failover: ${asked} connections to the sentinels`)
      } finally {
        await wrong.close()
      }
    })
  })
})
