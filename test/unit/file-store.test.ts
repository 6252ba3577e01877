import {strict as assert} from 'node:assert'
import {type ChildProcessWithoutNullStreams, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {createRequire, syncBuiltinESMExports} from 'node:module'
import {existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath} from 'node:url'

import {ExitCode, StoreError} from '../../src/lib/errors.js'
import {DEFAULT_KDF_PARAMS, parseEnvelope} from '../../src/lib/store/envelope.js'
import {FileStore} from '../../src/lib/store/file-store.js'
import {localLockPath} from '../../src/lib/store/local-lock.js'
import {passphraseSource, resolvePassphrase} from '../../src/lib/store/passphrase.js'
import {rejectsWith} from '../helpers/assertions.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const WORKER = path.join(ROOT, 'test/fixtures/file-store-worker.ts')
const PASSPHRASE = 'correct horse battery staple'
const SECRET = 'S3CRET-recognisable-f00dcafe'

function storeFile(): string {
  return path.join(process.env.TOKENCTL_HOME!, 'store.enc')
}

function assertOneCleanLine(error: StoreError, ...secrets: string[]): void {
  assert.ok(error.message.includes(storeFile()), `the message names the file: ${error.message}`)
  assert.ok(!error.message.includes('\n'), 'one line')
  for (const secret of secrets) assert.ok(!JSON.stringify({...error, message: error.message}).includes(secret), 'no secret in the error')
}

/** Bytes and mtime of the store file, with the mtime pushed into the past so that any write shows. */
function snapshot(file: string): {bytes: Buffer; mtimeMs: number} {
  const past = new Date(Date.now() - 3_600_000)
  utimesSync(file, past, past)
  return {bytes: readFileSync(file), mtimeMs: statSync(file).mtimeMs}
}

function assertUnchanged(file: string, before: {bytes: Buffer; mtimeMs: number}): void {
  assert.ok(readFileSync(file).equals(before.bytes), 'the file bytes are unchanged')
  assert.equal(statSync(file).mtimeMs, before.mtimeMs, 'the file mtime is unchanged')
  const leftovers = readdirSync(path.dirname(file)).filter((name) => name.startsWith('store.enc') && name !== 'store.enc')
  assert.deepEqual(leftovers, [], 'no temp or lock file left behind')
}

interface Worker {
  child: ChildProcessWithoutNullStreams
  exited: Promise<number | string | null>
  output(): string
  waitFor(line: string): Promise<void>
}

function startWorker(...args: string[]): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], {
    cwd: ROOT,
    env: {...process.env, TOKENCTL_STORE_PASSPHRASE: PASSPHRASE, TOKENCTL_STORE_PASSPHRASE_FILE: ''},
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)))
  return {
    child,
    exited,
    output: () => `${stdout}${stderr}`,
    async waitFor(line) {
      while (!stdout.split('\n').includes(line)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`worker exited before "${line}": ${stderr}`)
        await sleep(10)
      }
    },
  }
}

/** Starts the workers, releases them together once all are ready, waits for them all to succeed. */
async function runTogether(...argLists: string[][]): Promise<void> {
  const workers = argLists.map((args) => startWorker(...args))
  try {
    await Promise.all(workers.map((worker) => worker.waitFor('ready')))
    for (const worker of workers) worker.child.stdin.write('go\n')
    const codes = await Promise.all(workers.map((worker) => worker.exited))
    codes.forEach((code, i) => assert.equal(code, 0, `worker ${i} failed: ${workers[i].output()}`))
  } finally {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGKILL')
  }
}

