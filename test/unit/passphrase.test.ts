/**
 * The secret of the encrypted stores: the passphrase (src/lib/store/passphrase.ts), or a key instead
 * (src/lib/store/store-secret.ts), from the variable or from a file a secret manager mounted; what a
 * failure says names the variable and the file, never the secret.
 */
import {strict as assert} from 'node:assert'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {ConfigError, ExitCode, StoreError} from '../../src/lib/errors.js'
import {PASSPHRASE_FILE_VARIABLE, PASSPHRASE_VARIABLE, passphraseSource, resolvePassphrase} from '../../src/lib/store/passphrase.js'
import {KEY_FILE_VARIABLE, KEY_VARIABLE, resolveStoreSecret, sealedOtherwise, secretOf, storeSecretSource, wrongSecret} from '../../src/lib/store/store-secret.js'

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
    for (const [file, kind] of [
      ['/dev/zero', 'a device'],
      [directory, 'a directory'],
    ]) {
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

describe('store key (instead of a passphrase)', () => {
  let directory: string
  beforeEach(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'tokenctl-store-key-'))
  })
  afterEach(() => rmSync(directory, {force: true, recursive: true}))

  const KEY = randomBytes(32)
  const keyOf = (env: NodeJS.ProcessEnv): Buffer => {
    const secret = resolveStoreSecret(env)
    assert.ok(secret !== undefined && typeof secret !== 'string', 'a key')
    return secret.key
  }

  function failsWith(env: NodeJS.ProcessEnv, kind: typeof ConfigError | typeof StoreError, code: string): Error & {suggestions?: string[]} {
    for (const attempt of [() => resolveStoreSecret(env), () => storeSecretSource(env)]) {
      try {
        attempt()
      } catch (error) {
        assert.ok(error instanceof kind, String(error))
        assert.equal(error.code, code)
        assert.equal(error.exitCode, kind === ConfigError ? ExitCode.config : ExitCode.store)
        return error
      }
    }

    assert.fail('no error')
  }

  it('the variables are TOKENCTL_STORE_KEY and TOKENCTL_STORE_KEY_FILE; the key is 32 bytes of base64, as openssl rand -base64 32 prints them', () => {
    assert.equal(KEY_VARIABLE, 'TOKENCTL_STORE_KEY')
    assert.equal(KEY_FILE_VARIABLE, 'TOKENCTL_STORE_KEY_FILE')
    assert.ok(keyOf({TOKENCTL_STORE_KEY: KEY.toString('base64')}).equals(KEY))
    assert.ok(keyOf({TOKENCTL_STORE_KEY: KEY.toString('base64').replace(/=+$/, '')}).equals(KEY), 'padding is optional')
    assert.ok(keyOf({TOKENCTL_STORE_KEY: ` ${KEY.toString('base64')}\n`}).equals(KEY), 'a key has no spaces: those around it are dropped')
    assert.deepEqual(storeSecretSource({TOKENCTL_STORE_KEY: KEY.toString('base64')}), {kind: 'key', variable: 'TOKENCTL_STORE_KEY'})
  })

  it('comes from a file with its line ending (openssl rand -base64 32 > file); the variable wins over the file', () => {
    const file = path.join(directory, 'key')
    writeFileSync(file, `${KEY.toString('base64')}\n`)
    assert.ok(keyOf({TOKENCTL_STORE_KEY_FILE: file}).equals(KEY))
    assert.deepEqual(storeSecretSource({TOKENCTL_STORE_KEY_FILE: file}), {file, kind: 'key', variable: 'TOKENCTL_STORE_KEY_FILE'})
    const other = randomBytes(32)
    assert.ok(keyOf({TOKENCTL_STORE_KEY: other.toString('base64'), TOKENCTL_STORE_KEY_FILE: file}).equals(other))
    assert.deepEqual(storeSecretSource({TOKENCTL_STORE_KEY: 'x', TOKENCTL_STORE_KEY_FILE: file}), {kind: 'key', variable: 'TOKENCTL_STORE_KEY'})
  })

  it('a passphrase alone is the secret; nothing set, or only empty variables, is none', () => {
    assert.equal(resolveStoreSecret({TOKENCTL_STORE_PASSPHRASE: 'pass'}), 'pass')
    assert.deepEqual(storeSecretSource({TOKENCTL_STORE_PASSPHRASE: 'pass'}), {kind: 'passphrase', variable: 'TOKENCTL_STORE_PASSPHRASE'})
    assert.deepEqual(storeSecretSource({TOKENCTL_STORE_PASSPHRASE_FILE: '/f'}), {file: '/f', kind: 'passphrase', variable: 'TOKENCTL_STORE_PASSPHRASE_FILE'})
    const empty = {TOKENCTL_STORE_KEY: '', TOKENCTL_STORE_KEY_FILE: '', TOKENCTL_STORE_PASSPHRASE: '', TOKENCTL_STORE_PASSPHRASE_FILE: ''}
    assert.equal(resolveStoreSecret(empty), undefined)
    assert.equal(storeSecretSource(empty), undefined)
    assert.ok(keyOf({...empty, TOKENCTL_STORE_KEY: KEY.toString('base64')}).equals(KEY), 'an empty passphrase is no passphrase')
  })

  it('a key and a passphrase both set: exit 3 naming both variables, never a value', () => {
    for (const key of [{TOKENCTL_STORE_KEY: KEY.toString('base64')}, {TOKENCTL_STORE_KEY_FILE: path.join(directory, 'absent')}]) {
      for (const passphrase of [{TOKENCTL_STORE_PASSPHRASE: 'pass-value'}, {TOKENCTL_STORE_PASSPHRASE_FILE: path.join(directory, 'absent')}]) {
        const error = failsWith({...key, ...passphrase}, ConfigError, 'config_error')
        const [keyVariable, passphraseVariable] = [Object.keys(key)[0], Object.keys(passphrase)[0]]
        assert.equal(error.message, `both a store key (${keyVariable}) and a store passphrase (${passphraseVariable}) are set: a store is sealed with one of them`)
        assert.deepEqual(error.suggestions, ['unset TOKENCTL_STORE_KEY / TOKENCTL_STORE_KEY_FILE to use the passphrase, or TOKENCTL_STORE_PASSPHRASE / TOKENCTL_STORE_PASSPHRASE_FILE to use the key'])
      }
    }
  })

  it('not base64, or base64 of another length: exit 7 saying which, never the value', () => {
    for (const [value, what] of [
      ['not a key at all!', 'it is not base64'],
      ['-_-_' + KEY.toString('base64url').slice(4), 'it is not base64'],
      [`${KEY.toString('base64')}==`, 'it is not base64'],
      [`${KEY.toString('base64').slice(0, 20)} ${KEY.toString('base64').slice(20)}`, 'it is not base64'],
      [randomBytes(16).toString('base64'), 'it is 16 bytes in base64, not 32'],
      [randomBytes(31).toString('base64'), 'it is 31 bytes in base64, not 32'],
      [randomBytes(33).toString('base64'), 'it is 33 bytes in base64, not 32'],
      [randomBytes(64).toString('base64'), 'it is 64 bytes in base64, not 32'],
      ['QQ', 'it is 1 bytes in base64, not 32'],
      ['QR', 'it is not base64'],
      ['QQ=', 'it is 1 bytes in base64, not 32'],
      ['QQ===', 'it is not base64'],
      ['Q', 'it is not base64'],
      [' \t', 'it is empty'],
    ]) {
      const error = failsWith({TOKENCTL_STORE_KEY: value}, StoreError, 'store_invalid_key')
      assert.equal(error.message, `TOKENCTL_STORE_KEY is not a 256-bit store key: ${what}`, value)
      assert.deepEqual(error.suggestions, ['make one with openssl rand -base64 32 (the same on every machine that shares the store), and put it in TOKENCTL_STORE_KEY'])
      if (value.trim() !== '') assert.ok(!error.message.includes(value.trim()) && !error.suggestions.join('').includes(value.trim()))
    }

    const file = path.join(directory, 'key')
    writeFileSync(file, `${randomBytes(24).toString('base64')}\n`)
    const error = failsWith({TOKENCTL_STORE_KEY_FILE: file}, StoreError, 'store_invalid_key')
    assert.equal(error.message, `the store key file ${file} (TOKENCTL_STORE_KEY_FILE) is not a 256-bit store key: it is 24 bytes in base64, not 32`)
    assert.deepEqual(error.suggestions, ['make one with openssl rand -base64 32 (the same on every machine that shares the store), and put it in TOKENCTL_STORE_KEY_FILE'])
    writeFileSync(file, '\n')
    assert.match(failsWith({TOKENCTL_STORE_KEY_FILE: file}, StoreError, 'store_invalid_key').message, /is not a 256-bit store key: it is empty$/)
  })

  it('the key file is read as every secret file is: a regular file, at most 64 KiB; else exit 7 naming it', () => {
    const missing = path.join(directory, 'missing')
    let error = failsWith({TOKENCTL_STORE_KEY_FILE: missing}, StoreError, 'store_invalid_key')
    assert.equal(error.message, `cannot read the store key file ${missing} (TOKENCTL_STORE_KEY_FILE): there is no such file`)
    assert.deepEqual(error.suggestions, ['check the path in TOKENCTL_STORE_KEY_FILE: the file your secret manager mounts must be there when tokenctl runs (or set TOKENCTL_STORE_KEY instead)'])
    for (const [file, kind] of [
      ['/dev/zero', 'a device'],
      [directory, 'a directory'],
    ]) {
      error = failsWith({TOKENCTL_STORE_KEY_FILE: file}, StoreError, 'store_invalid_key')
      assert.equal(error.message, `cannot read the store key file ${file} (TOKENCTL_STORE_KEY_FILE): it is ${kind}, not a regular file`)
    }

    const large = path.join(directory, 'large')
    writeFileSync(large, `${KEY.toString('base64')}\n${' '.repeat(64 * 1024)}`)
    error = failsWith({TOKENCTL_STORE_KEY_FILE: large}, StoreError, 'store_invalid_key')
    assert.equal(error.message, `the store key file ${large} (TOKENCTL_STORE_KEY_FILE) holds more than 64 KiB: a store key is one line of 44 characters`)
    assert.deepEqual(error.suggestions, ['point TOKENCTL_STORE_KEY_FILE at the file that holds the key'])
  })

  it('a wrong secret, and a store sealed with the other kind, each say what to set', () => {
    const key = wrongSecret('/h/store.enc', 'key')
    assert.equal(key.code, 'store_wrong_key')
    assert.equal(key.message, 'cannot open the secure store /h/store.enc: wrong key')
    assert.deepEqual(key.suggestions, ['check TOKENCTL_STORE_KEY / TOKENCTL_STORE_KEY_FILE: it must be the key the store was created with'])
    const passphrase = wrongSecret('in Redis at r:1', 'passphrase', true)
    assert.equal(passphrase.code, 'store_wrong_passphrase')
    assert.deepEqual(passphrase.suggestions, ['check TOKENCTL_STORE_PASSPHRASE / TOKENCTL_STORE_PASSPHRASE_FILE: every host must use the passphrase the store was created with'])
    const sealedWithPassphrase = sealedOtherwise('/h/store.enc', 'passphrase', 'move /h/store.enc aside')
    assert.equal(sealedWithPassphrase.code, 'store_wrong_secret_kind')
    assert.equal(sealedWithPassphrase.exitCode, ExitCode.store)
    assert.equal(sealedWithPassphrase.message, 'cannot open the secure store /h/store.enc: it is sealed with a passphrase, and a key is set')
    assert.deepEqual(sealedWithPassphrase.suggestions, [
      'set TOKENCTL_STORE_PASSPHRASE / TOKENCTL_STORE_PASSPHRASE_FILE to the passphrase it was sealed with, and unset TOKENCTL_STORE_KEY / TOKENCTL_STORE_KEY_FILE; or move /h/store.enc aside to start a store sealed with what is set (its secrets are then lost)',
    ])
    const sealedWithKey = sealedOtherwise('x', 'key', 'y')
    assert.equal(sealedWithKey.message, 'cannot open the secure store x: it is sealed with a key, and a passphrase is set')
    assert.match(sealedWithKey.suggestions[0], /^set TOKENCTL_STORE_KEY \/ TOKENCTL_STORE_KEY_FILE to the key it was sealed with, and unset TOKENCTL_STORE_PASSPHRASE \//)
  })

  it('a backend takes a passphrase or a key', () => {
    assert.equal(secretOf({passphrase: 'p'}), 'p')
    assert.deepEqual(secretOf({key: KEY}), {key: KEY})
  })
})
