/**
 * Replicated Redis for the tests, as a fleet is given it in production: a Sentinel set (a primary, a
 * replica, three sentinels) and a Cluster (three masters, three replicas), each on free loopback
 * ports in a temporary directory of its own, with an ACL user limited to tokenctl's commands and keys
 * (the README's ACL line) and an administrator for the tests. Every process is stopped by the test
 * that started it (`dispose()`), and killed if the test process exits first.
 *
 * Failovers are real: `failover()` kills the primary (SIGKILL: no goodbye to anyone) and waits
 * until Sentinel, or the Cluster, has promoted its replica and the promoted node takes writes;
 * `restore()` starts the killed node again, which comes back as a replica. The timeouts that decide a
 * failover are shortened (Sentinel's down-after-milliseconds, cluster-node-timeout) so that a test
 * waits seconds, not the production half-minute.
 */
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {promisify} from 'node:util'

import type {Redis} from 'ioredis'

import {findExecutable} from './keyring.js'
import {missingPrerequisite} from './prerequisites.js'
import {aclUserArgs, answersPing, freePort} from './redis.js'

const execFileAsync = promisify(execFile)
const START_TIMEOUT_MS = 15_000
const SETTLE_TIMEOUT_MS = 60_000
export const SENTINEL_MASTER_NAME = 'tokenctl-fleet'
/** Sentinel: a primary silent this long is down (production default: 30 s). */
const DOWN_AFTER_MS = 1500
/** Cluster: a master silent this long is failed over (production default: 15 s). */
const CLUSTER_NODE_TIMEOUT_MS = 1500

/** Every process started and not yet disposed of, and their directories: killed and removed if the test process exits first. */
const live = new Set<ChildProcess>()
const directories = new Set<string>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
  for (const directory of directories) rmSync(directory, {force: true, recursive: true})
})

function temporaryDirectory(prefix: string): string {
  const directory = mkdtempSync(path.join(tmpdir(), prefix))
  directories.add(directory)
  return directory
}

function removeDirectory(directory: string): void {
  rmSync(directory, {force: true, recursive: true})
  directories.delete(directory)
}

const kept = new Map<string, Promise<RedisTopology>>()

/**
 * A topology for one describe: started in its `before`, stopped in its `after` (stop()). Under
 * mutation testing, where Stryker runs the same suites again in one process for every mutant, the
 * first one started is kept for the next runs (restored and flushed by the tests between them), and
 * stopped when the process exits.
 */
export async function topologyFor<T extends RedisTopology>(name: string, start: () => Promise<T>): Promise<T> {
  if ((globalThis as {__stryker__?: unknown}).__stryker__ === undefined) return start()
  if (!kept.has(name)) kept.set(name, start())
  return (await kept.get(name)) as T
}

/** Stops a topology of topologyFor (not one kept for the next mutation-testing run). */
export async function stopTopology(topology: RedisTopology | undefined): Promise<void> {
  if (!topology) return
  for (const started of kept.values()) if ((await started.catch(() => undefined)) === topology) return
  await topology.dispose()
}

/** One redis-server or redis-sentinel process on a loopback port, which a test may stop, kill, pause and start again. */
export class RedisProcess {
  readonly #args: string[]
  readonly #binary: string
  #child: ChildProcess | undefined
  readonly #cliAuth: string[]
  readonly #pingAuth: string[]
  #paused = false
  #raw: Promise<Redis> | undefined

  constructor(
    readonly name: string,
    readonly port: number,
    readonly directory: string,
    binary: string,
    args: string[],
    auth: {cli: string[]; ping: string[]},
  ) {
    this.#binary = binary
    this.#args = args
    this.#cliAuth = auth.cli
    this.#pingAuth = auth.ping
  }

  get address(): string {
    return `127.0.0.1:${this.port}`
  }

  get running(): boolean {
    return this.#child !== undefined
  }

  get paused(): boolean {
    return this.#paused
  }

  get log(): string {
    return path.join(this.directory, `${this.name}.log`)
  }

