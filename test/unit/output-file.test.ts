/**
 * `--output PATH` (src/lib/output-file.ts): PATH is replaced whole when the command succeeds and left
 * exactly as it was otherwise — never empty, never half-written, never written through a link — and
 * no temporary file outlives the process, whether it commits, fails, exits or is stopped by a signal
 * (test/fixtures/output-file-worker.ts is that process). test/e2e/first-hour.test.ts runs the same
 * through the CLI (`call -o`, Ctrl-C while it waits).
 */
import {strict as assert} from 'node:assert'
import {spawn} from 'node:child_process'
import {chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'

import {ConfigError, ExitCode} from '../../src/lib/errors.js'
import {OutputFile} from '../../src/lib/output-file.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const WORKER = path.join(ROOT, 'test/fixtures/output-file-worker.ts')

/** Writes and waits until the stream took it. */
function write(file: OutputFile, text: string): Promise<void> {
  return new Promise((resolve, reject) => file.stream.write(text, (error) => (error ? reject(error) : resolve())))
}

async function refusal(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => assert.fail('no failure'),
    (error: unknown) => error,
  )
  assert.ok(error instanceof ConfigError, String(error))
  return error
}

interface WorkerRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
}

/** Runs the worker; `ready` is called once it printed "ready" (to signal it). */
function runWorker(args: string[], options: {env?: NodeJS.ProcessEnv; ready?: (pid: number) => void} = {}): Promise<WorkerRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], {cwd: ROOT, env: {...process.env, ...options.env}})
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    if (options.ready && stdout.split('\n').includes('ready')) {
      const ready = options.ready
      options.ready = undefined
      ready(child.pid!)
    }
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      if (stderr.trim() !== '') reject(new Error(`the worker wrote on stderr: ${stderr}`))
      else resolve({code, signal, stdout})
    })
  })
}

