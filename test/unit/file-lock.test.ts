/**
 * The cross-process file lock (src/lib/store/file-lock.ts) in one process, by the files it leaves
 * and reads: the holder's record, when a lock is judged dead or stale (and only then broken), the
 * side lock that serializes breakers, the heartbeat, and the errors. The several-process cases
 * (a holder killed with SIGKILL, writers racing) are in file-store.test.ts.
 */
import {strict as assert} from 'node:assert'
import {spawn} from 'node:child_process'
import {existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {hostname, tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {acquireFileLock, withFileLock} from '../../src/lib/store/file-lock.js'
import type {StoreError} from '../../src/lib/errors.js'
import type {LockHolder} from '../../src/lib/store/types.js'
import {rejectsWith} from '../helpers/assertions.js'

const PID_NAMESPACE = readlinkSync('/proc/self/ns/pid')
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FILE_LOCK = path.join(ROOT, 'src/lib/store/file-lock.ts')

/**
 * acquireFileLock(lock) in a fresh Node process: prints "acquired" and holds until killed, or prints
 * the error code. A fresh process: module state (the memoized pid namespace) is its own.
 * `withoutKill`: root without CAP_KILL (util-linux setpriv), which may signal only its own user's processes.
 */
function lockInChild(lock: string, options: {holdMs?: number; waitMs?: number; withoutKill?: boolean} = {}) {
  return nodeChild(
    `
    const {acquireFileLock} = await import(${JSON.stringify(FILE_LOCK)})
    try {
      await acquireFileLock(${JSON.stringify(lock)}, {waitMs: ${options.waitMs ?? 300}})
      console.log('acquired')
      setTimeout(() => {}, ${options.holdMs ?? 0})
    } catch (error) {
      console.log(error.code ?? String(error))
    }`,
    options,
  )
}

/** A script (an ES module, TypeScript imports allowed) in a fresh Node process, and what it prints. */
function nodeChild(script: string, options: {withoutKill?: boolean} = {}) {
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script]
  const [command, ...args] = options.withoutKill ? ['setpriv', '--bounding-set=-kill', ...node] : node
  const child = spawn(command, args, {cwd: ROOT, env: process.env})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return {
    child,
    /** The first line the child printed. */
    async said(): Promise<string> {
      while (!stdout.includes('\n')) {
        if (child.exitCode !== null) throw new Error(`child exited (${child.exitCode}): ${stderr}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }

      return stdout.split('\n')[0]
    },
    /** Everything the child printed, once it has exited with status 0. */
    async output(): Promise<string> {
      const status = child.exitCode ?? (await new Promise((resolve) => child.on('exit', resolve)))
      assert.equal(status, 0, stderr)
      return stdout
    },
  }
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''])
  await new Promise((resolve) => child.on('exit', resolve))
  return child.pid!
}

function record(lock: string): Record<string, unknown> {
  return JSON.parse(readFileSync(lock, 'utf8')) as Record<string, unknown>
}

function age(file: string, ms: number): void {
  const then = new Date(Date.now() - ms)
  utimesSync(file, then, then)
}

describe('file lock', function () {
  this.timeout(20_000)
  let directory: string
  let lock: string

  beforeEach(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'tokenctl-file-lock-'))
    lock = path.join(directory, 'entry.lock')
  })

  afterEach(() => rmSync(directory, {force: true, recursive: true}))

  /** A lock file as another holder would have left it. */
  function foreignLock(fields: Record<string, unknown>): void {
    writeFileSync(lock, JSON.stringify({acquiredAt: '2026-11-25T10:00:00.000Z', host: hostname(), nonce: 'theirs', pid: process.pid, pidns: PID_NAMESPACE, ...fields}), {mode: 0o600})
  }

  describe('holding', () => {
    // First: it runs the pid namespace lookup that the module then memoizes (and a child process its own).
    it('a holder in another process writes the same record: its pid, this host, this pid namespace', async () => {
      const release = await acquireFileLock(lock)
      assert.equal(record(lock).pidns, PID_NAMESPACE)
      await release()
      const other = lockInChild(lock, {holdMs: 60_000})
      try {
        assert.equal(await other.said(), 'acquired')
        const held = record(lock)
        assert.deepEqual({host: held.host, pid: held.pid, pidns: held.pidns}, {host: hostname(), pid: other.child.pid, pidns: PID_NAMESPACE})
      } finally {
        other.child.kill('SIGKILL')
      }
    })

    it("writes the holder's record (0600) and removes it on release, once", async () => {
      const release = await acquireFileLock(lock)
      assert.equal(statSync(lock).mode & 0o777, 0o600)
      const held = record(lock)
      assert.deepEqual(Object.keys(held).sort(), ['acquiredAt', 'host', 'nonce', 'pid', 'pidns'])
      assert.equal(held.host, hostname())
      assert.equal(held.pid, process.pid)
      assert.equal(held.pidns, PID_NAMESPACE)
      assert.match(String(held.nonce), /^[\da-f]{32}$/)
      assert.ok(Math.abs(Date.parse(String(held.acquiredAt)) - Date.now()) < 60_000, String(held.acquiredAt))
      await release()
      assert.equal(existsSync(lock), false)
      foreignLock({nonce: 'someone else'})
      await release() // a second release must not remove a lock taken since
      assert.equal(existsSync(lock), true)
    })

    it('a nonce of its own each time', async () => {
      const nonces = new Set<unknown>()
      for (let i = 0; i < 3; i++) {
        const release = await acquireFileLock(lock)
        nonces.add(record(lock).nonce)
        await release()
      }

      assert.equal(nonces.size, 3)
    })

    it('withFileLock returns what fn returned, and releases when fn throws', async () => {
      assert.equal(await withFileLock(lock, async () => 'value'), 'value')
      assert.equal(existsSync(lock), false)
      await assert.rejects(
        withFileLock(lock, async () => {
          assert.equal(existsSync(lock), true, 'held while fn runs')
          throw new Error('inside')
        }),
        /inside/,
      )
      assert.equal(existsSync(lock), false)
    })

    it("a holder judged dead meanwhile leaves the new holder's lock alone on release", async () => {
      const release = await acquireFileLock(lock)
      foreignLock({nonce: 'the new holder'})
      await release()
      assert.equal(record(lock).nonce, 'the new holder')
    })

    it('release is quiet when its lock is gone or has no record any more', async () => {
      const gone = await acquireFileLock(lock)
      rmSync(lock)
      await gone()
      const blank = await acquireFileLock(lock)
      writeFileSync(lock, '')
      await blank()
      assert.equal(readFileSync(lock, 'utf8'), '', 'not ours to remove')
    })

    it('keeps its lock fresh: a heartbeat touches it every third of staleMs, at least a second apart, without keeping the process alive', async () => {
      const realSetInterval = globalThis.setInterval
      const timers: Array<{fn: () => void; ms: number; timer: NodeJS.Timeout}> = []
      globalThis.setInterval = ((fn: () => void, ms: number) => {
        const timer = realSetInterval(fn, ms)
        timers.push({fn, ms, timer})
        return timer
      }) as typeof setInterval
      const releases = []
      try {
        for (const staleMs of [undefined, 6000, 600]) {
          releases.push(await acquireFileLock(path.join(directory, `heartbeat-${staleMs}.lock`), {staleMs}))
        }
      } finally {
        globalThis.setInterval = realSetInterval
      }

      assert.deepEqual(
        timers.map((timer) => timer.ms),
        [10_000, 2000, 1000],
      )
      assert.ok(
        timers.every(({timer}) => !timer.hasRef()),
        'the heartbeat keeps no process alive',
      )
      const file = path.join(directory, 'heartbeat-600.lock')
      age(file, 60_000)
      timers[2].fn()
      for (let waited = 0; Date.now() - statSync(file).mtimeMs > 10_000 && waited < 2000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20))
      assert.ok(Date.now() - statSync(file).mtimeMs < 10_000, 'touched')
      for (const release of releases) await release()
    })
  })

  describe('waiting', () => {
    it('a live holder is waited for, said once, and its lock taken when released', async () => {
      const release = await acquireFileLock(lock)
      const holder = record(lock)
      const waits: Array<LockHolder | undefined> = []
      // waitMs far beyond the test's timeout: the waiter must notice the release by polling, not at its deadline.
      const waiting = acquireFileLock(lock, {onWait: (who) => waits.push(who), waitMs: 120_000})
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.deepEqual(waits, [{acquiredAt: holder.acquiredAt, host: holder.host, pid: holder.pid}])
      await release()
      const next = await waiting
      assert.notEqual(record(lock).nonce, holder.nonce)
      await next()
      assert.equal(waits.length, 1)
    })

    it('times out with store_lock_timeout naming the holder, after waitMs and not before', async () => {
      foreignLock({pid: process.pid})
      const started = Date.now()
      const error = await rejectsWith(acquireFileLock(lock, {waitMs: 1400}), 'store_lock_timeout')
      assert.ok(Date.now() - started >= 1400, `gave up after ${Date.now() - started} ms`)
      assert.equal(error.message, `timed out after 1 s waiting for the lock ${lock}, held by process ${process.pid} on ${hostname()}`)
      assert.deepEqual(error.suggestions, ['another tokenctl is still working on the same entry; try again later'])
      assert.equal(record(lock).nonce, 'theirs', "a live holder's lock is never broken")
    })

    it('closes every file it opens while it waits (a wait of minutes polls the lock thousands of times)', async () => {
      foreignLock({pid: process.pid})
      const open = () => readdirSync('/proc/self/fd').length
      const before = open()
      await rejectsWith(acquireFileLock(lock, {waitMs: 1000}), 'store_lock_timeout') // some twenty looks at the lock
      assert.ok(open() - before < 5, `${open() - before} more files open than before the wait`)
    })

    it('a lock another process takes and releases as fast as it can: ours is had in turn, and one released between our attempt and our look is tried again, never an error', async () => {
      const other = nodeChild(`
        import {readlinkSync, unlinkSync, writeFileSync} from 'node:fs'
        import {hostname} from 'node:os'
        const holder = {acquiredAt: new Date().toISOString(), host: hostname(), pid: process.pid, pidns: readlinkSync('/proc/self/ns/pid')}
        console.log('started')
        for (let turn = 0, end = Date.now() + 1000; Date.now() < end; turn++) {
          try {
            writeFileSync(${JSON.stringify(lock)}, JSON.stringify({...holder, nonce: 'theirs-' + turn}), {flag: 'wx'})
          } catch {
            continue // ours meanwhile
          }
          unlinkSync(${JSON.stringify(lock)})
        }`)
      assert.equal(await other.said(), 'started')
      let ours = 0
      // Most attempts give up at once (waitMs 0): for them too a lock gone between attempt and look is no error.
      for (let attempt = 0; other.child.exitCode === null; attempt++) {
        const waitMs = attempt % 4 === 0 ? 10_000 : 0
        let release
        try {
          release = await acquireFileLock(lock, {waitMs})
        } catch (error) {
          if (waitMs === 0 && (error as StoreError).code === 'store_lock_timeout') continue
          throw error
        }

        assert.equal(record(lock).pid, process.pid, 'held by us alone')
        await release()
        ours++
      }

      await other.output()
      assert.ok(ours > 0, 'never had the lock')
    })

    it('a lock without a readable record (just created, or its writer died): waited for while fresh, and named by nobody', async () => {
      writeFileSync(lock, '')
      const waits: unknown[] = []
      const error = await rejectsWith(acquireFileLock(lock, {onWait: (who) => waits.push(who), waitMs: 300}), 'store_lock_timeout')
      assert.deepEqual(waits, [undefined])
      assert.equal(error.message, `timed out after 0 s waiting for the lock ${lock}`)
      for (const text of ['42', 'null', '"text"']) {
        writeFileSync(lock, text)
        const told: unknown[] = []
        const shown = await rejectsWith(acquireFileLock(lock, {onWait: (who) => told.push(who), waitMs: 100}), 'store_lock_timeout')
        assert.doesNotMatch(shown.message, /held by/, text)
        assert.deepEqual(told, [undefined], text)
      }
    })
  })

  describe('breaking', () => {
    it('the lock of a dead process on this host and pid namespace, however fresh', async () => {
      foreignLock({pid: await deadPid()})
      const waits: unknown[] = []
      const release = await acquireFileLock(lock, {onWait: (who) => waits.push(who), waitMs: 5000})
      assert.deepEqual(waits, [], 'not waited for')
      assert.equal(record(lock).pid, process.pid)
      await release()
      assert.deepEqual([existsSync(lock), existsSync(`${lock}.break`)], [false, false], 'no lock and no side lock left')
    })

    it('a holder this process may not signal (EPERM) is alive: waited for, never broken', async () => {
      foreignLock({pid: await deadPid()})
      await (
        await acquireFileLock(lock)
      )() // (a dead one is broken: the same check, answered ESRCH)
      if (process.getuid?.() === 0) {
        // Root may signal anyone: the holder is nobody's process, the waiter root without CAP_KILL.
        const holder = spawn('sleep', ['60'], {gid: 65_534, uid: 65_534})
        try {
          foreignLock({pid: holder.pid})
          assert.equal(await lockInChild(lock, {withoutKill: true}).said(), 'store_lock_timeout')
        } finally {
          holder.kill('SIGKILL')
        }
      } else {
        foreignLock({pid: 1}) // init: another user's process
        await rejectsWith(acquireFileLock(lock, {waitMs: 300}), 'store_lock_timeout')
      }

      assert.equal(record(lock).nonce, 'theirs')
    })

    it('not by its pid alone when the holder is on another host or in another pid namespace (the pid means nothing here)', async () => {
      const dead = await deadPid()
      for (const elsewhere of [{host: 'another-host'}, {pidns: `${PID_NAMESPACE}-other`}, {pidns: undefined}, {pid: 'not a number'}]) {
        foreignLock({pid: dead, ...elsewhere})
        await rejectsWith(acquireFileLock(lock, {waitMs: 300}), 'store_lock_timeout')
        assert.equal(record(lock).nonce, 'theirs', JSON.stringify(elsewhere))
      }
    })

    it('a lock untouched for longer than staleMs, whoever holds it; not one touched within it', async () => {
      foreignLock({host: 'another-host'})
      age(lock, 3000)
      await rejectsWith(acquireFileLock(lock, {staleMs: 10_000, waitMs: 300}), 'store_lock_timeout')
      const release = await acquireFileLock(lock, {staleMs: 2000, waitMs: 5000})
      assert.equal(record(lock).pid, process.pid)
      await release()
    })

    it('a lock dated in the future (a clock ahead, or forged) is stale once this waiter has watched it unchanged for staleMs', async () => {
      foreignLock({host: 'another-host'})
      const ahead = new Date(Date.now() + 3_600_000)
      utimesSync(lock, ahead, ahead)
      const release = await acquireFileLock(lock, {staleMs: 300, waitMs: 5000})
      assert.equal(record(lock).pid, process.pid)
      await release()
    })

    it('a holder whose clock is ahead but whose heartbeat still moves is alive: never broken', async () => {
      foreignLock({host: 'another-host'})
      let ahead = Date.now() + 3_600_000
      const heartbeat = () => {
        ahead += 50
        utimesSync(lock, new Date(ahead), new Date(ahead))
      }

      heartbeat()
      const timer = setInterval(heartbeat, 50)
      try {
        await rejectsWith(acquireFileLock(lock, {staleMs: 1000, waitMs: 2500}), 'store_lock_timeout')
      } finally {
        clearInterval(timer)
      }

      assert.equal(record(lock).nonce, 'theirs')
    })

    it('a lock ahead of our clock handed to new holders within one second (a file system keeping whole seconds) is watched afresh for each: never broken', async () => {
      const ahead = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000)
      let turn = 0
      const newHolder = () => {
        foreignLock({host: 'another-host', nonce: `theirs-${turn++ % 10}`}) // same file, same size, same mtime: only the record tells
        utimesSync(lock, ahead, ahead)
      }

      newHolder()
      const timer = setInterval(newHolder, 50)
      try {
        await rejectsWith(acquireFileLock(lock, {staleMs: 1000, waitMs: 2500}), 'store_lock_timeout')
      } finally {
        clearInterval(timer)
      }

      assert.match(String(record(lock).nonce), /^theirs-/)
    })

    it('30 s is stale by default', async () => {
      foreignLock({host: 'another-host'})
      age(lock, 25_000)
      await rejectsWith(acquireFileLock(lock, {waitMs: 300}), 'store_lock_timeout')
      age(lock, 35_000)
      const release = await acquireFileLock(lock, {waitMs: 5000})
      await release()
    })

    it('a stale lock without a record is broken too', async () => {
      writeFileSync(lock, '')
      age(lock, 5000)
      const release = await acquireFileLock(lock, {staleMs: 1000, waitMs: 5000})
      assert.equal(record(lock).pid, process.pid)
      await release()
    })

    it('not while another process is breaking it (a fresh side lock); a side lock left for over 5 s is cleared', async () => {
      foreignLock({pid: await deadPid()})
      writeFileSync(`${lock}.break`, '')
      await rejectsWith(acquireFileLock(lock, {waitMs: 300}), 'store_lock_timeout')
      assert.equal(record(lock).nonce, 'theirs')
      age(`${lock}.break`, 4000)
      await rejectsWith(acquireFileLock(lock, {waitMs: 300}), 'store_lock_timeout')
      age(`${lock}.break`, 6000)
      const release = await acquireFileLock(lock, {waitMs: 5000})
      assert.equal(record(lock).pid, process.pid)
      assert.equal(existsSync(`${lock}.break`), false)
      await release()
    })

    it('waiters clearing the same abandoned side lock at once (as several processes would): neither fails, each gets the lock in turn', async () => {
      foreignLock({pid: await deadPid()})
      writeFileSync(`${lock}.break`, '')
      age(`${lock}.break`, 6000)
      const turns: string[] = []
      const waiters = ['a', 'b', 'c', 'd']
      await Promise.all(waiters.map((name) => withFileLock(lock, async () => turns.push(name), {waitMs: 5000})))
      assert.deepEqual(turns.sort(), waiters)
      assert.deepEqual([existsSync(lock), existsSync(`${lock}.break`)], [false, false])
    })
  })

  describe("a symbolic link at the lock path (a neighbour's trap or damage)", () => {
    it('dangling: broken at once, never followed, and the wait still ends (no busy loop past waitMs)', async () => {
      const target = path.join(directory, 'target-of-the-link')
      symlinkSync(target, lock)
      const release = await acquireFileLock(lock, {waitMs: 500})
      assert.equal(lstatSync(lock).isSymbolicLink(), false)
      assert.equal(record(lock).pid, process.pid)
      assert.equal(existsSync(target), false, 'nothing written through the link')
      await release()
    })

    it("to a file of someone else's: the link is removed, the file it points to is never read as a lock nor changed", async () => {
      const victim = path.join(directory, 'victim')
      writeFileSync(victim, JSON.stringify({host: hostname(), nonce: 'victim', pid: process.pid, pidns: PID_NAMESPACE}))
      symlinkSync(victim, lock)
      const release = await acquireFileLock(lock, {waitMs: 500})
      assert.equal(record(lock).pid, process.pid)
      assert.equal(JSON.parse(readFileSync(victim, 'utf8')).nonce, 'victim')
      await release()
      assert.equal(existsSync(victim), true)
    })
  })

  describe('errors', () => {
    it('a lock that cannot be created is store_error naming it', async () => {
      const nowhere = path.join(directory, 'missing', 'entry.lock')
      const error = await rejectsWith(acquireFileLock(nowhere), 'store_error')
      assert.match(error.message, new RegExp(`^cannot create the lock file ${nowhere.replaceAll('/', '\\/')}: .*ENOENT`))
      assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENOENT')
    })

    it('a lock that cannot be read is store_error naming it', async () => {
      mkdirSync(lock)
      const error = await rejectsWith(acquireFileLock(lock, {waitMs: 300}), 'store_error')
      assert.match(error.message, new RegExp(`^cannot read the lock file ${lock.replaceAll('/', '\\/')}: .*EISDIR`))
      assert.equal((error.cause as NodeJS.ErrnoException).code, 'EISDIR')
    })

    it('a lock path that cannot be opened (a socket there: ENXIO) is store_error naming it, and is left alone', async () => {
      const server = createServer()
      await new Promise<void>((resolve) => server.listen(lock, resolve))
      try {
        const error = await rejectsWith(acquireFileLock(lock, {waitMs: 300}), 'store_error')
        assert.match(error.message, new RegExp(`^cannot read the lock file ${lock.replaceAll('/', '\\/')}: .*ENXIO`))
        assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENXIO')
        assert.equal(lstatSync(lock).isSocket(), true)
      } finally {
        server.close()
      }
    })

    it('a side lock that cannot be removed is store_error naming it', async () => {
      foreignLock({pid: await deadPid()})
      mkdirSync(`${lock}.break`)
      age(`${lock}.break`, 6000)
      const error = await rejectsWith(acquireFileLock(lock, {waitMs: 1000}), 'store_error')
      assert.match(error.message, new RegExp(`^cannot remove the lock file ${lock.replaceAll('/', '\\/')}\\.break: `))
      assert.ok(error.cause, 'the cause is kept')
    })

    it('a side lock that cannot be created is an error, not a wait', async () => {
      // A name the file system takes, whose ".break" is one byte too long for it.
      const long = path.join(directory, `${'x'.repeat(255 - '.break'.length + 1)}`)
      writeFileSync(long, JSON.stringify({host: hostname(), nonce: 'theirs', pid: await deadPid(), pidns: PID_NAMESPACE}))
      await assert.rejects(acquireFileLock(long, {waitMs: 2000}), (error: NodeJS.ErrnoException) => error.code === 'ENAMETOOLONG' || /ENAMETOOLONG/.test(error.message))
    })
  })
})