  async start(): Promise<void> {
    if (this.#child) return
    const child = spawn(this.#binary, this.#args, {cwd: this.directory, stdio: 'ignore'})
    this.#child = child
    live.add(child)
    child.once('exit', () => {
      live.delete(child)
      if (this.#child === child) this.#child = undefined
    })
    const deadline = Date.now() + START_TIMEOUT_MS
    while (!(await answersPing(this.port, this.#pingAuth))) {
      if (!this.#child) throw new Error(`${this.name} exited at start (see ${this.log})`)
      if (Date.now() > deadline) throw new Error(`${this.name} did not answer on port ${this.port} within ${START_TIMEOUT_MS} ms (see ${this.log})`)
      await sleep(20)
    }
  }

  /** SIGKILL: the node dies without a word to its replicas, sentinels or clients. */
  async kill(): Promise<void> {
    await this.#end('SIGKILL')
  }

  /** SIGTERM, an orderly shutdown. */
  async stop(): Promise<void> {
    await this.#end('SIGTERM')
  }

  /** SIGSTOP: the process keeps its sockets open and answers nothing, as a node that hangs. */
  pause(): void {
    if (!this.#child || this.#paused) return
    this.#child.kill('SIGSTOP')
    this.#paused = true
  }

  resume(): void {
    if (!this.#child || !this.#paused) return
    this.#child.kill('SIGCONT')
    this.#paused = false
  }

  /** `redis-cli ARGS…` against this process, as the administrator; stdout. */
  async cli(...args: string[]): Promise<string> {
    const {stdout} = await execFileAsync(findExecutable('redis-cli')!, ['-h', '127.0.0.1', '-p', String(this.port), ...this.#cliAuth, '--no-auth-warning', ...args], {
      encoding: 'latin1',
      maxBuffer: 64 * 1024 * 1024,
      timeout: 10_000,
    })
    return stdout
  }

  /** A key's value, read in this process over a connection kept open (fast enough to catch a write before its WAIT ends). */
  async getBuffer(key: string): Promise<Buffer | null> {
    this.#raw ??= import('ioredis').then(({Redis}) => {
      const [, user, , pass] = this.#cliAuth
      const client = new Redis({host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 0, password: pass, port: this.port, retryStrategy: () => null, username: user})
      client.on('error', () => {})
      return client
    })
    return (await this.#raw).getBuffer(key)
  }

  /** `INFO section` as a map of its fields. */
  async info(section: string): Promise<Record<string, string>> {
    const fields: Record<string, string> = {}
    for (const line of (await this.cli('INFO', section)).split(/\r?\n/)) {
      const colon = line.indexOf(':')
      if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1)
    }

    return fields
  }

  async dispose(): Promise<void> {
    this.resume()
    await this.kill()
  }

  async #end(signal: NodeJS.Signals): Promise<void> {
    const raw = this.#raw
    this.#raw = undefined
    raw?.then(
      (client) => client.disconnect(),
      () => {},
    )
    const child = this.#child
    if (!child) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    if (this.#paused) child.kill('SIGCONT')
    this.#paused = false
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
}

/** What every topology gives a test: how tokenctl reaches it, and what the test may do to it. */
export interface RedisTopology {
  /** TOKENCTL_STORE=redis, TOKENCTL_REDIS_URL (no password in it), TOKENCTL_REDIS_PASSWORD. */
  env: Record<string, string>
  /** The ACL user's password: never to be seen in any output. */
  password: string
  /** TOKENCTL_REDIS_URL with the password in it. */
  url: string
  /** The primary (or, for a Cluster, the master) that holds `key` now. */
  primaryFor(key: string): Promise<RedisProcess>
  /** The replica of that primary. */
  replicaOf(primary: RedisProcess): Promise<RedisProcess>
  /**
   * Kills `primary` at once (SIGKILL) and waits until its replica has taken over and takes writes;
   * `afterKill` runs the moment the primary is dead (to let a paused replica go on, say).
   */
  failover(primary: RedisProcess, afterKill?: () => void): Promise<{killed: RedisProcess; promoted: RedisProcess}>
  /** Starts every killed node again and waits until each is a replica in sync: the topology as it began. */
  restore(): Promise<void>
  /** Empties every primary (FLUSHALL) and waits until the replicas have caught up. */
  flush(): Promise<void>
  dispose(): Promise<void>
}

interface Credentials {
  adminPassword: string
  password: string
}

function credentials(): Credentials {
  return {adminPassword: randomBytes(12).toString('hex'), password: randomBytes(12).toString('hex')}
}

/** ACL arguments of a data node: no default user, an administrator, and tokenctl's user (plus what a Cluster client needs). */
function aclArgs({adminPassword, password}: Credentials, cluster: boolean): string[] {
  return [
    ...aclUserArgs({adminPassword, password}, 'tokenctl*', cluster ? ['+cluster|slots', '+asking'] : []),
    // A replica (or a demoted primary) authenticates to its primary as the administrator.
    '--masteruser',
    'admin',
    '--masterauth',
    adminPassword,
  ]
}

function adminAuth({adminPassword}: Credentials): {cli: string[]; ping: string[]} {
  return {cli: ['--user', 'admin', '--pass', adminPassword], ping: ['admin', adminPassword]}
}

function requireBinaries(...names: string[]): Record<string, string> {
  const found: Record<string, string> = {}
  for (const name of names) {
    const binary = findExecutable(name)
    if (!binary) missingPrerequisite(`${name} is not installed`, 'apt-get install redis-server redis-sentinel redis-tools')
    found[name] = binary
  }

  return found
}

function dataNodeArgs(port: number, directory: string, name: string, extra: string[]): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    directory,
    '--save',
    '',
    '--appendonly',
    'no',
    '--logfile',
    path.join(directory, `${name}.log`),
    '--daemonize',
    'no',
    '--repl-diskless-sync',
    'yes',
    '--repl-diskless-sync-delay',
    '0',
    ...extra,
  ]
}

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = SETTLE_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }

    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${lastError ? ` (${(lastError as Error).message})` : ''}`)
    await sleep(100)
  }
}

/** A replica whose link to its primary is up and whose offset has reached the primary's. */
async function inSync(primary: RedisProcess, replica: RedisProcess): Promise<boolean> {
  const replication = await replica.info('replication')
  if (replication.role !== 'slave' || replication.master_link_status !== 'up' || replication.master_port !== String(primary.port)) return false
  const offset = Number((await primary.info('replication')).master_repl_offset)
  return Number((await replica.info('replication')).slave_repl_offset) >= offset
}

export interface SentinelSet extends RedisTopology {
  /** The sentinels' own processes. */
  sentinels: RedisProcess[]
  /** The data nodes (a primary and a replica at first; which is which changes with each failover). */
  nodes: RedisProcess[]
  /** The primary the sentinels name now. */
  primary(): Promise<RedisProcess>
}

export interface SentinelSetOptions {
  /** The sentinels want tokenctl's user and password too (ACL users of their own); by default they take none. */
  sentinelAuth?: boolean
}

/**
 * A primary, its replica and three sentinels watching them (quorum 2), with
 * down-after-milliseconds and failover-timeout shortened for tests.
 */
export async function requireSentinelSet(options: SentinelSetOptions = {}): Promise<SentinelSet> {
  const binaries = requireBinaries('redis-server', 'redis-sentinel', 'redis-cli')
  const directory = temporaryDirectory('tokenctl-sentinel-')
  const secrets = credentials()
  const auth = adminAuth(secrets)
  const nodes: RedisProcess[] = []
  const sentinels: RedisProcess[] = []
  const disposeAll = async () => {
    for (const node of [...sentinels, ...nodes]) await node.dispose()
    removeDirectory(directory)
  }

  try {
    const primaryPort = await freePort()
    for (const [index, port] of [primaryPort, await freePort()].entries()) {
      const name = `node-${port}`
      const replicaOf = index === 0 ? [] : ['--replicaof', '127.0.0.1', String(primaryPort)]
      nodes.push(new RedisProcess(name, port, directory, binaries['redis-server'], dataNodeArgs(port, directory, name, [...aclArgs(secrets, false), ...replicaOf]), auth))
    }

    for (const node of nodes) await node.start()
    await waitUntil('the replica in sync', async () => ((await inSync(nodes[0], nodes[1])) ? true : undefined))

    for (let index = 0; index < 3; index++) {
      const port = await freePort()
      const name = `sentinel-${port}`
      const config = path.join(directory, `${name}.conf`)
      writeFileSync(
        config,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'daemonize no',
          `dir ${directory}`,
          `logfile ${path.join(directory, `${name}.log`)}`,
          `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 5000`,
          `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
          `sentinel auth-user ${SENTINEL_MASTER_NAME} admin`,
          `sentinel auth-pass ${SENTINEL_MASTER_NAME} ${secrets.adminPassword}`,
          ...(options.sentinelAuth
            ? [
                'user default off',
                `user admin on >${secrets.adminPassword} allchannels +@all`,
                `user tokenctl on >${secrets.password} allchannels +@all`,
                'sentinel sentinel-user admin',
                `sentinel sentinel-pass ${secrets.adminPassword}`,
              ]
            : []),
          '',
        ].join('\n'),
      )
      // By default sentinels take no password: tokenctl's password is for the data nodes.
      sentinels.push(new RedisProcess(name, port, directory, binaries['redis-sentinel'], [config], options.sentinelAuth ? auth : {cli: [], ping: []}))
    }

