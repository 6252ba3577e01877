import {strict as assert} from 'node:assert'
import type {LookupAddress, LookupAllOptions} from 'node:dns'
import {createServer, request} from 'node:http'
import {connect, createServer as createTcpServer, type Socket} from 'node:net'

import {ConfigError} from '../../src/lib/errors.js'
import {isLoopbackAddress, isLoopbackHost, isLoopbackName, loopbackCheckedLookup, pinnedLookup, type Resolve} from '../../src/lib/http/destination.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {isAbandonedTemporary} from '../../src/lib/private-files.js'

/**
 * A resolver that answers from a table as dns.lookup does (all the addresses with `all`, else the
 * first one alone) and records what it was asked.
 */
function fakeResolver(table: Record<string, string[]>): Resolve & {calls: string[]; options: LookupAllOptions[]} {
  const calls: string[] = []
  const options: LookupAllOptions[] = []
  const resolve = (hostname: string, asked: LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => {
    calls.push(hostname)
    options.push(asked)
    const addresses = table[hostname]
    if (!addresses) {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {code: 'ENOTFOUND'}), [])
      return
    }

    const answers = addresses.map((address) => ({address, family: address.includes(':') ? 6 : 4}))
    if (asked.all) callback(null, answers)
    else (callback as unknown as (error: null, address: string | undefined, family: number | undefined) => void)(null, answers[0]?.address, answers[0]?.family)
  }

  return Object.assign(resolve, {calls, options})
}

function lookup(
  resolve: Resolve,
  hostname: string,
  options: {all?: boolean; family?: number} | number | undefined = {},
): Promise<{address: LookupAddress[] | string; error: Error | null; family?: number}> {
  return new Promise((done) => {
    pinnedLookup(resolve)(hostname, options, (error, address, family) => done({address, error, family}))
  })
}

/** What `net.connect` through a lookup gives: the address it connected to, or the failure. */
function connectThrough(lookupFn: ReturnType<typeof pinnedLookup>, host: string, port: number): Promise<{address?: string; error?: Error}> {
  return new Promise((done) => {
    const socket: Socket = connect({host, lookup: lookupFn, port})
    socket.once('connect', () => {
      done({address: socket.remoteAddress})
      socket.destroy()
    })
    socket.once('error', (error) => done({error}))
  })
}

