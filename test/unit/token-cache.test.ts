/**
 * The token cache (src/lib/oauth/token-cache.ts) over an in-memory store that records what it is
 * asked: the key, when the store is opened at all, when the lock is taken, what is written.
 */
import {strict as assert} from 'node:assert'

import {NetworkError} from '../../src/lib/errors.js'
import type {Progress} from '../../src/lib/http/context.js'
import {cachedOrFetched, cacheKey, type CacheKeyParts, tokenEntry} from '../../src/lib/oauth/token-cache.js'
import type {AccessToken} from '../../src/lib/oauth/token.js'
import type {EntryOptions, LockOptions, SecretStore} from '../../src/lib/store/types.js'

class MemoryStore implements SecretStore {
  readonly backend = 'file' as const
  readonly location = 'memory'
  readonly entries = new Map<string, string>()
  readonly locked: string[] = []
  /** What each write said besides the value. */
  readonly options = new Map<string, EntryOptions | undefined>()
  /** Runs inside withLock before fn: what another process did while we waited. */
  meanwhile?: () => void
  /** Whether withLock reports a wait (another holder). */
  contended = false

  async check(): Promise<void> {}
  async delete(name: string): Promise<boolean> {
    return this.entries.delete(name)
  }

  async get(name: string): Promise<string | undefined> {
    return this.entries.get(name)
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.entries.keys()].filter((name) => name.startsWith(prefix))
  }

  async set(name: string, value: string, options?: EntryOptions): Promise<void> {
    this.entries.set(name, value)
    this.options.set(name, options)
  }

  async withLock<T>(name: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    this.locked.push(name)
    if (this.contended) options?.onWait?.({pid: 4242})
    this.meanwhile?.()
    return fn()
  }
}

const KEY = 'k1'
const ENTRY = `token:${KEY}`
const inSeconds = (seconds: number): number => Date.now() + seconds * 1000
const token = (name: string, seconds?: number): AccessToken => ({access_token: name, token_type: 'Bearer', ...(seconds === undefined ? {} : {expires_at: inSeconds(seconds)})})

