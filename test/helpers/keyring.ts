/**
 * A private Secret Service for keychain tests: a dbus-daemon and a gnome-keyring-daemon of their
 * own, with HOME and the XDG directories in a fresh temporary directory, so that no test reads or
 * writes a developer's real keyring. Pass `env` to the code under test (or to spawned processes).
 */
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {promisify} from 'node:util'

import {probeSecretService, type SecretServiceState} from '../../src/lib/store/secret-service-probe.js'
import {missingPrerequisite} from './prerequisites.js'

const run = promisify(execFile)
const START_TIMEOUT_MS = 10_000
/** Non-empty: with an empty password gnome-keyring's default collection is not usable. */
const KEYRING_PASSWORD = 'tokenctl-test-keyring'

export interface KeyringOptions {
  /** Listen on an abstract socket instead of a socket file. */
  abstract?: boolean
  /** Start gnome-keyring-daemon (default); false leaves the bus without a Secret Service. */
  secrets?: boolean
  /**
   * Create and unlock the login keyring, the default collection (default). false starts the daemon
   * without a password: it then has no default collection at all.
   */
  unlock?: boolean
}

export interface SecretToolItem {
  attributes: Record<string, string>
  label?: string
  path: string
  secret?: string
}

export interface KeyringSession {
  busPid: number
  /** DBUS_SESSION_BUS_ADDRESS, HOME, XDG_* of the private session. */
  env: Record<string, string>
  keyringPid: number | undefined
  /** Locks the default collection as a screen locker would (Secret Service Lock, no prompt). */
  lockDefaultCollection(): Promise<void>
  /** `secret-tool search --all` in this session: what an independent client sees. */
  secretToolSearch(attributes: Record<string, string>): Promise<SecretToolItem[]>
  stop(): Promise<void>
}

export function findExecutable(name: string): string | undefined {
  for (const directory of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!directory) continue
    const candidate = path.join(directory, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not there, or not executable: the next candidate
    }
  }

  return undefined
}

/**
 * A session bus with no service directories: nothing is activated behind our back (the system's
 * session.conf would start a second gnome-keyring-daemon, with the wrong directories, as soon as
 * anyone asks for org.freedesktop.secrets before ours has claimed the name).
 */