describe('loopback destinations', () => {
  it('knows loopback addresses, IPv4-mapped ones included, and nothing else', () => {
    for (const address of ['127.0.0.1', '127.255.0.9', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1', '[::ffff:7f00:1]']) {
      assert.ok(isLoopbackAddress(address), address)
    }

    for (const address of ['0.0.0.0', '10.0.0.1', '128.0.0.1', '::', '::2', '::ffff:10.0.0.1', '::ffff:a00:1', 'localhost', '192.0.2.2']) {
      assert.ok(!isLoopbackAddress(address), address)
    }
  })

  it('reads every spelling of ::1 and of an IPv4-mapped 127.x, in any case, as loopback', () => {
    const spellings = [
      '0000:0000:0000:0000:0000:0000:0000:0001',
      '0:0:0:0:0:ffff:127.0.0.1',
      '0000:0000:0000:0000:0000:ffff:127.1.2.3',
      '::FFFF:7F00:1',
      '[::FFFF:127.0.0.1]',
      '::ffff:7f00:100', // 127.0.1.0
      '::ffff:7fff:ffff', // 127.255.255.255
    ]
    for (const address of spellings) assert.ok(isLoopbackAddress(address), address)
  })

  it('an address is loopback only as a whole: an address that merely contains a loopback one is not', () => {
    const lookalikes = [
      '10:0:0:0:0:0:0:1', // 10::1
      '0:0:0:0:0:0:0:10', // ::10
      '0:0:0:0:0:0:0:11', // ::11
      '1::ffff:127.0.0.1', // not IPv4-mapped: a prefix before the ffff
      '::ffff:1:7f00:1',
      '::ffff:7f00:1:1',
      '::ffff:0:127.0.0.1', // IPv4-translated (SIIT), not mapped
      'ffff::1',
      '::ffff:7f:1', // 0.127.0.1
      '::ffff:8000:1', // 128.0.0.1
    ]
    for (const address of lookalikes) assert.ok(!isLoopbackAddress(address), address)
  })

  it('what is not an IP address is not a loopback address, however close it looks', () => {
    for (const text of [':::ffff:127.0.0.1', '::ffff:127.0.0.1x', '127.0.0.1.', '127.1', 'x127.0.0.1', '', '[]']) {
      assert.ok(!isLoopbackAddress(text), JSON.stringify(text))
    }
  })

  it('knows localhost names (RFC 6761 §6.3), which are checked when connecting', () => {
    for (const name of ['localhost', 'LOCALHOST', 'api.localhost', 'a.b.localhost', 'localhost.']) assert.ok(isLoopbackName(name), name)
    for (const name of ['localhost.example.com', 'notlocalhost', 'example.com', '127.0.0.1']) assert.ok(!isLoopbackName(name), name)
    assert.ok(isLoopbackHost('[::1]') && isLoopbackHost('evil.localhost') && !isLoopbackHost('example.com'))
  })

  describe('the lookup of a connection', () => {
    it('resolves a localhost name once and connects to exactly the addresses it checked', async () => {
      const resolve = fakeResolver({'api.localhost': ['127.0.0.1', '::1']})
      const one = await lookup(resolve, 'api.localhost')
      assert.equal(one.error, null)
      assert.equal(one.address, '127.0.0.1')
      const all = await lookup(resolve, 'api.localhost', {all: true})
      assert.deepEqual(all.address, [
        {address: '127.0.0.1', family: 4},
        {address: '::1', family: 6},
      ])
      assert.deepEqual(resolve.calls, ['api.localhost', 'api.localhost'], 'one resolution per connection, none besides')
      assert.ok(
        resolve.options.every((options) => options.all === true),
        'every address of the name is asked for, to check them all',
      )
    })

    it('keeps the family asked for, given as options or as a number (as net passes it)', async () => {
      const resolve = fakeResolver({'api.localhost': ['::1']})
      const six = await lookup(resolve, 'api.localhost', 6)
      assert.deepEqual([six.error, six.address, six.family], [null, '::1', 6])
      await lookup(resolve, 'api.localhost', {family: 6})
      await lookup(resolve, 'api.localhost', undefined)
      assert.deepEqual(
        resolve.options.map(({all, family}) => [all, family]),
        [
          [true, 6],
          [true, 6],
          [true, undefined],
        ],
      )
    })

    it('refuses a localhost name with any address that is not loopback (exit 3, not_loopback)', async () => {
      const resolve = fakeResolver({'evil.localhost': ['192.0.2.2'], 'mixed.localhost': ['127.0.0.1', '192.0.2.2'], 'empty.localhost': []})
      for (const name of ['evil.localhost', 'mixed.localhost', 'empty.localhost']) {
        const {error} = await lookup(resolve, name)
        assert.ok(error instanceof ConfigError, name)
        assert.equal(error.code, 'not_loopback')
        assert.equal(error.exitCode, 3)
        assert.match(error.message, new RegExp(name.replace('.', '\\.')))
      }
    })

    it('says what the name resolved to, and what to do instead', async () => {
      const resolve = fakeResolver({'evil.localhost': ['192.0.2.2'], 'mixed.localhost': ['127.0.0.1', '192.0.2.2'], 'empty.localhost': []})
      const failure = async (name: string) => (await lookup(resolve, name)).error as ConfigError
      assert.equal(
        (await failure('mixed.localhost')).message,
        'mixed.localhost resolves to 127.0.0.1, 192.0.2.2, not only to loopback addresses: refusing to connect (a localhost name must stay on this machine)',
      )
      assert.equal(
        (await failure('empty.localhost')).message,
        'empty.localhost resolves to no address, not only to loopback addresses: refusing to connect (a localhost name must stay on this machine)',
      )
      assert.deepEqual((await failure('evil.localhost')).suggestions, ['check the hosts file and resolver entries for evil.localhost, or use http://127.0.0.1 instead'])
    })

    it('a connection goes to the loopback address it checked, and never opens to a localhost name that resolves elsewhere', async () => {
      const accepted: string[] = []
      const server = createTcpServer((socket) => {
        accepted.push(socket.remoteAddress ?? '')
        socket.destroy()
      })
      const port = await listenOnLoopback(server)
      try {
        const good = await connectThrough(pinnedLookup(fakeResolver({'api.localhost': ['127.0.0.1']})), 'api.localhost', port)
        assert.deepEqual(good, {address: '127.0.0.1'})
        const evil = await connectThrough(pinnedLookup(fakeResolver({'api.localhost': ['127.0.0.1', '192.0.2.2']})), 'api.localhost', port)
        assert.ok(evil.error instanceof ConfigError && evil.error.code === 'not_loopback', String(evil.error))
        assert.equal(accepted.length, 1, 'the refused connection never reached the server')
      } finally {
        server.close()
      }
    })

    it('by default asks the system resolver: localhost is this machine', async () => {
      const answer = await new Promise<{address: LookupAddress[] | string; error: Error | null}>((done, fail) => {
        const timer = setTimeout(() => fail(new Error('the system resolver was never asked')), 5000)
        loopbackCheckedLookup('localhost', {all: true}, (error, address) => {
          clearTimeout(timer)
          done({address, error})
        })
      })
      assert.equal(answer.error, null)
      assert.ok(Array.isArray(answer.address) && answer.address.length > 0)
      for (const {address} of answer.address) assert.ok(isLoopbackAddress(address), address)
    })

    it('passes resolver failures on as they are', async () => {
      const {error} = await lookup(fakeResolver({}), 'gone.localhost')
      assert.equal((error as NodeJS.ErrnoException).code, 'ENOTFOUND')
    })

    it('leaves other names to the system resolver (a proxy or DNS decides, not us)', async () => {
      const resolve = fakeResolver({})
      const {error, address} = await lookup(resolve, '127.0.0.1')
      assert.equal(error, null)
      assert.equal(address, '127.0.0.1')
      assert.deepEqual(resolve.calls, [])
      const all = await lookup(resolve, '127.0.0.1', {all: true})
      assert.deepEqual(all.address, [{address: '127.0.0.1', family: 4}])
      assert.deepEqual(resolve.calls, [])
    })
  })
})

describe('local servers listen on loopback only', () => {
  it('on 127.0.0.1, on a free port or the one given, with no error listener left behind', async () => {
    const first = createServer()
    const port = await listenOnLoopback(first)
    try {
      assert.ok(port > 0)
      assert.deepEqual(first.address(), {address: '127.0.0.1', family: 'IPv4', port})
      assert.equal(first.listenerCount('error'), 0, "later errors are the server's own, not swallowed by the listen")
    } finally {
      await closeServer(first)
    }

    const again = createServer()
    assert.equal(await listenOnLoopback(again, port), port)
    await closeServer(again)
  })

  it('a port already taken is an error, not a hang', async () => {
    const holder = createServer()
    const port = await listenOnLoopback(holder)
    try {
      await assert.rejects(listenOnLoopback(createServer(), port), {code: 'EADDRINUSE'})
    } finally {
      await closeServer(holder)
    }
  })

  it('closing cuts a request still waiting for its answer, instead of waiting for it', async () => {
    const server = createServer(() => {}) // never answers
    const port = await listenOnLoopback(server)
    const outcome = new Promise<string>((done) => {
      request({host: '127.0.0.1', port, agent: false}, () => done('answered'))
        .once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message))
        .end()
    })
    await new Promise<void>((done) => server.once('request', () => done()))
    await closeServer(server)
    assert.equal(await outcome, 'ECONNRESET')
    assert.equal(server.listening, false)
  })
})

