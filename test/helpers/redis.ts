/**
 * A private Redis for the tests: Debian's `redis-server` on a free loopback port, with
 * authentication on (a password, or ACL users with the default user switched off), in a temporary
 * directory of its own. `appendOnly` keeps the data in an append-only file there, so that
 * `restart()` brings the same data back; without it nothing is ever written to disk.
 * `requireRedis` fails, saying what to install, where `redis-server` is not installed.
 */
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {promisify} from 'node:util'

import {findExecutable} from './keyring.js'
import {missingPrerequisite} from './prerequisites.js'
import type {TestPki} from './tls.js'

const execFileAsync = promisify(execFile)
const START_TIMEOUT_MS = 10_000

export interface RedisOptions {
  /**
   * Authenticate as a restricted ACL user (only tokenctl's commands, only keys under the prefix)
   * instead of the default user with a password; the default user is then switched off.
   */
  acl?: boolean
  /** appendonly yes in the server's own directory: data survives `restart()`. Default: no persistence at all. */
  appendOnly?: boolean
  /** The key pattern the ACL user may touch (default `tokenctl*`). */
  aclKeys?: string
  /** TLS only (rediss://), with this PKI's server certificate; `env` then trusts its CA through TOKENCTL_REDIS_CA_FILE. */
  tls?: TestPki
  /**
   * With `tls`: the server requires a client certificate signed by the PKI's CA (tls-auth-clients yes),
   * and the helper presents this one; `env` does not (a test adds TOKENCTL_REDIS_CERT_FILE / _KEY_FILE).
   */
  clientCertificate?: {certificatePath: string; keyPath: string}
}

export interface RedisServer {
  /** TOKENCTL_STORE=redis and TOKENCTL_REDIS_URL for this server (the password in TOKENCTL_REDIS_PASSWORD). */
  env: Record<string, string>
  host: string
  password: string
  port: number
  /** The server as tokenctl names it: redis://[user@]127.0.0.1:port */
  display: string
  /** A URL with the credentials in it. */
  url: string
  username?: string
  /** `redis-cli ARGS…` as an administrator; stdout. */
  cli(...args: string[]): Promise<string>
  /** Every key (`redis-cli --scan`) with its value (`GET`, `SMEMBERS`…), as redis-cli prints them. */
  dump(): Promise<string>
  /** The server's directory: its log, and its append-only file with `appendOnly`. */
  directory: string
  /** Stops the server for good and removes its directory. */
  dispose(): Promise<void>
  /** Keys matching a pattern (`redis-cli --scan --pattern`). */
  keys(pattern?: string): Promise<string[]>
  readonly running: boolean
  /** Stops the server (SIGTERM: an append-only file is flushed), then starts it again on the same port and directory. */
  restart(): Promise<void>
  /** Starts a stopped server again on the same port and directory. */
  start(): Promise<void>
  stop(): Promise<void>
}

/**
 * What tokenctl needs, and nothing else: the README's ACL line (the keys are the caller's). Cluster
 * topologies add `+cluster|slots` and `+asking` (test/helpers/redis-topologies.ts).
 */
export const TOKENCTL_COMMANDS = ['+ping', '+get', '+set', '+del', '+pexpire', '+eval', '+scan', '+role', '+wait']

/**
 * ACL users of a test server: no default user, an administrator, and tokenctl's user with what
 * tokenctl needs and nothing else (the README's ACL line; `extra` for what a Cluster client needs).
 */
