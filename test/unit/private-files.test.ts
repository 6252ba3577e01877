/**
 * Files under TOKENCTL_HOME (src/lib/private-files.ts): written whole through a temporary file, 0600
 * whatever the umask, never through a symbolic link; temporary files killed writers left behind are
 * removed; a home or file other users could change is refused with the command that fixes it.
 */
import {strict as assert} from 'node:assert'
import {spawn} from 'node:child_process'
import {chmodSync, closeSync, lstatSync, readlinkSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, type Stats, statSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {ConfigError, ExitCode} from '../../src/lib/errors.js'
import {assertPrivate, assertPrivateDescriptor, assertPrivateHome, isAbandonedTemporary, removeStaleTemporaries, temporaryPath, writePrivateFile} from '../../src/lib/private-files.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''])
  await new Promise((resolve) => child.on('exit', resolve))
  return child.pid!
}

function refusal(code: string, ...parts: Array<string | RegExp>) {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error))
    assert.equal(error.code, code)
    assert.equal(error.exitCode, ExitCode.config)
    const text = `${error.message} | ${error.suggestions.join(' | ')}`
    for (const part of parts) assert.ok(typeof part === 'string' ? text.includes(part) : part.test(text), `${part} in: ${text}`)
    return true
  }
}

/** What fs.statSync would say of a file with this owner and mode. */
const statsOf = (uid: number, mode: number) => ({mode, uid}) as Stats

