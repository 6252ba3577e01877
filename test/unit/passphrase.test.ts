/**
 * The passphrase of the encrypted stores (src/lib/store/passphrase.ts): from the variable, or from a
 * file a secret manager mounted; what a failure says names the variable and the file, never the
 * passphrase.
 */
import {strict as assert} from 'node:assert'
import {mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {ExitCode, StoreError} from '../../src/lib/errors.js'
import {PASSPHRASE_FILE_VARIABLE, PASSPHRASE_VARIABLE, passphraseSource, resolvePassphrase} from '../../src/lib/store/passphrase.js'

function failure(env: NodeJS.ProcessEnv): StoreError {
  try {
    resolvePassphrase(env)
  } catch (error) {
    assert.ok(error instanceof StoreError, String(error))
    assert.equal(error.code, 'store_error')
    assert.equal(error.exitCode, ExitCode.store)
    return error
  }

  assert.fail('no error')
}

describe('store passphrase', () => {
  let directory: string
  beforeEach(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'tokenctl-passphrase-'))
  })
  afterEach(() => rmSync(directory, {force: true, recursive: true}))

  it('the variables are TOKENCTL_STORE_PASSPHRASE and TOKENCTL_STORE_PASSPHRASE_FILE', () => {
    assert.equal(PASSPHRASE_VARIABLE, 'TOKENCTL_STORE_PASSPHRASE')
    assert.equal(PASSPHRASE_FILE_VARIABLE, 'TOKENCTL_STORE_PASSPHRASE_FILE')
    assert.equal(resolvePassphrase({TOKENCTL_STORE_PASSPHRASE: 'direct'}), 'direct')
  })

  it('reads process.env when given no environment', () => {
    const saved = {...process.env}
    try {
      delete process.env.TOKENCTL_STORE_PASSPHRASE_FILE
      process.env.TOKENCTL_STORE_PASSPHRASE = 'from process.env'
      assert.equal(resolvePassphrase(), 'from process.env')
      assert.deepEqual(passphraseSource(), {variable: 'TOKENCTL_STORE_PASSPHRASE'})
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name]
      Object.assign(process.env, saved)
    }
  })

  it('an empty file variable counts as unset', () => {
    assert.equal(passphraseSource({TOKENCTL_STORE_PASSPHRASE_FILE: ''}), undefined)
    assert.equal(resolvePassphrase({TOKENCTL_STORE_PASSPHRASE_FILE: ''}), undefined)
  })

  it('a missing file names the file, the variable, the reason in words (not ENOENT) and the ways out', () => {
    const missing = path.join(directory, 'missing')
    const error = failure({TOKENCTL_STORE_PASSPHRASE_FILE: missing})
    assert.equal(error.message, `cannot read the store passphrase file ${missing} (TOKENCTL_STORE_PASSPHRASE_FILE): there is no such file`)
    assert.deepEqual(error.suggestions, [
      'check the path in TOKENCTL_STORE_PASSPHRASE_FILE: the file your secret manager mounts must be there when tokenctl runs (or set TOKENCTL_STORE_PASSPHRASE instead)',
    ])
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENOENT')
  })

  it('a folder on the path that is a file, and a directory named as the file, are said in words too', () => {
    const notFolder = path.join(directory, 'plain')
    writeFileSync(notFolder, 'x')
    assert.match(failure({TOKENCTL_STORE_PASSPHRASE_FILE: path.join(notFolder, 'pass')}).message, /: a part of its path is a file, not a folder$/)
    const folder = failure({TOKENCTL_STORE_PASSPHRASE_FILE: directory})
    assert.match(folder.message, /: it is a directory, not a regular file$/)
    assert.deepEqual(folder.suggestions, ['point TOKENCTL_STORE_PASSPHRASE_FILE at the regular file that holds the passphrase'])
  })

  it('a file holding only a line ending is empty; the message says what to write where', () => {
    for (const content of ['', '\n', '\r\n']) {
      const file = path.join(directory, 'empty')
      writeFileSync(file, content)
      const error = failure({TOKENCTL_STORE_PASSPHRASE_FILE: file})
      assert.equal(error.message, `the store passphrase file ${file} (TOKENCTL_STORE_PASSPHRASE_FILE) is empty`)
      assert.deepEqual(error.suggestions, [`write the passphrase into ${file}`])
    }
  })

  it('a file of more than 64 KiB is refused without being read whole', () => {
    const file = path.join(directory, 'passphrase')
    writeFileSync(file, 'p'.repeat(64 * 1024))
    assert.equal(resolvePassphrase({TOKENCTL_STORE_PASSPHRASE_FILE: file}), 'p'.repeat(64 * 1024))
    writeFileSync(file, 'p'.repeat(64 * 1024 + 1))
    const error = failure({TOKENCTL_STORE_PASSPHRASE_FILE: file})
    assert.equal(error.message, `the store passphrase file ${file} (TOKENCTL_STORE_PASSPHRASE_FILE) holds more than 64 KiB: a passphrase is one line`)
    assert.deepEqual(error.suggestions, ['point TOKENCTL_STORE_PASSPHRASE_FILE at the file that holds the passphrase'])
  })

  it('a device that never ends (/dev/zero) or a directory is refused before any read, saying what it is', () => {
    for (const [file, kind] of [['/dev/zero', 'a device'], [directory, 'a directory']]) {
      const error = failure({TOKENCTL_STORE_PASSPHRASE_FILE: file})
      assert.equal(error.message, `cannot read the store passphrase file ${file} (TOKENCTL_STORE_PASSPHRASE_FILE): it is ${kind}, not a regular file`)
      assert.deepEqual(error.suggestions, ['point TOKENCTL_STORE_PASSPHRASE_FILE at the regular file that holds the passphrase'])
    }
  })

  it('closes the file it reads, whatever it held', () => {
    const file = path.join(directory, 'passphrase')
    const large = path.join(directory, 'large')
    writeFileSync(file, 'p\n')
    writeFileSync(large, 'p'.repeat(64 * 1024 + 1))
    const descriptors = () => readdirSync('/proc/self/fd').length
    const before = descriptors()
    for (let run = 0; run < 20; run++) {
      assert.equal(resolvePassphrase({TOKENCTL_STORE_PASSPHRASE_FILE: file}), 'p')
      failure({TOKENCTL_STORE_PASSPHRASE_FILE: large})
    }

    assert.equal(descriptors(), before)
  })

  it('only the one line ending at the very end is dropped', () => {
    const file = path.join(directory, 'passphrase')
    for (const [content, expected] of [
      ['pass\n', 'pass'],
      ['pass\r\n', 'pass'],
      ['pass\r', 'pass\r'],
      ['\npass', '\npass'],
      ['pa\nss\n', 'pa\nss'],
      [' pass \n', ' pass '],
    ]) {
      writeFileSync(file, content)
      assert.equal(resolvePassphrase({TOKENCTL_STORE_PASSPHRASE_FILE: file}), expected, JSON.stringify(content))
    }
  })
})
