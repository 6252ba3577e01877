/**
 * One rule for the documents kept in TOKENCTL_HOME (src/lib/document-cache.ts): discovery metadata and
 * key sets are fresh for 24 h after they were fetched, and a fetch time in the future proves nothing.
 */
import {strict as assert} from 'node:assert'
import {mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'

import {DOCUMENT_TTL_MS, documentPath, isFresh, readDocument, writeDocument} from '../../src/lib/document-cache.js'

describe('the document cache: one 24 h rule for metadata and key sets', () => {
  const now = Date.parse('2026-11-25T10:00:00Z')

  it('is 24 h', () => {
    assert.equal(DOCUMENT_TTL_MS, 24 * 60 * 60 * 1000)
  })

  it('fresh from the moment it was fetched up to 24 h later, not a millisecond more', () => {
    assert.equal(isFresh(now, now), true)
    assert.equal(isFresh(now - 1, now), true)
    assert.equal(isFresh(now - DOCUMENT_TTL_MS + 1, now), true)
    assert.equal(isFresh(now - DOCUMENT_TTL_MS, now), false)
    assert.equal(isFresh(now - 25 * 60 * 60 * 1000, now), false)
  })

  it('a fetchedAt in the future (a clock set back, a copied or planted file) is stale', () => {
    assert.equal(isFresh(now + 1, now), false)
    assert.equal(isFresh(now + 60 * 60 * 1000, now), false)
  })

  it('measures from the current time by default', () => {
    assert.equal(isFresh(Date.now() - 1000), true)
    assert.equal(isFresh(Date.now() - DOCUMENT_TTL_MS - 1000), false)
  })

  describe('files', () => {
    let home: string
    let saved: string | undefined
    before(() => {
      home = mkdtempSync(join(tmpdir(), 'tokenctl-documents-'))
      saved = process.env.TOKENCTL_HOME
      process.env.TOKENCTL_HOME = home
    })
    after(() => {
      if (saved === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = saved
      rmSync(home, {force: true, recursive: true})
    })

    it('one file per URL and folder, written 0600, read back whatever its age', async () => {
      const file = documentPath('jwks', 'https://idp.example.com/keys')
      assert.equal(file, documentPath('jwks', 'https://idp.example.com/keys'))
      assert.notEqual(file, documentPath('jwks', 'https://idp.example.com/other'))
      assert.notEqual(file, documentPath('metadata', 'https://idp.example.com/keys'))
      assert.ok(file.startsWith(join(home, 'cache', 'jwks')))
      assert.match(basename(file), /^[\da-f]{32}\.json$/, 'named by a digest of the URL: no character of a URL reaches a file name')
      await writeDocument(file, {fetchedAt: 5, keys: 'x'})
      assert.equal(statSync(file).mode & 0o777, 0o600)
      assert.deepEqual(await readDocument(file), {fetchedAt: 5, keys: 'x'})
    })

    it('what is not an entry of ours is no entry: missing, not JSON, not an object, no finite fetchedAt', async () => {
      const file = join(home, 'entry.json')
      assert.equal(await readDocument(join(home, 'missing.json')), undefined)
      for (const text of ['not json', '[1]', 'null', '"x"', '{"fetchedAt":"5"}', '{"metadata":{}}', '{"fetchedAt":1e999}']) {
        writeFileSync(file, text)
        assert.equal(await readDocument(file), undefined, text)
      }
    })
  })
})