export function aclUserArgs({adminPassword, password}: {adminPassword: string; password: string}, keys: string, extra: string[] = []): string[] {
  return ['--user', 'default', 'off', '--user', 'admin', 'on', `>${adminPassword}`, '~*', '&*', '+@all', '--user', 'tokenctl', 'on', `>${password}`, `~${keys}`, ...TOKENCTL_COMMANDS, ...extra]
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** PING over a raw socket (TLS with a CA), authenticated: true once the server answers +PONG. */
export async function answersPing(port: number, auth: string[], ca?: string, client?: {cert: string; key: string}): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = ca ? tls.connect({ca, host: '127.0.0.1', port, servername: 'localhost', ...client}) : net.connect({host: '127.0.0.1', port})
    const command = (args: string[]) => `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`
    let received = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }

    socket.setTimeout(1000, () => done(false))
    socket.on('error', () => done(false))
    socket.on(ca ? 'secureConnect' : 'connect', () => socket.write((auth.length > 0 ? command(['AUTH', ...auth]) : '') + command(['PING'])))
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1')
      if (received.includes('+PONG')) done(true)
      else if (received.startsWith('-')) done(false)
    })
  })
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer | {skip: string}> {
  const binary = findExecutable('redis-server')
  if (!binary) return {skip: 'redis-server is not installed (apt-get install redis-server redis-tools)'}
  const cliBinary = findExecutable('redis-cli')
  if (!cliBinary) return {skip: 'redis-cli is not installed (apt-get install redis-tools)'}

  const directory = mkdtempSync(path.join(tmpdir(), 'tokenctl-redis-'))
  const password = randomBytes(12).toString('hex')
  const adminPassword = randomBytes(12).toString('hex')
  const username = options.acl ? 'tokenctl' : undefined
  const port = await freePort()
  const authArgs = options.acl ? aclUserArgs({adminPassword, password}, options.aclKeys ?? 'tokenctl*') : ['--requirepass', password]
  const adminAuth = options.acl ? ['--user', 'admin', '--pass', adminPassword] : ['--pass', password]
  const pingAuth = options.acl ? ['admin', adminPassword] : [password]
  const pki = options.tls
  const listenArgs = pki
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        pki.serverCertPath,
        '--tls-key-file',
        pki.serverKeyPath,
        '--tls-ca-cert-file',
        pki.caCertPath,
        '--tls-auth-clients',
        options.clientCertificate ? 'yes' : 'no',
      ]
    : ['--port', String(port)]
  const client = options.clientCertificate
  const tlsCliArgs = pki ? ['--tls', '--cacert', pki.caCertPath, ...(client ? ['--cert', client.certificatePath, '--key', client.keyPath] : [])] : []
  const clientPem = client ? {cert: readFileSync(client.certificatePath, 'utf8'), key: readFileSync(client.keyPath, 'utf8')} : undefined
  const args = [
    ...listenArgs,
    '--bind',
    '127.0.0.1',
    '--dir',
    directory,
    '--save',
    '',
    '--appendonly',
    options.appendOnly ? 'yes' : 'no',
    '--logfile',
    path.join(directory, 'redis.log'),
    '--daemonize',
    'no',
    ...authArgs,
  ]

  let child: ChildProcess | undefined
  const killOnExit = () => child?.kill('SIGKILL')
  process.once('exit', killOnExit)

  async function start(): Promise<void> {
    if (child) return
    const started = spawn(binary!, args, {cwd: directory, stdio: 'ignore'})
    child = started
    started.once('exit', () => {
      if (child === started) child = undefined
    })
    const deadline = Date.now() + START_TIMEOUT_MS
    while (!(await answersPing(port, pingAuth, pki?.caCert, clientPem))) {
      if (!child) throw new Error(`redis-server exited at start (see ${path.join(directory, 'redis.log')})`)
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within ${START_TIMEOUT_MS} ms`)
      await sleep(20)
    }
  }

  async function stop(): Promise<void> {
    const running = child
    if (!running) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill('SIGTERM') // an orderly shutdown: the append-only file is flushed
    const timer = setTimeout(() => running.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }

  const cli = async (...cliArgs: string[]): Promise<string> => {
    const {stdout} = await execFileAsync(cliBinary, ['-h', '127.0.0.1', '-p', String(port), ...tlsCliArgs, ...adminAuth, '--no-auth-warning', ...cliArgs], {
      encoding: 'latin1',
      maxBuffer: 64 * 1024 * 1024,
    })
    return stdout
  }

  const keys = async (pattern = '*') => (await cli('--scan', '--pattern', pattern)).split('\n').filter(Boolean).sort()

  await start()
  const scheme = pki ? 'rediss' : 'redis'
  const display = `${scheme}://${username ? `${username}@` : ''}127.0.0.1:${port}`
  return {
    cli,
    directory,
    display,
    async dispose() {
      await stop()
      process.removeListener('exit', killOnExit)
      rmSync(directory, {force: true, recursive: true})
    },
    async dump() {
      let text = ''
      for (const key of await keys()) {
        const type = (await cli('TYPE', key)).trim()
        const value = type === 'string' ? await cli('GET', key) : type === 'set' ? await cli('SMEMBERS', key) : type === 'hash' ? await cli('HGETALL', key) : `(${type})`
        text += `${key}\n${value}\n`
      }

      return text
    },
    env: {
      TOKENCTL_REDIS_PASSWORD: password,
      TOKENCTL_REDIS_URL: display,
      TOKENCTL_STORE: 'redis',
      ...(pki ? {TOKENCTL_REDIS_CA_FILE: pki.caCertPath} : {}),
    },
    host: '127.0.0.1',
    keys,
    password,
    port,
    restart: async () => {
      await stop()
      await start()
    },
    get running() {
      return child !== undefined
    },
    start,
    stop,
    url: `${scheme}://${username ? encodeURIComponent(username) : ''}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    username,
  }
}

/** A server, or a failure naming what to install (the suite skips nothing). */
export async function requireRedis(options?: RedisOptions): Promise<RedisServer> {
  const started = await startRedis(options)
  if ('skip' in started) missingPrerequisite(started.skip, 'apt-get install redis-server redis-tools')
  return started
}