describe('--output: the file replaced whole, or left as it was', () => {
  let folder: string
  let target: string
  const leftovers = () => readdirSync(folder).filter((name) => name.endsWith('.tmp'))
  beforeEach(() => {
    folder = mkdtempSync(path.join(tmpdir(), 'tokenctl-output-'))
    target = path.join(folder, 'token.json')
  })
  afterEach(() => {
    rmSync(folder, {force: true, recursive: true})
  })

  it('nothing reaches PATH before the commit; then all of it, in one rename, 0600 whatever the umask', async () => {
    writeFileSync(target, 'before\n')
    const mask = process.umask(0o277) // would create the temporary file 0400
    let file: OutputFile
    try {
      file = await OutputFile.open(target)
    } finally {
      process.umask(mask)
    }

    assert.equal(file.target, target)
    const [temporary] = leftovers()
    assert.match(temporary, /^\.token\.json\.tokenctl-[\da-f]{12}\.tmp$/, 'a hidden file beside PATH, named after it')
    assert.equal(statSync(path.join(folder, temporary)).mode & 0o777, 0o600)
    await write(file, 'first half ')
    assert.equal(readFileSync(target, 'utf8'), 'before\n')
    await write(file, 'second half')
    await file.commit()
    assert.equal(readFileSync(target, 'utf8'), 'first half second half')
    assert.equal(statSync(target).mode & 0o777, 0o600)
    assert.deepEqual(leftovers(), [])
  })

  it('a new PATH is created only by the commit', async () => {
    const file = await OutputFile.open(target)
    assert.throws(() => statSync(target), {code: 'ENOENT'})
    await write(file, 'x')
    await file.commit()
    assert.equal(readFileSync(target, 'utf8'), 'x')
  })

  it('abort leaves PATH as it was and removes what was written', async () => {
    writeFileSync(target, 'before\n')
    const file = await OutputFile.open(target)
    await write(file, 'never seen')
    await file.abort()
    assert.equal(readFileSync(target, 'utf8'), 'before\n')
    assert.deepEqual(leftovers(), [])
  })

  it('once committed or aborted, the other is a no-op', async () => {
    const committed = await OutputFile.open(target)
    await write(committed, 'kept')
    await committed.commit()
    await committed.commit()
    await committed.abort()
    await committed.commit()
    assert.equal(readFileSync(target, 'utf8'), 'kept')

    const aborted = await OutputFile.open(target)
    await write(aborted, 'dropped')
    await aborted.abort()
    await aborted.commit()
    assert.equal(readFileSync(target, 'utf8'), 'kept')
    assert.deepEqual(leftovers(), [])
  })

  it('a PATH that is a link is replaced by the file: what the link points at is never written', async () => {
    const elsewhere = path.join(folder, 'elsewhere.txt')
    writeFileSync(elsewhere, 'not yours\n')
    symlinkSync(elsewhere, target)
    const file = await OutputFile.open(target)
    await write(file, 'the output')
    await file.commit()
    assert.equal(readFileSync(elsewhere, 'utf8'), 'not yours\n')
    assert.ok(lstatSync(target).isFile())
    assert.equal(readFileSync(target, 'utf8'), 'the output')
  })

  it('a PATH that is a link to a folder, or a folder: exit 3, nothing created', async () => {
    const sub = path.join(folder, 'sub')
    mkdirSync(sub)
    symlinkSync(sub, target)
    for (const where of [sub, target]) {
      const error = await refusal(OutputFile.open(where))
      assert.equal(error.code, 'output_error')
      assert.equal(error.exitCode, ExitCode.config)
      assert.equal(error.message, `cannot write --output ${where}: it is a folder`)
      assert.deepEqual(error.suggestions, [`${path.basename(where)} was left as it was; give a path in a folder that exists and that you can write`])
    }

    assert.equal(readlinkSync(target), sub)
    assert.deepEqual(leftovers(), [])
    assert.deepEqual(readdirSync(sub), [])
  })

  it('a folder that does not exist fails at once (before any request), in words', async () => {
    const missing = path.join(folder, 'missing', 'token.json')
    const error = await refusal(OutputFile.open(missing))
    assert.equal(error.message, `cannot write --output ${missing}: no such folder`)
    assert.equal(error.exitCode, ExitCode.config)
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENOENT')
  })

  it('a folder that cannot be written: permission denied', async () => {
    const locked = path.join(folder, 'locked')
    mkdirSync(locked)
    chmodSync(folder, 0o755)
    chmodSync(locked, 0o555)
    const file = path.join(locked, 'token.json')
    // Permission bits do not bind root: the worker then opens as nobody.
    const {stdout} = await runWorker(['open', file], {env: process.getuid?.() === 0 ? {WORKER_AS_NOBODY: '1'} : {}})
    assert.deepEqual(JSON.parse(stdout), {
      code: 'output_error',
      exitCode: ExitCode.config,
      message: `cannot write --output ${file}: permission denied`,
      suggestions: ['token.json was left as it was; give a path in a folder that exists and that you can write'],
    })
  })

  it('output cut off before the commit (the stream failed): PATH as it was, exit 3', async () => {
    writeFileSync(target, 'before\n')
    const file = await OutputFile.open(target)
    await write(file, 'half')
    file.stream.destroy()
    await new Promise<void>((resolve) => file.stream.once('close', () => resolve()))
    const error = await refusal(file.commit())
    assert.equal(error.message, `cannot write --output ${target}: the output was cut off`)
    assert.equal(readFileSync(target, 'utf8'), 'before\n')
    assert.deepEqual(leftovers(), [])
  })

  it('a write that fails while the output is finished (a full disk): PATH as it was, exit 3 with the reason', async () => {
    writeFileSync(target, 'before\n')
    const file = await OutputFile.open(target)
    await write(file, 'half')
    const committing = file.commit()
    file.stream.destroy(Object.assign(new Error('ENOSPC: no space left on device, write'), {code: 'ENOSPC'}))
    const error = await refusal(committing)
    assert.equal(error.message, `cannot write --output ${target}: ENOSPC: no space left on device, write`)
    assert.equal(readFileSync(target, 'utf8'), 'before\n')
    assert.deepEqual(leftovers(), [])
  })

  it('a file already at the temporary name (planted, or a link) is refused, never written, never removed', async () => {
    // The temporary name is random; for this test it is not (node:crypto as the module reads it).
    const crypto = createRequire(import.meta.url)('node:crypto') as {randomBytes: (size: number) => Buffer}
    const random = crypto.randomBytes
    crypto.randomBytes = (size: number) => Buffer.alloc(size, 0xab)
    const planted = path.join(folder, `.token.json.tokenctl-${'ab'.repeat(6)}.tmp`)
    const elsewhere = path.join(folder, 'elsewhere.txt')
    try {
      writeFileSync(elsewhere, 'not yours\n')
      symlinkSync(elsewhere, planted)
      const error = await refusal(OutputFile.open(target))
      assert.equal(error.code, 'output_error')
      assert.match(error.message, new RegExp(`^cannot write --output ${target.replaceAll('/', '\\/')}: EEXIST`))
      assert.equal(readlinkSync(planted), elsewhere, 'the planted link is left alone')
      assert.equal(readFileSync(elsewhere, 'utf8'), 'not yours\n')
      assert.throws(() => statSync(target), {code: 'ENOENT'})
    } finally {
      crypto.randomBytes = random
    }
  })

  it('a rename that fails (PATH became a folder meanwhile): the temporary file removed, exit 3', async () => {
    const file = await OutputFile.open(target)
    await write(file, 'x')
    mkdirSync(target)
    writeFileSync(path.join(target, 'inside'), '')
    const error = await refusal(file.commit())
    assert.equal(error.code, 'output_error')
    assert.match(error.message, new RegExp(`^cannot write --output ${target.replaceAll('/', '\\/')}: `))
    assert.deepEqual(leftovers(), [])
    assert.deepEqual(readdirSync(target), ['inside'])
  })

  it('the clean-up on exit and on signals is set once while files are pending, and removed after', async () => {
    const before = ['exit', 'SIGINT', 'SIGTERM'].map((event) => process.listenerCount(event))
    const counts = () => ['exit', 'SIGINT', 'SIGTERM'].map((event, index) => process.listenerCount(event) - before[index])
    const one = await OutputFile.open(target)
    const two = await OutputFile.open(path.join(folder, 'other.json'))
    assert.deepEqual(counts(), [1, 1, 1])
    await one.commit()
    assert.deepEqual(counts(), [1, 1, 1], 'still one file pending')
    await two.abort()
    assert.deepEqual(counts(), [0, 0, 0])
  })

  describe('a process stopped before it committed leaves no temporary file', () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      it(`${signal}: every pending file removed, PATH as it was, and the process dies of the signal`, async () => {
        writeFileSync(target, 'before\n')
        const other = path.join(folder, 'other.json')
        const run = await runWorker(['wait', target, other], {ready: (pid) => process.kill(pid, signal)})
        assert.equal(run.signal, signal)
        assert.equal(readFileSync(target, 'utf8'), 'before\n')
        assert.throws(() => statSync(other), {code: 'ENOENT'})
        assert.deepEqual(leftovers(), [])
      })
    }

    it('one committed, one pending: the committed one stays, the pending one is removed', async () => {
      const other = path.join(folder, 'other.json')
      const run = await runWorker(['commit-first', target, other], {ready: (pid) => process.kill(pid, 'SIGTERM')})
      assert.equal(run.signal, 'SIGTERM')
      assert.equal(readFileSync(target, 'utf8'), 'partial')
      assert.deepEqual(leftovers(), [])
    })

    for (const mode of ['own-sigint', 'own-sigint-first']) {
      it(`a command that handles Ctrl-C itself decides how it ends, listening ${mode === 'own-sigint' ? 'after' : 'before'} the file is opened; the file is removed first`, async () => {
        const run = await runWorker([mode, target], {ready: (pid) => process.kill(pid, 'SIGINT')})
        assert.deepEqual([run.code, run.signal], [130, null])
        assert.equal(run.stdout.split('\n').filter((line) => line === 'own handler').length, 1, 'the signal reached it once: not sent again')
        assert.deepEqual(leftovers(), [])
      })
    }

    it('an exit without a commit', async () => {
      const run = await runWorker(['exit', target])
      assert.equal(run.code, 3)
      assert.throws(() => statSync(target), {code: 'ENOENT'})
      assert.deepEqual(leftovers(), [])
    })
  })
})