describe('private files', () => {
  let directory: string
  beforeEach(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'tokenctl-private-files-'))
  })
  afterEach(() => rmSync(directory, {force: true, recursive: true}))

  describe('writing', () => {
    it("temporary names carry the writer's pid and a random part, next to the file", () => {
      const file = path.join(directory, 'store.enc')
      const first = temporaryPath(file)
      assert.match(first, new RegExp(`^${file.replaceAll('.', '\\.')}\\.${process.pid}\\.[\\da-f]{12}\\.tmp$`))
      assert.notEqual(temporaryPath(file), first)
      assert.equal(isAbandonedTemporary(path.basename(first), Date.now() - 2 * HOUR), true, 'what it writes is what the clean-up recognises')
    })

    it("writes the whole content, mode 0600 even under a umask that would take the owner's write bit", async () => {
      const file = path.join(directory, 'config.json')
      const previous = process.umask(0o277)
      try {
        await writePrivateFile(file, 'first')
        await writePrivateFile(file, Buffer.from('second ✓'), {durable: true})
      } finally {
        process.umask(previous)
      }

      assert.equal(readFileSync(file, 'utf8'), 'second ✓')
      assert.equal(statSync(file).mode & 0o777, 0o600)
      assert.deepEqual(readdirSync(directory), ['config.json'], 'no temporary file left')
    })

    it('closes every file and folder it opened, durable or not', async () => {
      const file = path.join(directory, 'store.enc')
      /** What this process's open descriptors point at, inside the folder written to (or the folder itself). */
      const openHere = () =>
        readdirSync('/proc/self/fd').flatMap((fd) => {
          try {
            const target = readlinkSync(`/proc/self/fd/${fd}`)
            return target === directory || target.startsWith(`${directory}/`) ? [target] : []
          } catch {
            return [] // the descriptor readdirSync itself used, closed meanwhile
          }
        })
      for (let i = 0; i < 3; i++) {
        await writePrivateFile(file, `write ${i}`, {durable: true})
        await writePrivateFile(file, `write ${i}`)
      }

      assert.deepEqual(openHere(), [])
    })

    it("replaces a symbolic link at the file by the file: the link's target is never written", async () => {
      const target = path.join(directory, 'elsewhere')
      writeFileSync(target, 'untouched')
      const file = path.join(directory, 'config.json')
      symlinkSync(target, file)
      await writePrivateFile(file, 'mine')
      assert.equal(readFileSync(target, 'utf8'), 'untouched')
      assert.ok(lstatSync(file).isFile())
      assert.equal(readFileSync(file, 'utf8'), 'mine')
    })

    it('a write that cannot complete leaves the old file and no temporary file, and says why', async () => {
      const file = path.join(directory, 'occupied')
      mkdirSync(file) // a directory where the file should go: the rename fails
      writeFileSync(path.join(file, 'inside'), 'x')
      await assert.rejects(writePrivateFile(file, 'data'), (error: NodeJS.ErrnoException) => ['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(error.code!))
      assert.deepEqual(readdirSync(directory), ['occupied'], 'the temporary file was removed')
      await assert.rejects(writePrivateFile(path.join(directory, 'missing', 'file'), 'data'), {code: 'ENOENT'})
    })

    it('removes stale temporary files of the same folder before writing', async () => {
      const stale = path.join(directory, `config.json.${await deadPid()}.0123456789ab.tmp`)
      writeFileSync(stale, 'an encrypted copy of a removed secret')
      utimesSync(stale, new Date(Date.now() - 2 * MINUTE), new Date(Date.now() - 2 * MINUTE))
      await writePrivateFile(path.join(directory, 'config.json'), 'x')
      assert.deepEqual(readdirSync(directory), ['config.json'])
    })
  })

  describe('abandoned temporary files', () => {
    const now = Date.parse('2026-01-01T12:00:00Z')

    it('recognises our names, and nothing else', async () => {
      const dead = await deadPid()
      for (const name of [`store.enc.${dead}.0123456789ab.tmp`, `a.b.c.${dead}.abcdef01.tmp`, `x.${dead}.abcdef0123456789.tmp`]) {
        assert.equal(isAbandonedTemporary(name, now - 2 * MINUTE, now), true, name)
      }

      const notOurs = ['sessions.json.0123456789ab.tmp', 'a.b.c.abcdef01.tmp', `x.${dead}.0123456.tmp`, `.${dead}.0123456789ab.tmp`, `x.${dead}a.0123456789ab.tmp`, `x.${dead}.0123456789ab.tmp.bak`]
      for (const name of [
        ...notOurs,
        'store.enc',
        'store.enc.tmp',
        '.0123456789ab.tmp',
        'x.0123456.tmp',
        'x.0123456G.tmp',
        'x.0123456789AB.tmp',
        'x.0123456789ab.tmpx',
        'x.0123456789ab.tmp.bak',
        'x.0123456789ab_tmp',
      ]) {
        assert.equal(isAbandonedTemporary(name, now - 2 * HOUR, now), false, name)
      }
    })

    it("a dead writer's file is abandoned after 30 s, not before", async () => {
      const name = `store.enc.${await deadPid()}.0123456789ab.tmp`
      assert.equal(isAbandonedTemporary(name, now - 30_000, now), false)
      assert.equal(isAbandonedTemporary(name, now - 30_001, now), true)
    })

    it("a live writer's file is kept for an hour, then abandoned whatever its pid says", () => {
      const live = process.ppid // another running process (ours is never "abandoned" by its pid)
      const name = `store.enc.${live}.0123456789ab.tmp`
      assert.equal(isAbandonedTemporary(name, now - 59 * MINUTE, now), false)
      assert.equal(isAbandonedTemporary(name, now - HOUR, now), false)
      assert.equal(isAbandonedTemporary(name, now - HOUR - 1, now), true)
      assert.equal(isAbandonedTemporary(`store.enc.${process.pid}.0123456789ab.tmp`, now - HOUR, now), false, "this process's own")
      assert.equal(isAbandonedTemporary(`store.enc.${process.pid}.0123456789ab.tmp`, now - HOUR - 1, now), true)
    })

    it('a writer that runs as another user (kill says EPERM) is running: its file is kept', () => {
      // pid 1 is root's: to a user other than root, kill(1, 0) says EPERM. Root may signal anyone, so
      // for a suite run as root the answer another user would get is given by a stand-in for kill.
      const name = 'store.enc.1.0123456789ab.tmp'
      assert.equal(isAbandonedTemporary(name, now - 2 * MINUTE, now), false, 'pid 1 runs, whoever asks')
      const kill = process.kill.bind(process)
      process.kill = () => {
        throw Object.assign(new Error('kill EPERM'), {code: 'EPERM', syscall: 'kill'})
      }

      try {
        assert.equal(isAbandonedTemporary('store.enc.4242.0123456789ab.tmp', now - 2 * MINUTE, now), false)
        assert.equal(isAbandonedTemporary('store.enc.4242.0123456789ab.tmp', now - 2 * HOUR, now), true, 'an hour old: abandoned all the same')
      } finally {
        process.kill = kill
      }
    })

    it('a date in the future is no proof of a fresh write', async () => {
      const name = `store.enc.${await deadPid()}.0123456789ab.tmp`
      assert.equal(isAbandonedTemporary(name, now + 2 * MINUTE, now), true)
      assert.equal(isAbandonedTemporary(name, now + 10_000, now), false)
      assert.equal(isAbandonedTemporary(`store.enc.${process.ppid}.0123456789ab.tmp`, now + 2 * HOUR, now), true)
    })

    it('the clean-up removes abandoned files only, never a directory, and takes a missing folder in its stride', async () => {
      const dead = await deadPid()
      const old = new Date(Date.now() - 2 * MINUTE)
      const names = {
        abandoned: `store.enc.${dead}.0123456789ab.tmp`,
        fresh: `config.json.${dead}.abcdef012345.tmp`,
        live: `store.enc.${process.ppid}.0123456789ab.tmp`,
        other: 'notes.txt',
        own: `store.enc.${process.pid}.0123456789ab.tmp`,
      }
      for (const [kind, name] of Object.entries(names)) {
        writeFileSync(path.join(directory, name), 'x')
        if (kind !== 'fresh') utimesSync(path.join(directory, name), old, old)
      }

      const folder = path.join(directory, `sessions.json.${dead}.fedcba987654.tmp`)
      mkdirSync(folder)
      utimesSync(folder, old, old)

      await removeStaleTemporaries(directory)
      assert.deepEqual(readdirSync(directory).sort(), [names.fresh, names.live, names.other, names.own, path.basename(folder)].sort())
      await removeStaleTemporaries(path.join(directory, 'missing'))
    })
  })

  describe('refusing what others could change', () => {
    const uid = process.getuid!()

    /** Runs check as if this process were the user uid (the suite may run as root, who is uid 0 like the files of root). */
    function asUser<T>(uid: number, check: () => T): T {
      const {getuid} = process
      process.getuid = () => uid
      try {
        return check()
      } finally {
        process.getuid = getuid
      }
    }

    it('a file of another user is refused with the chown and chmod that fix it', () => {
      for (const me of [0, 1000]) {
        asUser(me, () =>
          assert.throws(
            () => assertPrivate(statsOf(4242, 0o100600), '/home/me/.config/tokenctl/config.json', 'config.json', '600'),
            refusal(
              'unsafe_permissions',
              'config.json /home/me/.config/tokenctl/config.json belongs to another user (uid 4242)',
              `chown ${me} /home/me/.config/tokenctl/config.json && chmod 600 /home/me/.config/tokenctl/config.json`,
            ),
          ),
        )
      }
    })

    it('a file of root or of this user is fine', () => {
      asUser(1000, () => {
        assertPrivate(statsOf(0, 0o100600), '/x', 'config.json', '600')
        assertPrivate(statsOf(1000, 0o40700), '/x', 'TOKENCTL_HOME', '700')
      })
      assertPrivate(statsOf(uid, 0o40700), '/x', 'TOKENCTL_HOME', '700')
    })

    it('group or other write permission is refused, naming the mode and the chmod', () => {
      for (const [mode, shown] of [
        [0o40777, '0777'],
        [0o40720, '0720'],
        [0o40702, '0702'],
        [0o41770, '1770'],
      ] as const) {
        assert.throws(
          () => assertPrivate(statsOf(uid, mode), '/tmp/home', 'TOKENCTL_HOME', '700'),
          refusal('unsafe_permissions', `TOKENCTL_HOME /tmp/home is writable by other users (mode ${shown})`, 'run: chmod 700 /tmp/home'),
        )
      }

      for (const mode of [0o40755, 0o40744, 0o100644, 0o100400]) assertPrivate(statsOf(uid, mode), '/tmp/home', 'TOKENCTL_HOME', '700')
    })

    it('quotes a path for a POSIX shell only when it needs it', () => {
      const fix = (file: string) => {
        try {
          assertPrivate(statsOf(uid, 0o40777), file, 'TOKENCTL_HOME', '700')
        } catch (error) {
          return (error as ConfigError).suggestions[0]
        }

        assert.fail('not refused')
      }

      assert.equal(fix('/a/b_c-d.e@f%g+h=i:j,k'), 'run: chmod 700 /a/b_c-d.e@f%g+h=i:j,k')
      assert.equal(fix('/a/my home'), "run: chmod 700 '/a/my home'")
      assert.equal(fix("/a/it's"), "run: chmod 700 '/a/it'\\''s'")
      assert.equal(fix('/a/$(x)'), "run: chmod 700 '/a/$(x)'")
    })

    it('an open file is judged by its descriptor', () => {
      const file = path.join(directory, 'config.json')
      writeFileSync(file, '{}', {mode: 0o600})
      const fd = openSync(file, 'r')
      try {
        assertPrivateDescriptor(fd, file, 'config.json')
        chmodSync(file, 0o666)
        assert.throws(() => assertPrivateDescriptor(fd, file, 'config.json'), refusal('unsafe_permissions', `config.json ${file} is writable by other users (mode 0666)`, `run: chmod 600 ${file}`))
      } finally {
        closeSync(fd)
      }
    })

    it('a home that does not exist yet is fine; one that is not a directory or cannot be examined is refused', () => {
      assertPrivateHome(path.join(directory, 'not-yet'))
      const file = path.join(directory, 'a-file')
      writeFileSync(file, '')
      assert.throws(() => assertPrivateHome(file), refusal('config_error', `TOKENCTL_HOME ${file} is not a directory`))
      assert.throws(() => assertPrivateHome(path.join(file, 'below')), refusal('config_error', `cannot use TOKENCTL_HOME ${path.join(file, 'below')}: ENOTDIR`))
    })

    it('a home others can write is refused; a private one is accepted', () => {
      const open = path.join(directory, 'open')
      mkdirSync(open, {mode: 0o700})
      chmodSync(open, 0o777)
      assert.throws(() => assertPrivateHome(open), refusal('unsafe_permissions', `TOKENCTL_HOME ${open} is writable by other users (mode 0777)`, `run: chmod 700 ${open}`))
      const closed = path.join(directory, 'closed')
      mkdirSync(closed, {mode: 0o700})
      assertPrivateHome(closed)
    })
  })
})