describe('temporary files of killed writers', () => {
  const now = Date.parse('2026-11-25T10:00:00Z')
  const deadPid = 2 ** 22 + 12_345 // above Linux's pid_max: never a running process

  it('are abandoned once their writer is gone for a while, or after an hour whatever their pid, or dated in the future', () => {
    assert.ok(isAbandonedTemporary(`store.enc.${deadPid}.0123456789ab.tmp`, now - 60_000, now))
    assert.ok(!isAbandonedTemporary(`store.enc.${deadPid}.0123456789ab.tmp`, now - 5000, now), 'a writer that may be on another host, still writing')
    assert.ok(!isAbandonedTemporary(`store.enc.${process.pid}.0123456789ab.tmp`, now - 60_000, now), 'our own, live')
    assert.ok(isAbandonedTemporary(`store.enc.${process.pid}.0123456789ab.tmp`, now - 2 * 60 * 60_000, now))
    assert.ok(isAbandonedTemporary(`config.json.${deadPid}.0123456789ab.tmp`, now + 2 * 60 * 60_000, now), 'a future date is no proof of a fresh write')
  })

  it('are only files that look like ours', () => {
    for (const name of ['store.enc', 'config.json', 'notes.tmp', 'store.enc.lock', 'x.1234.tmp', 'sessions.json.0123456789ab.tmp']) assert.ok(!isAbandonedTemporary(name, 0, now), name)
  })
})
