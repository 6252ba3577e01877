import {strict as assert} from 'node:assert'
import type {LookupAddress, LookupAllOptions} from 'node:dns'

import {ConfigError} from '../../src/lib/errors.js'
import {isLoopbackAddress, isLoopbackHost, isLoopbackName, pinnedLookup, type Resolve} from '../../src/lib/http/destination.js'
import {isAbandonedTemporary} from '../../src/lib/private-files.js'

/** A resolver that answers from a table and counts its lookups. */
function fakeResolver(table: Record<string, string[]>): Resolve & {calls: string[]} {
  const calls: string[] = []
  const resolve = (hostname: string, _options: LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => {
    calls.push(hostname)
    const addresses = table[hostname]
    if (!addresses) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {code: 'ENOTFOUND'}), [])
    else callback(null, addresses.map((address) => ({address, family: address.includes(':') ? 6 : 4})))
  }

  return Object.assign(resolve, {calls})
}

function lookup(resolve: Resolve, hostname: string, options: {all?: boolean} = {}): Promise<{address: LookupAddress[] | string; error: Error | null}> {
  return new Promise((done) => {
    pinnedLookup(resolve)(hostname, options, (error, address) => done({address, error}))
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
    })
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
