/**
 * The one reader of file inputs (src/lib/bounded-read.ts): a regular file, read up to a bound, and
 * nothing else — a FIFO, a device, a directory is refused before any read, after following links.
 * A FIFO nobody writes to is tried end to end (test/e2e/hostile-answers.test.ts): here, a refusal
 * that broke would hang the test process itself.
 */
import {strict as assert} from 'node:assert'
import {mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {NotRegularFileError, readAtMost, readAtMostSync, readRegularFileSync} from '../../src/lib/bounded-read.js'

describe('reading a file input: a regular file, bounded', () => {
  let directory: string
  beforeEach(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'tokenctl-bounded-read-'))
  })
  afterEach(() => rmSync(directory, {force: true, recursive: true}))

  const readers = {
    readAtMost: (file: string) => readAtMost(file, 4),
    readAtMostSync: async (file: string) => readAtMostSync(file, 4),
    readRegularFileSync: async (file: string) => readRegularFileSync(file),
  }

  for (const [name, read] of Object.entries(readers)) {
    it(`${name}: a device, a directory, or a link to one is refused, saying what it is`, async () => {
      const link = path.join(directory, 'link')
      symlinkSync('/dev/zero', link)
      for (const [file, kind] of [
        ['/dev/zero', 'a device'],
        ['/dev/null', 'a device'],
        [directory, 'a directory'],
        [link, 'a device'],
      ]) {
        await assert.rejects(read(file), (error: Error) => error instanceof NotRegularFileError && error.message === `it is ${kind}, not a regular file`, file)
      }
    })

    it(`${name}: a regular file, through a link too, is read; a missing one is the system's error`, async () => {
      const file = path.join(directory, 'secret')
      writeFileSync(file, 'abcd')
      const link = path.join(directory, 'link')
      symlinkSync(file, link)
      assert.equal((await read(link))?.toString(), 'abcd')
      await assert.rejects(read(path.join(directory, 'missing')), (error: NodeJS.ErrnoException) => error.code === 'ENOENT')
    })

    it(`${name}: leaves no descriptor open, refused or read`, async () => {
      const file = path.join(directory, 'secret')
      writeFileSync(file, 'abcd')
      const descriptors = () => readdirSync('/proc/self/fd').length
      // Node opens what its async file system needs on first use: counted from after that.
      await read(file)
      const before = descriptors()
      for (let run = 0; run < 10; run++) {
        await read(file)
        await read('/dev/zero').catch(() => {})
      }

      assert.equal(descriptors(), before)
    })
  }

  it('the bounded readers stop one byte past the bound; the CA reader reads it all', async () => {
    const file = path.join(directory, 'large')
    writeFileSync(file, 'abcde')
    assert.equal(await readAtMost(file, 4), undefined)
    assert.equal(readAtMostSync(file, 4), undefined)
    assert.equal((await readAtMost(file, 5))?.toString(), 'abcde')
    assert.equal(readRegularFileSync(file).toString(), 'abcde')
  })
})