function busConfig(listen: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>${listen}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`
}

function collectOutput(child: ChildProcess): () => string {
  let output = ''
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000)
  }

  child.stdout?.on('data', append)
  child.stderr?.on('data', append)
  return () => output
}

/** Resolves with dbus-daemon's first line on stdout: its address, printed once it listens. */
function busAddress(bus: ChildProcess, output: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    let printed = ''
    const timer = setTimeout(() => reject(new Error(`dbus-daemon printed no address: ${output()}`)), START_TIMEOUT_MS)
    bus.stdout!.on('data', (chunk: Buffer) => {
      printed += chunk.toString()
      const end = printed.indexOf('\n')
      if (end < 0) return
      clearTimeout(timer)
      resolve(printed.slice(0, end).trim())
    })
    bus.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`dbus-daemon exited (${code}): ${output()}`))
    })
  })
}

async function waitForProbe(env: Record<string, string>, wanted: string, isReady: (state: SecretServiceState) => boolean, describe: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  let last: SecretServiceState | undefined
  while (Date.now() < deadline) {
    last = await probeSecretService({env, timeoutMs: 1000})
    if (isReady(last)) return
    await sleep(50)
  }

  throw new Error(`the Secret Service did not become ${wanted}: ${JSON.stringify(last)}; ${describe()}`)
}

/** Until the daemon owns its name, the bus answers ServiceUnknown. */
function serviceAnswers(state: SecretServiceState): boolean {
  return state.state !== 'unavailable' || !state.reason.startsWith('no Secret Service')
}

async function terminate(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGCONT') // a test may have stopped it; a stopped process ignores SIGTERM until continued
  child.kill('SIGTERM')
  const killer = setTimeout(() => child.kill('SIGKILL'), 2000)
  await exited
  clearTimeout(killer)
}

function parseSecretToolOutput(text: string): SecretToolItem[] {
  const items: SecretToolItem[] = []
  let item: SecretToolItem | undefined
  for (const line of text.split('\n')) {
    const header = /^\[(.+)\]$/.exec(line)
    if (header) {
      item = {attributes: {}, path: header[1]}
      items.push(item)
      continue
    }

    const pair = /^(\S+) = (.*)$/.exec(line)
    if (!item || !pair) continue
    const [, key, value] = pair as unknown as [string, string, string]
    if (key.startsWith('attribute.')) item.attributes[key.slice('attribute.'.length)] = value
    else if (key === 'label') item.label = value
    else if (key === 'secret') item.secret = value
  }

  return items
}

/** Starts the private session, or says why it cannot (requireKeyring turns that into a failure). */
export async function startKeyring(options: KeyringOptions = {}): Promise<KeyringSession | {skip: string}> {
  if (process.platform !== 'linux') return {skip: 'the Secret Service tests run on Linux only'}
  const dbusDaemon = findExecutable('dbus-daemon')
  if (!dbusDaemon) return {skip: 'dbus-daemon is not installed'}
  const keyringDaemon = findExecutable('gnome-keyring-daemon')
  const withSecrets = options.secrets ?? true
  if (withSecrets && !keyringDaemon) return {skip: 'gnome-keyring-daemon is not installed'}

  const root = mkdtempSync(path.join(tmpdir(), 'tokenctl-keyring-'))
  const directories = {HOME: 'home', XDG_CACHE_HOME: 'cache', XDG_CONFIG_HOME: 'config', XDG_DATA_HOME: 'data', XDG_RUNTIME_DIR: 'run'}
  const env: Record<string, string> = {}
  for (const [variable, name] of Object.entries(directories)) {
    env[variable] = path.join(root, name)
    mkdirSync(env[variable], {mode: 0o700})
  }

  const listen = options.abstract ? `unix:abstract=${root}/bus` : `unix:path=${env.XDG_RUNTIME_DIR}/bus`
  const configFile = path.join(root, 'bus.conf')
  writeFileSync(configFile, busConfig(listen))
  const childEnv = {PATH: process.env.PATH ?? '/usr/bin:/bin', ...env}

  // dbus-daemon warns "Failed to set fd limit" in sandboxes; harmless, and only shown on failure.
  const bus = spawn(dbusDaemon, [`--config-file=${configFile}`, '--nofork', '--print-address=1'], {env: childEnv, stdio: ['ignore', 'pipe', 'pipe']})
  const busOutput = collectOutput(bus)
  let keyring: ChildProcess | undefined
  const stop = async () => {
    await terminate(keyring)
    await terminate(bus)
    rmSync(root, {force: true, recursive: true})
  }

  try {
    env.DBUS_SESSION_BUS_ADDRESS = await busAddress(bus, busOutput)
    let keyringOutput = () => ''
    if (withSecrets) {
      const unlock = options.unlock ?? true
      const args = ['--foreground', '--components=secrets', ...(unlock ? ['--unlock'] : [])]
      keyring = spawn(keyringDaemon!, args, {
        env: {...childEnv, DBUS_SESSION_BUS_ADDRESS: env.DBUS_SESSION_BUS_ADDRESS},
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      keyringOutput = collectOutput(keyring)
      keyring.stdin!.end(unlock ? KEYRING_PASSWORD : '') // --unlock reads the password up to end of file
      const describe = () => `gnome-keyring-daemon: ${keyringOutput()}`
      if (unlock) await waitForProbe(env, 'unlocked', (state) => state.state === 'unlocked', describe)
      else await waitForProbe(env, 'ready', serviceAnswers, describe)
    }
  } catch (error) {
    await stop()
    throw error
  }

  return {
    busPid: bus.pid!,
    env,
    keyringPid: keyring?.pid,
    async lockDefaultCollection() {
      // `secret-tool lock --collection=…` hangs or crashes (libsecret 0.21); the D-Bus method works.
      const lock = ['org.freedesktop.Secret.Service.Lock', 'array:objpath:/org/freedesktop/secrets/aliases/default']
      await run('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.secrets', '/org/freedesktop/secrets', ...lock], {
        env: {...childEnv, DBUS_SESSION_BUS_ADDRESS: env.DBUS_SESSION_BUS_ADDRESS},
        timeout: 5000,
      })
      await waitForProbe(
        env,
        'locked',
        (state) => state.state === 'locked',
        () => 'after Secret Service Lock',
      )
    },
    async secretToolSearch(attributes) {
      const pairs = Object.entries(attributes).flat()
      // secret-tool prints the attributes on stderr, the rest on stdout; g_print and g_printerr
      // flush every line, so one pipe for both keeps them in order.
      const {stdout} = await run('sh', ['-c', 'exec secret-tool search --all "$@" 2>&1', 'sh', ...pairs], {
        env: {...childEnv, DBUS_SESSION_BUS_ADDRESS: env.DBUS_SESSION_BUS_ADDRESS},
        timeout: 5000,
      }).catch((error: {code?: number; stdout?: string}) => {
        // Exit 1 with no output: nothing found.
        if (error.code === 1) return {stdout: error.stdout ?? ''}
        throw error
      })
      return parseSecretToolOutput(stdout)
    },
    stop,
  }
}

/** A private session, or a failure naming what to install (the suite skips nothing). */
export async function requireKeyring(options?: KeyringOptions): Promise<KeyringSession> {
  const started = await startKeyring(options)
  if ('skip' in started) missingPrerequisite(started.skip, 'apt-get install dbus gnome-keyring libsecret-tools')
  return started
}