describe('token cache', () => {
  describe('cacheKey', () => {
    const base: CacheKeyParts = {
      audience: [],
      clientId: 'c',
      grant: 'client_credentials',
      params: [
        ['b', '2'],
        ['a', '1'],
      ],
      resources: ['r1', 'r2'],
      scopes: ['a', 'b'],
      server: 'https://idp/token',
    }

    it('is a SHA-256 in hex, the same whatever the order of scopes, resources and params', () => {
      assert.match(cacheKey(base), /^[\da-f]{64}$/)
      assert.equal(
        cacheKey(base),
        cacheKey({
          ...base,
          params: [
            ['a', '1'],
            ['b', '2'],
          ],
          resources: ['r2', 'r1'],
          scopes: ['b', 'a'],
        }),
      )
      assert.equal(cacheKey({...base, audience: ['x', 'y']}), cacheKey({...base, audience: ['y', 'x']}), 'audiences in any order (--audience repeats)')
    })

    it('differs in each part that makes two tokens not interchangeable', () => {
      const variants: Array<Partial<CacheKeyParts>> = [
        {scopes: ['a']},
        {scopes: ['a', 'c']},
        {resources: ['r1']},
        {audience: ['x']},
        {audience: ['x', 'y']},
        {audience: ['']},
        {params: [['a', '1']]},
        {
          params: [
            ['a', '1'],
            ['b', '3'],
          ],
        },
        {clientId: 'd'},
        {grant: 'urn:ietf:params:oauth:grant-type:jwt-bearer'},
        {server: 'https://other/token'},
        {subject: 'sha'},
        {subject: ''},
      ]
      const keys = new Set([cacheKey(base), ...variants.map((variant) => cacheKey({...base, ...variant}))])
      assert.equal(keys.size, variants.length + 1)
    })

    it('holds the flavor when there is one (on-behalf-of)', () => {
      const keys = new Set([cacheKey(base), cacheKey({...base, flavor: 'entra'}), cacheKey({...base, flavor: 'rfc8693'}), cacheKey({...base, flavor: ''})])
      assert.equal(keys.size, 4)
    })

    it("holds the DPoP key's thumbprint when there is one (a token bound to another key is no use)", () => {
      const keys = new Set([
        cacheKey(base),
        cacheKey({...base, dpopJkt: 'a'}),
        cacheKey({...base, dpopJkt: 'b'}),
        cacheKey({...base, dpopJkt: 'a', flavor: 'entra'}),
        cacheKey({...base, flavor: 'entra'}),
        cacheKey({...base, dpopJkt: ''}),
      ])
      assert.equal(keys.size, 6)
      assert.equal(cacheKey({...base, dpopJkt: undefined}), cacheKey(base))
    })

    it("does not sort the caller's arrays in place", () => {
      const parts: CacheKeyParts = {
        ...base,
        audience: ['y', 'x'],
        params: [
          ['b', '2'],
          ['a', '1'],
        ],
        resources: ['r2', 'r1'],
        scopes: ['b', 'a'],
      }
      cacheKey(parts)
      assert.deepEqual(parts, {
        ...base,
        audience: ['y', 'x'],
        params: [
          ['b', '2'],
          ['a', '1'],
        ],
        resources: ['r2', 'r1'],
        scopes: ['b', 'a'],
      })
    })

    it('names the store entry token:KEY', () => {
      assert.equal(tokenEntry('abc'), 'token:abc')
    })
  })

  describe('cachedOrFetched', () => {
    let store: MemoryStore
    let fetches: number
    let opened: number
    let progress: Progress[]
    const openStore = async () => {
      opened++
      return store
    }

    const fetchGiving = (fetched: AccessToken) => async () => {
      fetches++
      return fetched
    }

    beforeEach(() => {
      store = new MemoryStore()
      fetches = 0
      opened = 0
      progress = []
    })

    const hooks = () => ({progress: (event: Progress) => progress.push(event)})

    it('a miss fetches once, under the lock, and writes the token as JSON under token:KEY', async () => {
      const fresh = token('fresh', 3600)
      const result = await cachedOrFetched(openStore, KEY, {}, fetchGiving(fresh), hooks())
      assert.deepEqual(result, {source: 'identity_provider', token: fresh})
      assert.equal(fetches, 1)
      assert.deepEqual(store.locked, [ENTRY])
      assert.deepEqual(JSON.parse(store.entries.get(ENTRY)!), fresh)
      assert.deepEqual(progress, [])
    })

    it('a token is written with its lifetime, so that the store drops it once expired, and with how to read the lifetime of what was cached before', async () => {
      const fresh = token('fresh', 3600)
      await cachedOrFetched(openStore, KEY, {}, fetchGiving(fresh))
      assert.deepEqual(store.options.get(ENTRY), {expiresAt: fresh.expires_at})
    })

    it('a hit is served without a fetch and without the lock', async () => {
      const cached = token('cached', 3600)
      store.entries.set(ENTRY, JSON.stringify(cached))
      const result = await cachedOrFetched(openStore, KEY, {}, fetchGiving(token('fresh', 3600)))
      assert.deepEqual(result, {source: 'cache', token: cached})
      assert.equal(fetches, 0)
      assert.deepEqual(store.locked, [])
    })

    it("a token with 60 s or less left is a miss; with more, a hit (the lifetime buffer of README's Commands section)", async () => {
      store.entries.set(ENTRY, JSON.stringify(token('old', 59)))
      assert.equal((await cachedOrFetched(openStore, KEY, {}, fetchGiving(token('new', 3600)))).source, 'identity_provider')
      store.entries.set(ENTRY, JSON.stringify(token('old', 90)))
      assert.equal((await cachedOrFetched(openStore, KEY, {}, fetchGiving(token('new', 3600)))).source, 'cache')
    })

    it('--min-ttl raises the buffer', async () => {
      store.entries.set(ENTRY, JSON.stringify(token('old', 200)))
      const result = await cachedOrFetched(openStore, KEY, {minTtlSeconds: 300}, fetchGiving(token('new', 3600)))
      assert.deepEqual([result.source, result.token.access_token], ['identity_provider', 'new'])
      assert.equal(JSON.parse(store.entries.get(ENTRY)!).access_token, 'new')
    })

    it('--force skips the read, not the write', async () => {
      store.entries.set(ENTRY, JSON.stringify(token('cached', 3600)))
      const result = await cachedOrFetched(openStore, KEY, {force: true}, fetchGiving(token('forced', 3600)))
      assert.deepEqual([result.source, result.token.access_token], ['identity_provider', 'forced'])
      assert.equal(JSON.parse(store.entries.get(ENTRY)!).access_token, 'forced')
    })

    it('--no-cache neither opens the store nor writes', async () => {
      const result = await cachedOrFetched(openStore, KEY, {noCache: true}, fetchGiving(token('fresh', 3600)))
      assert.equal(result.source, 'identity_provider')
      assert.equal(opened, 0)
      assert.equal(store.entries.size, 0)
    })

    it('a token of unknown expiry is returned but never cached', async () => {
      const result = await cachedOrFetched(openStore, KEY, {}, fetchGiving(token('forever')))
      assert.equal(result.token.access_token, 'forever')
      assert.equal(store.entries.has(ENTRY), false)
    })

    it('an unreadable or foreign entry is a miss, replaced by the next write', async () => {
      const later = inSeconds(3600)
      for (const garbage of ['{not json', `{"token_type":"Bearer","expires_at":${later}}`, `{"access_token":42,"expires_at":${later}}`, 'null', '']) {
        store.entries.set(ENTRY, garbage)
        const result = await cachedOrFetched(openStore, KEY, {}, fetchGiving(token('fresh', 3600)))
        assert.equal(result.source, 'identity_provider', garbage)
        assert.equal(JSON.parse(store.entries.get(ENTRY)!).access_token, 'fresh', garbage)
      }
    })

    it('a failure is never cached: the entry stays as it was', async () => {
      const stale = JSON.stringify(token('stale', 10))
      store.entries.set(ENTRY, stale)
      const failure = new NetworkError('503', 'server_error')
      await assert.rejects(
        cachedOrFetched(openStore, KEY, {}, async () => {
          throw failure
        }),
        (error) => error === failure,
      )
      assert.equal(store.entries.get(ENTRY), stale)
    })

    it('whoever waited for the lock takes the token the holder wrote meanwhile, without a fetch, and says it waited', async () => {
      const written = token('written-meanwhile', 3600)
      store.contended = true
      store.meanwhile = () => store.entries.set(ENTRY, JSON.stringify(written))
      const result = await cachedOrFetched(openStore, KEY, {}, fetchGiving(token('fresh', 3600)), hooks())
      assert.deepEqual(result, {source: 'cache', token: written})
      assert.equal(fetches, 0)
      assert.deepEqual(progress, [{message: 'waiting for another tokenctl fetching the same token', state: 'waiting'}])
    })

    it('with --force, what the holder wrote meanwhile is not taken either', async () => {
      store.meanwhile = () => store.entries.set(ENTRY, JSON.stringify(token('written-meanwhile', 3600)))
      const result = await cachedOrFetched(openStore, KEY, {force: true}, fetchGiving(token('forced', 3600)))
      assert.deepEqual([result.source, result.token.access_token], ['identity_provider', 'forced'])
    })

    it('a wait without hooks is silent', async () => {
      store.contended = true
      const result = await cachedOrFetched(openStore, KEY, {}, fetchGiving(token('fresh', 3600)))
      assert.equal(result.source, 'identity_provider')
    })
  })
})
