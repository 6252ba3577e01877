import {strict as assert} from 'node:assert'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {ExitCode} from '../../src/lib/errors.js'
import {
  DEFAULT_KEYCHAIN_SERVICE,
  EXPIRIES,
  forgetKeychainProbes,
  KeychainStore,
  keychainService,
  nativeError,
  probeKeychain,
  PRUNE_PER_WRITE,
  warmUpKeychain,
} from '../../src/lib/store/keychain-store.js'
import {
  canReachAbstractSockets,
  decodeMessage,
  encodeMethodCall,
  firstBodyValue,
  keychainTimeoutMs,
  messageLength,
  parseBusAddress,
  probeSecretService,
} from '../../src/lib/store/secret-service-probe.js'
import {findExecutable, requireKeyring, type KeyringSession} from '../helpers/keyring.js'
import {missingPrerequisite} from '../helpers/prerequisites.js'
import {rejectsWith} from '../helpers/assertions.js'
import {holdLock} from '../helpers/locks.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const STORE_MODULE = path.join(ROOT, 'src/lib/store/keychain-store.ts')
const SECRET = 'S3CRET-keychain-f00dcafe'

/** Every variable these tests touch; restored after each test. */
const VARIABLES = ['DBUS_SESSION_BUS_ADDRESS', 'XDG_RUNTIME_DIR', 'TOKENCTL_HOME', 'TOKENCTL_KEYCHAIN_SERVICE', 'TOKENCTL_KEYCHAIN_TIMEOUT']

function setEnv(values: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
}

function saveEnv(): () => void {
  const saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]))
  return () => setEnv(saved)
}

const temporary: string[] = []
function tempDir(): string {
  const directory = mkdtempSync(path.join(tmpdir(), 'tokenctl-keychain-test-'))
  temporary.push(directory)
  return directory
}

after(() => {
  for (const directory of temporary) rmSync(directory, {force: true, recursive: true})
})

function uniqueService(): string {
  return `tokenctl-test-${randomBytes(6).toString('hex')}`
}

interface ChildOutcome {
  elapsedMs?: number
  error?: {code: string; message: string}
  exited: boolean
  value?: string | null
}

/**
 * Runs `new KeychainStore().get(name)` in a fresh Node process with env, which must end by itself
 * (no process.exit): a native call stuck on D-Bus, or a socket or timer left open, shows as a hang.
 */
function getInChild(env: Record<string, string>, name: string, limitMs: number): Promise<ChildOutcome> {
  const script = `
    const {KeychainStore} = await import(${JSON.stringify(STORE_MODULE)})
    const started = performance.now()
    try {
      const value = await new KeychainStore().get(${JSON.stringify(name)})
      console.log(JSON.stringify({elapsedMs: performance.now() - started, value: value ?? null}))
    } catch (error) {
      console.log(JSON.stringify({elapsedMs: performance.now() - started, error: {code: error.code, message: error.message}}))
    }
  `
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: {PATH: process.env.PATH ?? '/usr/bin:/bin', ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      resolve({exited: false})
    }, limitMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      const line = stdout.trim().split('\n').at(-1) ?? ''
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`child failed (${code}): ${stdout}${stderr}`))
      else resolve({exited: true, ...(JSON.parse(line) as Omit<ChildOutcome, 'exited'>)})
    })
  })
}

