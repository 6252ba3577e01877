/**
 * The per-entry locks of the local backends (src/lib/store/local-lock.ts): one lock file per entry
 * under TOKENCTL_HOME/locks, named by a hash of the entry so that every tokenctl process — whatever
 * its version — meets the same file, so that a read-modify-write under it (withLock around get and
 * set, as the token cache and sessions do) loses nothing.
 */
import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {localLockPath, withLocalLock} from '../../src/lib/store/local-lock.js'
import type {SecretStore} from '../../src/lib/store/types.js'
import {holdLock, incremented} from '../helpers/locks.js'

/** A store of plain values whose get and set yield between them, as a real backend's do: lost updates show. */
function slowStore(): Pick<SecretStore, 'get' | 'set' | 'withLock'> & {entries: Map<string, string>} {
  const entries = new Map<string, string>()
  const tick = () => new Promise((resolve) => setTimeout(resolve, 1))
  return {
    entries,
    async get(name) {
      await tick()
      return entries.get(name)
    },
    async set(name, value) {
      await tick()
      entries.set(name, value)
    },
    withLock: (name, fn, options) => withLocalLock(name, fn, options),
  }
}

describe('local locks', () => {
  const saved = process.env.TOKENCTL_HOME
  let home: string
  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'tokenctl-local-lock-'))
    process.env.TOKENCTL_HOME = home
  })
  afterEach(() => {
    if (saved === undefined) delete process.env.TOKENCTL_HOME
    else process.env.TOKENCTL_HOME = saved
    rmSync(home, {force: true, recursive: true})
  })

  it("one lock file per entry under TOKENCTL_HOME/locks (0700), named by 40 hex digits of the entry's SHA-256", () => {
    const digest = createHash('sha256').update('session:nightly').digest('hex').slice(0, 40)
    assert.equal(localLockPath('session:nightly'), path.join(home, 'locks', `${digest}.lock`))
    assert.equal(statSync(path.join(home, 'locks')).mode & 0o777, 0o700)
    assert.notEqual(localLockPath('session:a'), localLockPath('session:b'))
  })

  it("withLocalLock holds the entry's lock file while fn runs, returns what fn returns, and releases it", async () => {
    const lock = localLockPath('token:x')
    const result = await withLocalLock('token:x', async () => {
      assert.ok(existsSync(lock), 'held')
      return 42
    })
    assert.equal(result, 42)
    assert.equal(existsSync(lock), false, 'released')
  })

  it('withLocalLock passes its options on: a held entry is waited for, then given up on', async () => {
    const release = await holdLock({withLock: withLocalLock}, 'token:x')
    let waited = false
    await assert.rejects(
      withLocalLock('token:x', async () => 'never', {onWait: () => (waited = true), waitMs: 200}),
      {code: 'store_lock_timeout'},
    )
    assert.ok(waited, 'onWait was called')
    await release()
    assert.equal(await withLocalLock('token:x', async () => 'mine', {waitMs: 200}), 'mine')
  })

  it("a read-modify-write under the entry's lock: 20 concurrent increments lose none", async () => {
    const store = slowStore()
    const results = await Promise.all(Array.from({length: 20}, () => incremented(store, 'counter')))
    assert.equal(store.entries.get('counter'), '20')
    assert.deepEqual(
      [...results].sort((a, b) => Number(a) - Number(b)),
      Array.from({length: 20}, (_, i) => String(i + 1)),
    )
  })
})