describe('file store', () => {
  const savedEnv = {...process.env}
  let home: string

  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'tokenctl-file-store-'))
    process.env.TOKENCTL_HOME = home
  })

  afterEach(() => {
    for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name]
    Object.assign(process.env, savedEnv)
    rmSync(home, {force: true, recursive: true})
  })

  describe('entries', () => {
    it('round-trips set, get, list and delete, across instances', async () => {
      const store = new FileStore({passphrase: PASSPHRASE})
      assert.equal(store.backend, 'file')
      assert.equal(store.location, storeFile())

      await store.set('client:ci', SECRET)
      await store.set('client:web', 'first')
      await store.set('client:web', 'second ✓ «unicode»')
      await store.set('session:abc', 'refresh')
      await store.set('__proto__', 'not a prototype')

      const again = new FileStore({passphrase: PASSPHRASE})
      assert.equal(await again.get('client:ci'), SECRET)
      assert.equal(await again.get('client:web'), 'second ✓ «unicode»')
      assert.equal(await again.get('__proto__'), 'not a prototype')
      assert.equal(await again.get('client:none'), undefined)
      assert.deepEqual(await again.list('client:'), ['client:ci', 'client:web'])
      assert.deepEqual(await again.list(''), ['__proto__', 'client:ci', 'client:web', 'session:abc'])

      assert.equal(await again.delete('client:ci'), true)
      assert.equal(await again.delete('client:ci'), false)
      assert.equal(await store.get('client:ci'), undefined)
      assert.deepEqual(await store.list('client:'), ['client:web'])
    })

    it('treats a missing file as an empty store and creates nothing to read it', async () => {
      const store = new FileStore({passphrase: PASSPHRASE})
      await store.check()
      assert.equal(await store.get('x'), undefined)
      assert.deepEqual(await store.list(''), [])
      assert.equal(await store.delete('x'), false)
      assert.equal(existsSync(storeFile()), false)
    })
  })

  describe('the file', () => {
    it('is mode 0600, holds no plaintext and leaves no temp file', async () => {
      const store = new FileStore({passphrase: PASSPHRASE})
      await store.set('recognisable-entry-name', SECRET)
      await store.set('other', 'x')

      assert.equal(statSync(storeFile()).mode & 0o777, 0o600)
      const bytes = readFileSync(storeFile())
      for (const text of [SECRET, 'recognisable-entry-name', PASSPHRASE, '"entries"']) {
        for (const encoding of ['utf8', 'utf16le', 'base64', 'hex'] as const) {
          assert.equal(bytes.includes(Buffer.from(text).toString(encoding), 0, encoding === 'utf16le' ? 'utf16le' : 'latin1'), false, `${text} (${encoding}) in the file`)
        }
      }

      assert.deepEqual(readdirSync(home).sort(), ['store.enc'])
    })

    it('keeps its salt across writes (one key per store), gets a fresh nonce on every write and records its scrypt parameters', async () => {
      const store = new FileStore({passphrase: PASSPHRASE})
      await store.set('a', '1')
      const first = parseEnvelope(readFileSync(storeFile()))
      await store.set('a', '1')
      const second = parseEnvelope(readFileSync(storeFile()))
      await new FileStore({passphrase: PASSPHRASE}).set('b', '2') // as another process would
      const third = parseEnvelope(readFileSync(storeFile()))

      assert.equal(first.salt.equals(second.salt) && first.salt.equals(third.salt), true, 'the salt of the file is kept')
      assert.equal(new Set([first, second, third].map((envelope) => envelope.nonce.toString('hex'))).size, 3, 'a nonce reused')
      assert.deepEqual(first.params, {...DEFAULT_KDF_PARAMS})
      assert.deepEqual(first.params, {N: 2 ** 14, p: 1, r: 8})
    })

    it('draws a fresh salt for a new file: two stores under one passphrase do not share a key', async () => {
      await new FileStore({passphrase: PASSPHRASE}).set('a', '1')
      const other = path.join(mkdtempSync(path.join(tmpdir(), 'tokenctl-other-store-')), 'store.enc')
      await new FileStore({file: other, passphrase: PASSPHRASE}).set('a', '1')
      assert.equal(parseEnvelope(readFileSync(storeFile())).salt.equals(parseEnvelope(readFileSync(other)).salt), false)
      rmSync(path.dirname(other), {force: true, recursive: true})
    })

    it('derives its key once per process: a read, then a write under the lock, cost one scrypt', async () => {
      // The derivations of this process are remembered: a passphrase of the test's own starts from none.
      const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')
      const original = crypto.scrypt
      let derivations = 0
      crypto.scrypt = ((...args: Parameters<typeof original>) => {
        derivations++
        return (original as (...a: unknown[]) => void)(...args)
      }) as typeof original
      syncBuiltinESMExports()
      try {
        const store = new FileStore({passphrase: 'a passphrase of this test only'})
        await store.set('b', '2') // a new file: its salt, one derivation
        const reader = new FileStore({passphrase: 'a passphrase of this test only'})
        assert.equal(await reader.get('b'), '2')
        await reader.set('c', '3')
        assert.equal(derivations, 1)
      } finally {
        crypto.scrypt = original
        syncBuiltinESMExports()
      }
    })

    it('sealed with a key: HKDF, no scrypt at all, no parameters recorded, its salt kept across writes', async () => {
      const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')
      const original = crypto.scrypt
      let derivations = 0
      crypto.scrypt = ((...args: Parameters<typeof original>) => {
        derivations++
        return (original as (...a: unknown[]) => void)(...args)
      }) as typeof original
      syncBuiltinESMExports()
      try {
        const key = randomBytes(32)
        await new FileStore({key}).set('a', SECRET)
        const first = parseEnvelope(readFileSync(storeFile()))
        const reader = new FileStore({key: Buffer.from(key)})
        assert.equal(await reader.get('a'), SECRET)
        await reader.set('b', '2')
        const second = parseEnvelope(readFileSync(storeFile()))
        assert.equal(first.sealedWith, 'key')
        assert.deepEqual(first.params, {N: 0, p: 0, r: 0})
        assert.ok(first.salt.equals(second.salt), 'the salt of the file is kept')
        assert.ok(!first.nonce.equals(second.nonce))
        assert.deepEqual(await new FileStore({kdfParams: {N: 1024, p: 1, r: 1}, key}).list(''), ['a', 'b'])
        assert.equal(derivations, 0)
        for (const text of [SECRET, key.toString('base64'), key.toString('hex')]) assert.ok(!readFileSync(storeFile()).includes(text))
      } finally {
        crypto.scrypt = original
        syncBuiltinESMExports()
      }
    })

    it('decrypts the file once while it does not change: reads of the bytes this process last opened or wrote decrypt nothing', async () => {
      const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')
      const original = crypto.createDecipheriv
      let decryptions = 0
      crypto.createDecipheriv = ((...args: Parameters<typeof original>) => {
        decryptions++
        return original(...args)
      }) as typeof original
      syncBuiltinESMExports()
      try {
        const key = randomBytes(32)
        const store = new FileStore({key})
        await store.set('a', '1') // a new file: nothing to decrypt
        assert.deepEqual([await store.get('a'), await store.get('a'), await store.list('')], ['1', '1', ['a']])
        assert.equal(decryptions, 0, 'what it wrote it knows')
        await new FileStore({key}).set('b', '2') // another process writes
        assert.equal(await store.get('b'), '2')
        assert.equal(await store.get('a'), '1')
        assert.equal(decryptions, 2, "the other writer's file once (its own read before its write, then this one)")
      } finally {
        crypto.createDecipheriv = original
        syncBuiltinESMExports()
      }
    })

    it('opens a file written with other scrypt parameters, and rewrites it with the current ones', async () => {
      const old = new FileStore({kdfParams: {N: 2 ** 10, p: 2, r: 4}, passphrase: PASSPHRASE})
      await old.set('a', SECRET)
      assert.deepEqual(parseEnvelope(readFileSync(storeFile())).params, {N: 1024, p: 2, r: 4})

      const current = new FileStore({passphrase: PASSPHRASE})
      assert.equal(await current.get('a'), SECRET)
      await current.set('b', '2')
      assert.deepEqual(parseEnvelope(readFileSync(storeFile())).params, {N: 2 ** 14, p: 1, r: 8})
      assert.equal(await old.get('a'), SECRET)
    })
  })

  describe('a store that does not open', () => {
    async function assertEveryOperationFails(store: FileStore, code: string, ...secrets: string[]): Promise<void> {
      const before = snapshot(storeFile())
      assertOneCleanLine(await rejectsWith(store.get('a'), code), ...secrets)
      await rejectsWith(store.list(''), code)
      await rejectsWith(store.check(), code)
      assertOneCleanLine(await rejectsWith(store.set('a', 'overwrite'), code), ...secrets)
      await rejectsWith(store.set('new', 'value'), code)
      await rejectsWith(store.delete('a'), code)
      assertUnchanged(storeFile(), before)
    }

    it('with a wrong key: store_wrong_key, exit 7, the file left as it was', async () => {
      const key = randomBytes(32)
      await new FileStore({key}).set('a', SECRET)
      const other = randomBytes(32)
      const wrong = new FileStore({key: other})
      await assertEveryOperationFails(wrong, 'store_wrong_key', SECRET, key.toString('base64'), other.toString('base64'))
      const error = await rejectsWith(wrong.get('a'), 'store_wrong_key')
      assert.equal(error.message, `cannot open the secure store ${storeFile()}: wrong key`)
      assert.equal(await new FileStore({key}).get('a'), SECRET)
    })

    it('sealed with a passphrase, opened with a key (or the reverse): says which it is sealed with, exit 7, the file left as it was', async () => {
      const key = randomBytes(32)
      await new FileStore({passphrase: PASSPHRASE}).set('a', SECRET)
      await assertEveryOperationFails(new FileStore({key}), 'store_wrong_secret_kind', SECRET, PASSPHRASE, key.toString('base64'))
      const error = await rejectsWith(new FileStore({key}).get('a'), 'store_wrong_secret_kind')
      assert.equal(error.message, `cannot open the secure store ${storeFile()}: it is sealed with a passphrase, and a key is set`)
      assert.match(error.suggestions[0], /^set TOKENCTL_STORE_PASSPHRASE \/ TOKENCTL_STORE_PASSPHRASE_FILE to the passphrase it was sealed with/)
      assert.ok(error.suggestions[0].includes(`move ${storeFile()} aside`))

      rmSync(storeFile())
      await new FileStore({key}).set('a', SECRET)
      await assertEveryOperationFails(new FileStore({passphrase: PASSPHRASE}), 'store_wrong_secret_kind', SECRET, PASSPHRASE, key.toString('base64'))
      const reverse = await rejectsWith(new FileStore({passphrase: PASSPHRASE}).get('a'), 'store_wrong_secret_kind')
      assert.equal(reverse.message, `cannot open the secure store ${storeFile()}: it is sealed with a key, and a passphrase is set`)
    })

    it('with a wrong passphrase: store_wrong_passphrase, exit 7, the file left as it was', async () => {
      await new FileStore({passphrase: PASSPHRASE}).set('a', SECRET)
      const wrong = new FileStore({passphrase: 'Tr0ub4dor&3'})
      await assertEveryOperationFails(wrong, 'store_wrong_passphrase', SECRET, PASSPHRASE, 'Tr0ub4dor&3')

      const error = await rejectsWith(wrong.get('a'), 'store_wrong_passphrase')
      assert.ok(error.suggestions.some((text) => text.includes('TOKENCTL_STORE_PASSPHRASE')))
      assert.equal(await new FileStore({passphrase: PASSPHRASE}).get('a'), SECRET, 'the right passphrase still opens it')
    })

    it('cut in half: store_corrupt, the file left as it was', async () => {
      const store = new FileStore({passphrase: PASSPHRASE})
      await store.set('a', SECRET)
      await store.set('b', 'x'.repeat(500))
      const bytes = readFileSync(storeFile())
      writeFileSync(storeFile(), bytes.subarray(0, Math.floor(bytes.length / 2)), {mode: 0o600})

      const error = await rejectsWith(store.get('a'), 'store_corrupt')
      assert.match(error.message, /truncated/)
      await assertEveryOperationFails(store, 'store_corrupt', SECRET, PASSPHRASE)
    })

    it('truncated inside the header, or empty: store_corrupt', async () => {
      const store = new FileStore({passphrase: PASSPHRASE})
      await store.set('a', SECRET)
      const bytes = readFileSync(storeFile())
      for (const length of [0, 3, 30, 70]) {
        writeFileSync(storeFile(), bytes.subarray(0, length))
        await rejectsWith(store.get('a'), 'store_corrupt')
        await rejectsWith(store.set('a', 'b'), 'store_corrupt')
        assert.equal(readFileSync(storeFile()).length, length)
      }
    })

    it('of garbage: store_corrupt, the file left as it was', async () => {
      const store = new FileStore({passphrase: PASSPHRASE})
      for (const garbage of [randomBytes(300), Buffer.from('{"entries":{"a":"plain"}}\n'), Buffer.concat([Buffer.from('TKSE'), randomBytes(200)])]) {
        writeFileSync(storeFile(), garbage, {mode: 0o600})
        await assertEveryOperationFails(store, 'store_corrupt', PASSPHRASE)
      }
    })

    it('with a damaged body under the right passphrase: store_corrupt, not a wrong passphrase', async () => {
      const store = new FileStore({passphrase: PASSPHRASE})
      await store.set('a', SECRET)
      const bytes = readFileSync(storeFile())
      bytes[bytes.length - 20] ^= 0x01 // inside the ciphertext
      writeFileSync(storeFile(), bytes)
      const error = await rejectsWith(store.get('a'), 'store_corrupt')
      assert.match(error.message, /authentication/)
      await assertEveryOperationFails(store, 'store_corrupt', SECRET, PASSPHRASE)
    })

    it('with a damaged header (salt): store_corrupt, not a wrong passphrase', async () => {
      const store = new FileStore({passphrase: PASSPHRASE})
      await store.set('a', SECRET)
      const bytes = readFileSync(storeFile())
      bytes[4 + 1 + 1 + 12] ^= 0x01 // first byte of the salt
      writeFileSync(storeFile(), bytes)
      await assertEveryOperationFails(store, 'store_corrupt', SECRET, PASSPHRASE)
    })
  })

  describe('passphrase', () => {
    it('comes from TOKENCTL_STORE_PASSPHRASE_FILE with one trailing newline stripped', async () => {
      await new FileStore({passphrase: PASSPHRASE}).set('a', SECRET)
      const file = path.join(home, 'passphrase')
      for (const [content, expected] of [
        [`${PASSPHRASE}\n`, PASSPHRASE],
        [`${PASSPHRASE}\r\n`, PASSPHRASE],
        [PASSPHRASE, PASSPHRASE],
        [`${PASSPHRASE}\n\n`, `${PASSPHRASE}\n`],
      ]) {
        writeFileSync(file, content)
        assert.equal(resolvePassphrase({TOKENCTL_STORE_PASSPHRASE_FILE: file}), expected)
      }

      writeFileSync(file, `${PASSPHRASE}\n`)
      const passphrase = resolvePassphrase({TOKENCTL_STORE_PASSPHRASE_FILE: file})!
      assert.equal(await new FileStore({passphrase}).get('a'), SECRET)
      assert.deepEqual(passphraseSource({TOKENCTL_STORE_PASSPHRASE_FILE: file}), {file, variable: 'TOKENCTL_STORE_PASSPHRASE_FILE'})
    })

    it('prefers TOKENCTL_STORE_PASSPHRASE, treats empty variables as unset, and is undefined when none is set', () => {
      const file = path.join(home, 'passphrase')
      writeFileSync(file, 'from file\n')
      const both = {TOKENCTL_STORE_PASSPHRASE: 'direct', TOKENCTL_STORE_PASSPHRASE_FILE: file}
      assert.equal(resolvePassphrase(both), 'direct')
      assert.deepEqual(passphraseSource(both), {variable: 'TOKENCTL_STORE_PASSPHRASE'})
      assert.equal(JSON.stringify(passphraseSource(both)).includes('direct'), false)
      assert.equal(resolvePassphrase({TOKENCTL_STORE_PASSPHRASE: '', TOKENCTL_STORE_PASSPHRASE_FILE: file}), 'from file')
      assert.equal(resolvePassphrase({}), undefined)
      assert.equal(passphraseSource({TOKENCTL_STORE_PASSPHRASE: ''}), undefined)
    })

    it('an unreadable or empty passphrase file is a StoreError naming the file', () => {
      const missing = path.join(home, 'no-such-file')
      assert.throws(
        () => resolvePassphrase({TOKENCTL_STORE_PASSPHRASE_FILE: missing}),
        (error: unknown) => error instanceof StoreError && error.exitCode === ExitCode.store && error.message.includes(missing) && /there is no such file/.test(error.message),
      )
      assert.throws(() => resolvePassphrase({TOKENCTL_STORE_PASSPHRASE_FILE: home}), StoreError) // a directory
      const empty = path.join(home, 'empty')
      writeFileSync(empty, '\n')
      assert.throws(() => resolvePassphrase({TOKENCTL_STORE_PASSPHRASE_FILE: empty}), /is empty/)
    })
  })

  describe('several processes', function () {
    this.timeout(60_000)

    it('two processes writing 20 different entries each at once lose none of them', async () => {
      const store = new FileStore({passphrase: PASSPHRASE})
      await store.set('before', 'kept')
      await runTogether(['set', 'left', '20'], ['set', 'right', '20'])

      const names = await store.list('')
      assert.equal(names.length, 41, `entries: ${names.join(' ')}`)
      for (const side of ['left', 'right']) {
        for (let i = 0; i < 20; i++) assert.equal(await store.get(`${side}-${i}`), `value of ${side}-${i}`)
      }

      assert.equal(await store.get('before'), 'kept')
      assert.deepEqual(
        readdirSync(home).filter((name) => name.startsWith('store.enc')),
        ['store.enc'],
        'no temp or lock file left',
      )
    })

    it('update from 3 processes, 10 increments each, counts to 30', async () => {
      await runTogether(['increment', 'counter', '10'], ['increment', 'counter', '10'], ['increment', 'counter', '10'])
      assert.equal(await new FileStore({passphrase: PASSPHRASE}).get('counter'), '30')
    })

    it('a reader taking no lock never sees a half-written file while another process rewrites it (temp file, fsync, rename)', async () => {
      process.env.WORKER_KDF_N = String(2 ** 10) // cheap seals: many rewrites while the reader reads
      await new FileStore({passphrase: PASSPHRASE}).set('big', 'first')
      const writer = startWorker('write', 'big', '150', String(512 * 1024))
      const reader = startWorker('read', 'big')
      try {
        await Promise.all([writer.waitFor('ready'), reader.waitFor('ready')])
        reader.child.stdin.write('go\n')
        writer.child.stdin.write('go\n')
        assert.equal(await writer.exited, 0, `writer failed: ${writer.output()}`)
        reader.child.stdin.write('stop\n')
        assert.equal(await reader.exited, 0, `reader failed: ${reader.output()}`)
      } finally {
        for (const worker of [writer, reader]) if (worker.child.exitCode === null) worker.child.kill('SIGKILL')
      }

      const seen = JSON.parse(
        reader
          .output()
          .split('\n')
          .find((line) => line.startsWith('{'))!,
      ) as {corrupt: number; distinct: number; errors: string[]; reads: number}
      assert.ok(seen.distinct >= 5, `the reader raced the writer: it saw ${seen.distinct} values in ${seen.reads} reads`)
      assert.equal(seen.corrupt, 0, `store_corrupt in ${seen.corrupt} of ${seen.reads + seen.corrupt} reads: the file was seen half-written`)
      assert.deepEqual(seen.errors, [])
      assert.equal(await new FileStore({passphrase: PASSPHRASE}).get('big'), '9'.repeat(512 * 1024))
    })

    it('withLock breaks the lock of a process killed with SIGKILL while holding it', async () => {
      const worker = startWorker('hold', 'session:abc')
      try {
        await worker.waitFor('ready')
        worker.child.stdin.write('go\n')
        await worker.waitFor('locked')
      } finally {
        worker.child.kill('SIGKILL')
      }

      assert.equal(await worker.exited, 'SIGKILL') // reaped: a zombie would still look alive to kill(pid, 0)
      assert.ok(existsSync(localLockPath('session:abc')), 'the killed process left its lock file')

      // The lock is seconds old, far from stale (30 s): only its dead pid lets it be broken now. A
      // holder judged alive would be waited for (onWait), then store_lock_timeout after waitMs.
      const store = new FileStore({passphrase: PASSPHRASE})
      let waitedFor: unknown
      const result = await store.withLock('session:abc', async () => 'got it', {onWait: (holder) => (waitedFor = holder), waitMs: 10_000})
      assert.equal(result, 'got it')
      assert.equal(waitedFor, undefined, 'a dead holder is not waited for')
      assert.equal(existsSync(localLockPath('session:abc')), false, 'released')
    })

    it('a write lock left by a dead writer does not block writes', async () => {
      const dead = spawn(process.execPath, ['-e', ''])
      await new Promise((resolve) => dead.on('exit', resolve))
      let pidns: string | undefined
      try {
        pidns = readlinkSync('/proc/self/ns/pid')
      } catch {
        // no /proc: the record goes without a PID namespace, as tokenctl's own would
      }

      const lock = `${storeFile()}.lock`
      const record = {acquiredAt: new Date().toISOString(), host: hostname(), nonce: 'dead', pid: dead.pid, pidns}
      writeFileSync(lock, JSON.stringify(record), {mode: 0o600})
      // Kept fresh, as a live holder's heartbeat would: it never turns stale, so only the dead pid can
      // free it. Were the pid not checked, set() would wait for the writer's lock until the test times out.
      const heartbeat = setInterval(() => {
        const now = new Date()
        if (existsSync(lock)) utimesSync(lock, now, now)
      }, 100)
      try {
        await new FileStore({passphrase: PASSPHRASE}).set('a', SECRET)
      } finally {
        clearInterval(heartbeat)
      }

      assert.equal(await new FileStore({passphrase: PASSPHRASE}).get('a'), SECRET)
      assert.equal(existsSync(lock), false)
    })
  })
})