describe('secret service probe', function () {
  this.timeout(20_000)
  let restoreEnv: () => void
  beforeEach(() => {
    restoreEnv = saveEnv()
  })
  afterEach(() => restoreEnv())

  describe('marshalling', () => {
    it('decodes the method call it encodes, header fields and string body included', () => {
      const call = {
        args: ['org.freedesktop.Secret.Collection', 'Locked'],
        destination: 'org.freedesktop.secrets',
        interface: 'org.freedesktop.DBus.Properties',
        member: 'Get',
        path: '/org/freedesktop/secrets/aliases/default',
      }
      const bytes = encodeMethodCall(call, 7)
      assert.equal(bytes[0], 0x6c, 'little-endian marker')
      assert.equal(bytes[1], 1, 'METHOD_CALL')
      assert.equal(messageLength(bytes), bytes.length, 'length from the fixed header')
      assert.equal(messageLength(bytes.subarray(0, bytes.length - 1)), undefined, 'incomplete until the last byte')
      const message = decodeMessage(bytes)
      assert.equal(message.serial, 7)
      assert.equal(message.signature, 'ss')
      assert.equal(message.bodyOffset % 8, 0, 'the body starts 8-aligned')
      assert.equal(firstBodyValue(message), 'org.freedesktop.Secret.Collection')
      assert.equal(bytes.readUInt32LE(4), bytes.length - message.bodyOffset, 'body length')
    })

    it('takes the first unix address, decoding escapes and abstract sockets', () => {
      assert.deepEqual(parseBusAddress('tcp:host=localhost,port=1;unix:abstract=/tmp/dbus-a%20b,guid=0f'), {path: '\0/tmp/dbus-a b'})
      assert.deepEqual(parseBusAddress('unix:path=/run/user/1000/bus'), {path: '/run/user/1000/bus'})
      assert.ok('reason' in parseBusAddress('tcp:host=localhost,port=1'))
    })

    it('knows which libuv reaches abstract sockets', () => {
      assert.equal(canReachAbstractSockets('1.46.0'), false)
      assert.equal(canReachAbstractSockets('1.48.0'), true)
      assert.equal(canReachAbstractSockets('2.0.0'), true)
    })
  })

  describe('against a private session', () => {
    let session: KeyringSession
    before(async () => {
      session = await requireKeyring()
    })
    after(() => session?.stop())

    it('finds the default collection unlocked', async () => {
      assert.deepEqual(await probeSecretService({env: session.env}), {state: 'unlocked'})
    })

    it('finds XDG_RUNTIME_DIR/bus when DBUS_SESSION_BUS_ADDRESS is not set', async () => {
      const env = {XDG_RUNTIME_DIR: session.env.XDG_RUNTIME_DIR}
      assert.deepEqual(await probeSecretService({env}), {state: 'unlocked'})
    })

    it('times out on a stopped bus, after its timeout', async () => {
      process.kill(session.busPid, 'SIGSTOP')
      try {
        const started = Date.now()
        const state = await probeSecretService({env: session.env, timeoutMs: 400})
        const elapsed = Date.now() - started
        assert.equal(state.state, 'unavailable')
        assert.match((state as {reason: string}).reason, /timeout after 0\.4 s/)
        assert.ok(elapsed >= 390, `gave up after ${elapsed} ms, before its 400 ms`)
      } finally {
        process.kill(session.busPid, 'SIGCONT')
      }

      assert.deepEqual(await probeSecretService({env: session.env}), {state: 'unlocked'}, 'answers again once continued')
    })
  })

  it('speaks to a bus on an abstract socket, or says why this Node.js cannot', async () => {
    const session = await requireKeyring({abstract: true, secrets: false})
    try {
      assert.match(session.env.DBUS_SESSION_BUS_ADDRESS, /^unix:abstract=/)
      const state = await probeSecretService({env: session.env})
      assert.equal(state.state, 'unavailable')
      const reason = (state as {reason: string}).reason
      if (canReachAbstractSockets()) assert.match(reason, /^no Secret Service on the session bus/, 'the bus answered')
      else assert.match(reason, /cannot connect to the session bus on the abstract socket .*; Node\.js 22 can$/)
    } finally {
      await session.stop()
    }
  })

  it('says when the bus has no Secret Service', async () => {
    const session = await requireKeyring({secrets: false})
    try {
      const state = await probeSecretService({env: session.env})
      assert.equal(state.state, 'unavailable')
      assert.match((state as {reason: string}).reason, /^no Secret Service on the session bus \(org\.freedesktop\.DBus\.Error\.ServiceUnknown/)
    } finally {
      await session.stop()
    }
  })

  it('says when the Secret Service has no default keyring', async () => {
    const session = await requireKeyring({unlock: false})
    try {
      const state = await probeSecretService({env: session.env})
      assert.equal(state.state, 'unavailable')
      assert.match((state as {reason: string}).reason, /^the Secret Service has no default keyring/)
    } finally {
      await session.stop()
    }
  })

  it('says when there is no session bus, without connecting', async () => {
    const state = await probeSecretService({env: {XDG_RUNTIME_DIR: tempDir()}})
    assert.equal(state.state, 'unavailable')
    assert.match((state as {reason: string}).reason, /^no session bus/)
  })

  it('says when the bus socket refuses the connection', async () => {
    const notASocket = path.join(tempDir(), 'bus')
    writeFileSync(notASocket, '')
    const state = await probeSecretService({env: {DBUS_SESSION_BUS_ADDRESS: `unix:path=${notASocket}`}})
    assert.deepEqual(state, {reason: `connection to the session bus refused (${notASocket})`, state: 'unavailable'})
  })

  it('does not probe other platforms', async () => {
    assert.deepEqual(await probeSecretService({env: {}, platform: 'darwin'}), {state: 'unlocked'})
  })
})

describe('keychain native error mapping', () => {
  // Messages the native module gave in this repository's tests, word for word.
  const NO_REPLY =
    'Platform failure: DBus error: Did not receive a reply. Possible causes include: the remote application did not send a reply, the message bus security policy blocked the reply, the reply timeout expired, or the network connection was broken.'

  it('treats a D-Bus failure as store_unavailable, though its text says "blocked"', () => {
    const error = nativeError(new Error(NO_REPLY), 'read "a"')
    assert.equal(error.code, 'store_unavailable')
    assert.equal(error.exitCode, ExitCode.store)
  })

  it('treats a locked collection as store_locked, from either native path', () => {
    assert.equal(nativeError(new Error("Couldn't access platform storage: Secret Service: unlock prompt was dismissed"), 'read "a"').code, 'store_locked')
    assert.equal(nativeError(new Error('zbus error: org.freedesktop.Secret.Error.IsLocked: Cannot get secret of a locked object'), 'list').code, 'store_locked')
  })

  it('keeps other failures as store_error, without the value being written', () => {
    const error = nativeError(new Error(`Attribute password is invalid: ${SECRET}`), 'write "a"', SECRET)
    assert.equal(error.code, 'store_error')
    assert.ok(!error.message.includes(SECRET), error.message)
  })
})

describe('keychain messages and settings (no daemon)', () => {
  const FILE_STORE_WAY_OUT = 'or use the encrypted file store: TOKENCTL_STORE=file with TOKENCTL_STORE_PASSPHRASE or TOKENCTL_STORE_PASSPHRASE_FILE'

  it('TOKENCTL_KEYCHAIN_TIMEOUT: seconds, 3 s when absent or not a positive number, at most a day (a longer timer would fire at once)', () => {
    assert.equal(keychainTimeoutMs({}), 3000)
    assert.equal(keychainTimeoutMs({TOKENCTL_KEYCHAIN_TIMEOUT: 'soon'}), 3000)
    assert.equal(keychainTimeoutMs({TOKENCTL_KEYCHAIN_TIMEOUT: '0'}), 3000)
    assert.equal(keychainTimeoutMs({TOKENCTL_KEYCHAIN_TIMEOUT: '0.5'}), 500)
    assert.equal(keychainTimeoutMs({TOKENCTL_KEYCHAIN_TIMEOUT: '86400'}), 86_400_000)
    assert.equal(keychainTimeoutMs({TOKENCTL_KEYCHAIN_TIMEOUT: '1e9'}), 86_400_000)
  })

  it('the service is TOKENCTL_KEYCHAIN_SERVICE unless blank, else "tokenctl"', () => {
    assert.equal(DEFAULT_KEYCHAIN_SERVICE, 'tokenctl')
    assert.equal(keychainService({}), 'tokenctl')
    assert.equal(keychainService({TOKENCTL_KEYCHAIN_SERVICE: ''}), 'tokenctl')
    assert.equal(keychainService({TOKENCTL_KEYCHAIN_SERVICE: '   '}), 'tokenctl')
    assert.equal(keychainService({TOKENCTL_KEYCHAIN_SERVICE: 'ci-tokens'}), 'ci-tokens')
    assert.equal(new KeychainStore({service: 'given'}).service, 'given', 'an explicit service wins')
    assert.equal(new KeychainStore({service: 'given'}).location, 'Secret Service, service "given"')
  })

  it('a locked keychain: what to unlock, and the file store as the other way out', () => {
    for (const text of ['Secret Service: the collection is Locked', 'org.freedesktop.Secret.Error.IsLocked', 'please unlock the keyring']) {
      const error = nativeError(new Error(text), 'read "a"')
      assert.equal(error.code, 'store_locked', text)
      assert.equal(error.message, 'the keychain is locked (the Secret Service default collection)')
      assert.deepEqual(error.suggestions, ['unlock the keyring (log in to the desktop session, or run `gnome-keyring-daemon --unlock`)', FILE_STORE_WAY_OUT])
    }
  })

  it('a keychain that cannot be reached: the reason, a Secret Service to start, and the file store', () => {
    for (const text of ['Platform failure: no reply', 'Platform secure storage failure: x', "Couldn't access platform secure storage", 'DBus error: gone', 'zbus error: gone']) {
      const error = nativeError(new Error(text), 'read "a"')
      assert.equal(error.code, 'store_unavailable', text)
      assert.equal(error.message, `the keychain is not available: ${text}`)
      assert.deepEqual(error.suggestions, ['start a Secret Service (gnome-keyring, KeePassXC) in this D-Bus session', FILE_STORE_WAY_OUT])
    }
  })

  it('any other failure says what the keychain failed to do, with the value written masked wherever it appears', () => {
    const error = nativeError(new Error(`bad attribute ${SECRET}, really ${SECRET}`), 'write "session:a"', SECRET)
    assert.equal(error.code, 'store_error')
    assert.equal(error.message, 'the keychain failed to write "session:a": bad attribute ***, really ***')
    assert.equal(nativeError(new Error('no entry'), 'delete "a"').message, 'the keychain failed to delete "a": no entry')
    assert.equal(nativeError('a string thrown', 'list its entries').message, 'the keychain failed to list its entries: a string thrown')
  })

  it('locks are per service and entry: two services never wait for each other', async () => {
    const home = tempDir()
    const saved = process.env.TOKENCTL_HOME
    process.env.TOKENCTL_HOME = home
    try {
      const release = await holdLock(new KeychainStore({service: 'one'}), 'session:a')
      assert.equal(await new KeychainStore({service: 'two'}).withLock('session:a', async () => 'other service', {waitMs: 100}), 'other service')
      assert.equal(await new KeychainStore({service: 'one'}).withLock('session:b', async () => 'other entry', {waitMs: 100}), 'other entry')
      await rejectsWith(
        new KeychainStore({service: 'one'}).withLock('session:a', async () => 'same', {waitMs: 100}),
        'store_lock_timeout',
      )
      await release()
    } finally {
      if (saved === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = saved
    }
  })
})

describe('KeychainStore (Secret Service)', function () {
  this.timeout(20_000)
  // One session for every in-process native call: libdbus keeps the first bus it connects to.
  let session: KeyringSession
  let restoreEnv: () => void
  let service: string

  before(async () => {
    session = await requireKeyring()
  })
  after(() => session?.stop())

  beforeEach(() => {
    restoreEnv = saveEnv()
    service = uniqueService()
    setEnv({
      DBUS_SESSION_BUS_ADDRESS: session.env.DBUS_SESSION_BUS_ADDRESS,
      TOKENCTL_HOME: tempDir(),
      TOKENCTL_KEYCHAIN_SERVICE: service,
      TOKENCTL_KEYCHAIN_TIMEOUT: undefined,
      XDG_RUNTIME_DIR: session.env.XDG_RUNTIME_DIR,
    })
    forgetKeychainProbes()
  })
  afterEach(() => restoreEnv())

  it('names its backend and service', () => {
    const store = new KeychainStore()
    assert.equal(store.backend, 'keychain')
    assert.equal(store.location, `Secret Service, service "${service}"`)
  })

  it('round-trips get, set, list and delete', async () => {
    const store = new KeychainStore()
    const value = `{"access_token":"${SECRET}","note":"ünïcode\\n"}`
    assert.equal(await store.get('token/a'), undefined)
    await store.set('token/a', value)
    await store.set('token/b', 'first')
    await store.set('token/b', 'second')
    await store.set('client/c', 'c')
    assert.equal(await store.get('token/a'), value)
    assert.equal(await store.get('token/b'), 'second', 'set replaces')
    assert.deepEqual(await store.list('token/'), ['token/a', 'token/b'])
    assert.deepEqual(await store.list(''), ['client/c', 'token/a', 'token/b'])
    assert.equal(await store.delete('token/a'), true)
    assert.equal(await store.delete('token/a'), false, 'already gone')
    assert.equal(await store.get('token/a'), undefined)
    assert.deepEqual(await new KeychainStore().list('token/'), ['token/b'], 'another instance sees the same keychain')
  })

  it('stores items that secret-tool finds by service and username', async () => {
    if (!findExecutable('secret-tool')) missingPrerequisite('secret-tool is not installed', 'apt-get install libsecret-tools')

    await new KeychainStore().set('session/k1', SECRET)
    const items = await session.secretToolSearch({service})
    assert.equal(items.length, 1, JSON.stringify(items))
    assert.equal(items[0].attributes.service, service)
    assert.equal(items[0].attributes.username, 'session/k1')
    assert.equal(items[0].secret, SECRET)
  })

  it('lists only the entries of its own service', async () => {
    await new KeychainStore({service: `${service}-other`}).set('x', 'other')
    await new KeychainStore().set('y', 'mine')
    assert.deepEqual(await new KeychainStore().list(''), ['y'])
    assert.equal(await new KeychainStore().get('x'), undefined)
    assert.deepEqual(await new KeychainStore({service: `${service}-other`}).list(''), ['x'])
  })

  it('lists by prefix only, each name once, sorted', async () => {
    const store = new KeychainStore()
    // Neither in order nor in reverse order: the list is sorted, whatever order the keychain answers in.
    for (const name of ['token:c', 'token:a', 'token:d', 'token:b', 'session:a', 'xtoken:c']) await store.set(name, 'v')
    assert.deepEqual(await store.list('token:'), ['token:a', 'token:b', 'token:c', 'token:d'])
    assert.deepEqual(await store.list('session:'), ['session:a'])
    assert.deepEqual(await store.list('nothing:'), [])
  })

  describe('lifetimes', () => {
    const past = () => Date.now() - 60_000
    const later = () => Date.now() + 3_600_000
    before(() => {
      if (!findExecutable('secret-tool')) missingPrerequisite('secret-tool is not installed', 'apt-get install libsecret-tools')
    })

    /** The lifetimes as the keychain holds them: the item store:expiries of the service (the README names it). */
    const expiries = async () => {
      const items = await session.secretToolSearch({service, username: 'store:expiries'})
      assert.equal(items.length, 1, JSON.stringify(items))
      return JSON.parse(items[0].secret!) as Record<string, number>
    }

    it('an entry whose lifetime has ended is deleted by a later write; one still alive, and those written without one (a session, a secret), stay', async () => {
      const store = new KeychainStore()
      await store.set('session:s', 'r')
      await store.set('client-secret:c', 's')
      await store.set('token:ended', 'e', {expiresAt: past()})
      const at = later()
      await store.set('token:alive', 'a', {expiresAt: at})
      assert.deepEqual(await store.list(''), ['client-secret:c', 'session:s', 'token:alive'], `the lifetimes' own item (${EXPIRIES}) is never listed`)
      assert.deepEqual(await expiries(), {'token:alive': at})
    })

    it(`a write deletes at most ${PRUNE_PER_WRITE} ended entries: many are gone after a few writes`, async () => {
      const store = new KeychainStore()
      const ended = PRUNE_PER_WRITE * 2
      const lifetimes: Record<string, number> = {}
      for (let i = 0; i < ended; i++) {
        await store.set(`token:${i}`, 'v')
        lifetimes[`token:${i}`] = past()
      }

      await store.set(EXPIRIES, JSON.stringify(lifetimes))
      await store.set('token:new', 'n', {expiresAt: later()})
      assert.equal((await store.list('token:')).length, PRUNE_PER_WRITE + 1)
      await store.set('token:newer', 'n', {expiresAt: later()})
      assert.deepEqual(await store.list('token:'), ['token:new', 'token:newer'])
    })

    it('lifetimes that do not read as such start again (what they held is kept, not guessed); a lifetime that is not a number is none', async () => {
      const store = new KeychainStore()
      for (const garbage of ['not json', 'null']) {
        await store.set('token:ended', 'e')
        await store.set(EXPIRIES, garbage)
        const at = later()
        await store.set('token:new', 'n', {expiresAt: at})
        assert.deepEqual(await store.list(''), ['token:ended', 'token:new'], garbage)
        assert.deepEqual(await expiries(), {'token:new': at}, garbage)
        await store.delete('token:ended')
      }

      // Not numbers, though each compares as one (null and "1" are before now, "soon" never is).
      for (const name of ['token:a', 'token:b', 'token:c', 'token:d']) await store.set(name, 'v')
      await store.set(EXPIRIES, JSON.stringify({'token:a': 'soon', 'token:b': null, 'token:c': '1', 'token:d': past()}))
      await store.set('token:new', 'n', {expiresAt: later()})
      assert.deepEqual(await store.list(''), ['token:a', 'token:b', 'token:c', 'token:new'])
    })
  })

  it('warms up (the probe and the native module started early) only where there is a session bus to probe', async () => {
    assert.equal(warmUpKeychain(), true)
    const store = new KeychainStore()
    await store.set('warm', 'up')
    assert.equal(await store.get('warm'), 'up')
    setEnv({DBUS_SESSION_BUS_ADDRESS: undefined, XDG_RUNTIME_DIR: tempDir()})
    assert.equal(warmUpKeychain(), false, 'no bus: nothing to warm up')
  })

  it('answers check() and probeKeychain() while unlocked', async () => {
    await new KeychainStore().check()
    assert.deepEqual(await probeKeychain(), {ok: true})
  })

  it('fails with store_unavailable when there is no session bus', async () => {
    setEnv({DBUS_SESSION_BUS_ADDRESS: undefined, XDG_RUNTIME_DIR: tempDir()})
    const store = new KeychainStore()
    const error = await rejectsWith(store.get('a'), 'store_unavailable')
    assert.match(error.message, /no session bus/)
    assert.ok(error.suggestions.some((suggestion) => suggestion.includes('TOKENCTL_STORE=file')))
    await rejectsWith(store.set('a', SECRET), 'store_unavailable')
    await rejectsWith(store.list(''), 'store_unavailable')
    await rejectsWith(store.check(), 'store_unavailable')
    assert.deepEqual(await probeKeychain(), {code: 'store_unavailable', ok: false, reason: error.message.replace('the keychain is not available: ', '')})
  })

  it('refuses to follow a process to another session bus', async () => {
    await new KeychainStore().set('a', 'on the first bus') // binds libdbus to this bus, if not yet
    const other = await requireKeyring()
    try {
      setEnv({DBUS_SESSION_BUS_ADDRESS: other.env.DBUS_SESSION_BUS_ADDRESS})
      const error = await rejectsWith(new KeychainStore().get('a'), 'store_error')
      assert.equal(error.message, 'the session bus changed since this process first used the keychain')
      assert.deepEqual(error.suggestions, ['use one DBUS_SESSION_BUS_ADDRESS per process'])
    } finally {
      await other.stop()
    }
  })

  describe('with a stopped daemon (in a child process, which must not hang)', () => {
    let own: KeyringSession
    beforeEach(async () => {
      own = await requireKeyring()
    })
    afterEach(() => own?.stop())

    for (const daemon of ['bus', 'keyring'] as const) {
      it(`fails with store_unavailable after the timeout when the ${daemon} daemon is stopped`, async () => {
        const pid = daemon === 'bus' ? own.busPid : own.keyringPid!
        const env = {...own.env, TOKENCTL_HOME: tempDir(), TOKENCTL_KEYCHAIN_SERVICE: service, TOKENCTL_KEYCHAIN_TIMEOUT: '1'}
        process.kill(pid, 'SIGSTOP')
        try {
          const outcome = await getInChild(env, 'a', 10_000)
          assert.ok(outcome.exited, 'the child process hung')
          assert.equal(outcome.error?.code, 'store_unavailable', JSON.stringify(outcome))
          assert.match(outcome.error.message, /timeout after 1 s/)
          assert.ok(outcome.elapsedMs! >= 950, `gave up after ${outcome.elapsedMs} ms, before its 1 s`)
        } finally {
          process.kill(pid, 'SIGCONT')
        }
      })
    }

    it('reads the entry in a child process once the daemons run again (the control case)', async () => {
      const env = {...own.env, TOKENCTL_HOME: tempDir(), TOKENCTL_KEYCHAIN_SERVICE: service, TOKENCTL_KEYCHAIN_TIMEOUT: '1'}
      const outcome = await getInChild(env, 'absent', 10_000)
      assert.ok(outcome.exited, 'the child process hung')
      assert.deepEqual(outcome.error, undefined)
      assert.equal(outcome.value, null)
    })
  })

  // Last: it locks the shared session's default collection for good.
  describe('with the default collection locked', () => {
    let probedBeforeLock: KeychainStore
    let restoreLockedEnv: () => void
    before(async () => {
      restoreLockedEnv = saveEnv()
      setEnv({DBUS_SESSION_BUS_ADDRESS: session.env.DBUS_SESSION_BUS_ADDRESS, TOKENCTL_HOME: tempDir(), XDG_RUNTIME_DIR: session.env.XDG_RUNTIME_DIR})
      probedBeforeLock = new KeychainStore({service: 'tokenctl-test-locked'})
      await probedBeforeLock.set('a', 'written before the lock')
      await session.lockDefaultCollection()
    })
    after(() => restoreLockedEnv())

    it('fails with store_locked, naming both ways out', async () => {
      const error = await rejectsWith(new KeychainStore().get('a'), 'store_locked')
      assert.match(error.message, /locked/)
      assert.ok(error.suggestions.some((suggestion) => /unlock/.test(suggestion)))
      assert.ok(error.suggestions.some((suggestion) => suggestion.includes('TOKENCTL_STORE=file')))
      await rejectsWith(new KeychainStore().check(), 'store_locked')
      assert.deepEqual(await probeKeychain(), {code: 'store_locked', ok: false, reason: 'the keychain is locked'})
    })

    it('maps the native error to store_locked when the lock came after the probe', async () => {
      // This store probed (unlocked) before the lock, so the native module meets the lock itself.
      await rejectsWith(probedBeforeLock.get('a'), 'store_locked')
      const error = await rejectsWith(probedBeforeLock.set('a', SECRET), 'store_locked')
      assert.ok(!error.message.includes(SECRET), 'no secret in the message')
      assert.ok(!JSON.stringify(error.suggestions).includes(SECRET), 'no secret in the suggestions')
      await rejectsWith(probedBeforeLock.delete('a'), 'store_locked')
      await rejectsWith(probedBeforeLock.list(''), 'store_locked')
    })
  })
})