    for (const sentinel of sentinels) await sentinel.start()
  } catch (error) {
    await disposeAll()
    throw error
  }

  const byPort = (port: number) => nodes.find((node) => node.port === port)
  const killed: RedisProcess[] = []

  /** The primary every running sentinel names, once they agree and it says it is one. */
  async function agreedPrimary(): Promise<RedisProcess | undefined> {
    const named = new Set<string>()
    for (const sentinel of sentinels.filter((s) => s.running)) named.add((await sentinel.cli('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME)).split('\n')[1])
    if (named.size !== 1) return undefined
    const node = byPort(Number([...named][0]))
    if (!node?.running || node.paused) return undefined
    return (await node.info('replication')).role === 'master' ? node : undefined
  }

  const primary = () => waitUntil('the sentinels agreeing on a primary', agreedPrimary)
  const replicaOf = async (of: RedisProcess) => {
    const replica = nodes.find((node) => node !== of && node.running)
    if (!replica) throw new Error('no replica is running')
    return replica
  }

  const url = `redis+sentinel://tokenctl@${sentinels.map((s) => s.address).join(',')}/${SENTINEL_MASTER_NAME}`
  return {
    dispose: disposeAll,
    env: {TOKENCTL_REDIS_PASSWORD: secrets.password, TOKENCTL_REDIS_URL: url, TOKENCTL_STORE: 'redis'},
    async failover(old: RedisProcess, afterKill?: () => void) {
      await old.kill()
      afterKill?.()
      killed.push(old)
      const promoted = await waitUntil('Sentinel promoting the replica', async () => {
        const now = await agreedPrimary()
        return now && now !== old ? now : undefined
      })
      return {killed: old, promoted}
    },
    async flush() {
      const at = await primary()
      await at.cli('FLUSHALL')
      await waitUntil('the replica in sync', async () => ((await inSync(at, await replicaOf(at))) ? true : undefined))
    },
    nodes,
    password: secrets.password,
    primary,
    primaryFor: primary,
    replicaOf,
    async restore() {
      const at = await primary()
      for (const node of killed.splice(0)) {
        await node.start()
        // Sentinel would make it a replica of the promoted primary too, after a while.
        await node.cli('REPLICAOF', '127.0.0.1', String(at.port))
      }

      for (const node of nodes) node.resume()
      await waitUntil('every node back in sync', async () => {
        const at = await agreedPrimary()
        if (!at) return undefined
        for (const node of nodes) if (node !== at && !(await inSync(at, node))) return undefined
        return true
      })
    },
    sentinels,
    url: url.replace('tokenctl@', `tokenctl:${secrets.password}@`),
  }
}

export interface RedisClusterSet extends RedisTopology {
  nodes: RedisProcess[]
  /** The masters now, in no particular order. */
  masters(): Promise<RedisProcess[]>
}

interface ClusterNodeLine {
  address: string
  failed: boolean
  id: string
  master: boolean
  masterId: string
  slots: Array<[number, number]>
}

function clusterNodes(text: string): ClusterNodeLine[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.split(' ')
      return {
        address: address.split('@')[0],
        failed: /fail(?!\?)/.test(flags) || flags.includes('noaddr'),
        id,
        master: flags.includes('master'),
        masterId,
        slots: slots
          .filter((range) => !range.startsWith('['))
          .map((range) => {
            const [from, to = from] = range.split('-')
            return [Number(from), Number(to)] as [number, number]
          }),
      }
    })
}

