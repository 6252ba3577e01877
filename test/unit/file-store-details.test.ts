/**
 * The encrypted file store (src/lib/store/file-store.ts) in detail: what each kind of damage says
 * and that nothing is written over it, and how entries with a lifetime leave it;
 * test/unit/file-store.test.ts covers the main paths and several processes at once.
 */
import {strict as assert} from 'node:assert'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {openEnvelope, parseEnvelope, sealEnvelope} from '../../src/lib/store/envelope.js'
import {FileStore} from '../../src/lib/store/file-store.js'
import {rejectsWith} from '../helpers/assertions.js'

const PASSPHRASE = 'file store details'
const CHEAP = {N: 1024, p: 1, r: 8}

describe('file store in detail', () => {
  let home: string
  let file: string
  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'tokenctl-file-store-details-'))
    file = path.join(home, 'store.enc')
  })
  afterEach(() => rmSync(home, {force: true, recursive: true}))

  const store = () => new FileStore({file, kdfParams: CHEAP, passphrase: PASSPHRASE})

  it('names its file, TOKENCTL_HOME/store.enc unless given another', () => {
    const saved = process.env.TOKENCTL_HOME
    process.env.TOKENCTL_HOME = home
    try {
      assert.equal(new FileStore({passphrase: PASSPHRASE}).location, path.join(home, 'store.enc'))
    } finally {
      if (saved === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = saved
    }

    assert.equal(store().location, file)
    assert.equal(store().backend, 'file')
  })

  it('seals with the parameters it was given', async () => {
    await store().set('a', '1')
    assert.deepEqual(parseEnvelope(readFileSync(file)).params, CHEAP)
  })

  it('draws a new salt when its scrypt parameters change (N, r or p alone), and keeps it otherwise', async () => {
    const saltOf = () => parseEnvelope(readFileSync(file)).salt
    await store().set('a', '1')
    let salt = saltOf()
    await store().set('a', '2')
    assert.ok(saltOf().equals(salt), 'same parameters: same salt')
    for (const params of [
      {...CHEAP, N: CHEAP.N * 2},
      {...CHEAP, N: CHEAP.N * 2, r: CHEAP.r + 1},
      {...CHEAP, N: CHEAP.N * 2, p: CHEAP.p + 1, r: CHEAP.r + 1},
    ]) {
      await new FileStore({file, kdfParams: params, passphrase: PASSPHRASE}).set('a', JSON.stringify(params))
      assert.equal(saltOf().equals(salt), false, `new parameters ${JSON.stringify(params)}: a new salt`)
      assert.deepEqual(parseEnvelope(readFileSync(file)).params, params)
      salt = saltOf()
    }

    assert.equal(await store().get('a'), JSON.stringify({...CHEAP, N: CHEAP.N * 2, p: CHEAP.p + 1, r: CHEAP.r + 1}))
  })

  /** A store file whose envelope opens under the passphrase but holds plaintext. */
  async function sealed(plaintext: string): Promise<void> {
    writeFileSync(file, await sealEnvelope(Buffer.from(plaintext), PASSPHRASE, CHEAP), {mode: 0o600})
  }

  for (const [plaintext, reason] of [
    ['not json', 'its contents are not JSON'],
    ['null', 'its contents have no entries'],
    ['{}', 'its contents have no entries'],
    ['{"entries":null}', 'its contents have no entries'],
    ['{"entries":"x"}', 'its contents have no entries'],
    ['{"entries":["a"]}', 'its contents have no entries'],
    ['{"entries":{"a":1}}', 'an entry is not a string'],
  ]) {
    it(`contents ${plaintext}: corrupt (${reason}), with the way out, and never written over`, async () => {
      await sealed(plaintext)
      const before = readFileSync(file)
      const error = await rejectsWith(store().get('a'), 'store_corrupt')
      assert.equal(error.message, `the secure store ${file} is corrupt: ${reason}`)
      assert.deepEqual(error.suggestions, [`restore ${file} from a backup, or move it aside to start an empty store (its secrets are then lost)`])
      await rejectsWith(store().set('a', 'b'), 'store_corrupt')
      assert.ok(readFileSync(file).equals(before))
    })
  }

  it('a wrong passphrase says which variables to check', async () => {
    await store().set('a', '1')
    const error = await rejectsWith(new FileStore({file, passphrase: 'wrong'}).get('a'), 'store_wrong_passphrase')
    assert.equal(error.message, `cannot open the secure store ${file}: wrong passphrase`)
    assert.deepEqual(error.suggestions, ['check TOKENCTL_STORE_PASSPHRASE / TOKENCTL_STORE_PASSPHRASE_FILE: it must be the passphrase the store was created with'])
  })

  it('a store file that cannot be read is a store error naming it', async () => {
    mkdirSync(file)
    const error = await rejectsWith(store().get('a'), 'store_error')
    assert.match(error.message, new RegExp(`^cannot read the secure store ${file.replaceAll('.', '\\.')}: .*EISDIR`))
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'EISDIR', 'the system error is kept for --verbose')
  })

  it('a store file that cannot be written is a store error naming it, and the store is as it was', async () => {
    // A name the lock file (+5 characters) still fits in, but not the temporary file written next to it.
    const long = path.join(home, 's'.repeat(240))
    const error = await rejectsWith(new FileStore({file: long, kdfParams: CHEAP, passphrase: PASSPHRASE}).set('a', '1'), 'store_error')
    assert.match(error.message, /^cannot write the secure store .*: .*ENAMETOOLONG/)
    assert.ok(error.message.includes(long))
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENAMETOOLONG')
    assert.equal(await new FileStore({file: long, kdfParams: CHEAP, passphrase: PASSPHRASE}).get('a'), undefined)
  })

  it('a delete of an entry that is not there writes nothing', async () => {
    await store().set('a', '1')
    const before = statSync(file)
    assert.equal(await store().delete('missing'), false)
    assert.equal(statSync(file).ino, before.ino, 'the file was not replaced')
  })

  it('every read sees what another instance wrote since', async () => {
    const reader = store()
    await store().set('a', '1')
    assert.equal(await reader.get('a'), '1')
    await store().set('a', '2')
    assert.equal(await reader.get('a'), '2')
    assert.deepEqual(await reader.list(''), ['a'])
    await store().delete('a')
    assert.equal(await reader.get('a'), undefined)
  })

  it('an entry read can be changed by the caller without changing the store', async () => {
    const one = store()
    await one.set('a', '1')
    await one.set('b', '2')
    assert.deepEqual(await one.list(''), ['a', 'b'])
    assert.equal(await one.delete('a'), true)
    assert.deepEqual(await one.list(''), ['b'])
    assert.equal(await one.get('a'), undefined)
  })

  describe('lifetimes', () => {
    const past = () => Date.now() - 60_000
    const later = () => Date.now() + 3_600_000

    /** What the file holds, decrypted. */
    async function contents(): Promise<{entries: Record<string, string>; expires: Record<string, number>}> {
      const opened = await openEnvelope(readFileSync(file), PASSPHRASE)
      assert.ok(opened.ok)
      return JSON.parse(opened.plaintext.toString('utf8'))
    }

    it('an entry whose lifetime has ended is gone after the next write; one still alive, and those written without one (a session, a secret), stay', async () => {
      const at = later()
      await sealed(
        JSON.stringify({
          entries: {'client-secret:ci': 's', 'session:nightly': 'r', 'token:alive': 'a', 'token:ended': 'e'},
          expires: {'token:alive': at, 'token:ended': past()},
        }),
      )
      assert.equal(await store().get('token:ended'), 'e', 'a read removes nothing (readers never write)')
      await store().set('token:new', 'n', {expiresAt: at})
      assert.deepEqual(await store().list(''), ['client-secret:ci', 'session:nightly', 'token:alive', 'token:new'])
      assert.deepEqual(await contents(), {
        entries: {'client-secret:ci': 's', 'session:nightly': 'r', 'token:alive': 'a', 'token:new': 'n'},
        expires: {'token:alive': at, 'token:new': at},
      })
    })

    it('a delete is a write too: it leaves out what has ended', async () => {
      await sealed(JSON.stringify({entries: {a: '1', b: '2', 'token:ended': 'e'}, expires: {'token:ended': past()}}))
      assert.equal(await store().delete('a'), true)
      assert.deepEqual(await store().list(''), ['b'])
    })

    it('an entry written with a lifetime already over is not kept at all', async () => {
      await store().set('token:late', 'x', {expiresAt: past()})
      assert.deepEqual((await contents()).entries, {})
    })

    it('an entry written again without a lifetime loses the one it had, and is kept', async () => {
      await sealed(JSON.stringify({entries: {x: 'cache'}, expires: {x: past()}}))
      await store().set('x', 'kept')
      await store().set('y', 'another write')
      assert.equal(await store().get('x'), 'kept')
      assert.deepEqual((await contents()).expires, {})
    })

    it('a lifetime that is not a number is none: the entry is kept; a file without lifetimes opens as before', async () => {
      await sealed(JSON.stringify({entries: {a: '1', b: '2'}, expires: {a: 'soon', b: null}}))
      await store().set('c', '3')
      assert.deepEqual(await store().list(''), ['a', 'b', 'c'])
      for (const expires of ['null', '"x"', '[1]']) {
        await sealed(`{"entries":{"a":"1"},"expires":${expires}}`)
        await store().set('c', '3')
        assert.deepEqual(await store().list(''), ['a', 'c'], expires)
      }
    })
  })
})