/**
 * Three masters and three replicas (`redis-cli --cluster create … --cluster-replicas 1`), with
 * cluster-node-timeout shortened for tests.
 */
export async function requireRedisCluster(): Promise<RedisClusterSet> {
  const binaries = requireBinaries('redis-server', 'redis-cli')
  const directory = temporaryDirectory('tokenctl-cluster-')
  const secrets = credentials()
  const auth = adminAuth(secrets)
  const nodes: RedisProcess[] = []
  const disposeAll = async () => {
    for (const node of nodes) await node.dispose()
    removeDirectory(directory)
  }

  try {
    for (let index = 0; index < 6; index++) {
      const port = await freePort()
      const name = `node-${port}`
      const clusterArgs = [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        path.join(directory, `${name}.nodes.conf`),
        '--cluster-node-timeout',
        String(CLUSTER_NODE_TIMEOUT_MS),
        // A replica takes over however long it was cut off: the test kills a master, not the network.
        '--cluster-replica-validity-factor',
        '0',
      ]
      nodes.push(new RedisProcess(name, port, directory, binaries['redis-server'], dataNodeArgs(port, directory, name, [...aclArgs(secrets, true), ...clusterArgs]), auth))
    }

    for (const node of nodes) await node.start()
    await execFileAsync(
      binaries['redis-cli'],
      ['--user', 'admin', '--pass', secrets.adminPassword, '--no-auth-warning', '--cluster', 'create', ...nodes.map((node) => node.address), '--cluster-replicas', '1', '--cluster-yes'],
      {timeout: 60_000},
    )
  } catch (error) {
    await disposeAll()
    throw error
  }

  const killed: RedisProcess[] = []
  const byAddress = (address: string) => nodes.find((node) => node.address === address)
  const view = async (): Promise<ClusterNodeLine[]> => {
    const from = nodes.find((node) => node.running && !node.paused)
    if (!from) throw new Error('no cluster node is running')
    return clusterNodes(await from.cli('CLUSTER', 'NODES'))
  }

  /** Every running node reports cluster_state:ok and the same three masters with all slots. */
  async function healthy(): Promise<ClusterNodeLine[] | undefined> {
    const lines = await view()
    const masters = lines.filter((line) => line.master && !line.failed && line.slots.length > 0)
    const covered = masters.reduce((sum, line) => sum + line.slots.reduce((n, [from, to]) => n + to - from + 1, 0), 0)
    if (masters.length !== 3 || covered !== 16_384) return undefined
    const replicas = lines.filter((line) => !line.master && !line.failed && masters.some((master) => master.id === line.masterId))
    if (replicas.length + masters.length < nodes.filter((node) => node.running).length) return undefined
    for (const node of nodes.filter((n) => n.running && !n.paused)) {
      if (!/cluster_state:ok/.test(await node.cli('CLUSTER', 'INFO'))) return undefined
      // What clients see: CLUSTER SLOTS lists a replica only once it has synchronised.
      const slots = JSON.parse(await node.cli('--json', 'CLUSTER', 'SLOTS')) as unknown[][]
      const listed = slots.reduce((sum, range) => sum + range.length - 3, 0)
      if (listed < replicas.length) return undefined
    }

    return lines
  }

  await waitUntil('the cluster ready', healthy).catch(async (error) => {
    await disposeAll()
    throw error
  })

  const masters = async () => (await waitUntil('a healthy cluster', healthy)).filter((line) => line.master && !line.failed && line.slots.length > 0).map((line) => byAddress(line.address)!)
  async function primaryFor(key: string): Promise<RedisProcess> {
    const slot = Number(await nodes.find((node) => node.running && !node.paused)!.cli('CLUSTER', 'KEYSLOT', key))
    const lines = await waitUntil('a healthy cluster', healthy)
    const owner = lines.find((line) => line.master && !line.failed && line.slots.some(([from, to]) => slot >= from && slot <= to))
    return byAddress(owner!.address)!
  }

  async function replicaOf(primary: RedisProcess): Promise<RedisProcess> {
    const lines = await view()
    const id = lines.find((line) => line.address === primary.address)!.id
    const replica = lines.find((line) => line.masterId === id && !line.failed)
    if (!replica) throw new Error(`${primary.address} has no replica`)
    return byAddress(replica.address)!
  }

  return {
    dispose: disposeAll,
    env: {
      TOKENCTL_REDIS_PASSWORD: secrets.password,
      TOKENCTL_REDIS_URL: `redis+cluster://tokenctl@${nodes
        .slice(0, 3)
        .map((node) => node.address)
        .join(',')}`,
      TOKENCTL_STORE: 'redis',
    },
    async failover(old: RedisProcess, afterKill?: () => void) {
      await old.kill()
      afterKill?.()
      killed.push(old)
      const replica = await replicaOf(old)
      await waitUntil('the replica taking over', async () => ((await replica.info('replication')).role === 'master' && (await healthy()) ? true : undefined))
      return {killed: old, promoted: replica}
    },
    async flush() {
      for (const master of await masters()) await master.cli('FLUSHALL')
      await waitUntil('the replicas in sync', async () => {
        for (const master of await masters()) if (!(await inSync(master, await replicaOf(master)))) return undefined
        return true
      })
    },
    masters,
    nodes,
    password: secrets.password,
    primaryFor,
    replicaOf,
    async restore() {
      for (const node of killed.splice(0)) await node.start()
      for (const node of nodes) node.resume()
      await waitUntil('every node back, each master with a replica in sync', async () => {
        const lines = await healthy()
        if (!lines) return undefined
        for (const line of lines) if (line.failed) return undefined
        for (const master of await masters()) if (!(await inSync(master, await replicaOf(master)))) return undefined
        return true
      })
    },
    url: `redis+cluster://tokenctl:${secrets.password}@${nodes
      .slice(0, 3)
      .map((node) => node.address)
      .join(',')}`,
  }
}
