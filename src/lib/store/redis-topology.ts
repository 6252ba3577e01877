import {readFileSync} from 'node:fs'

import type {ChainableCommander, Cluster, Redis, RedisOptions} from 'ioredis'

import {ConfigError, messageOf} from '../errors.js'
import type {RedisSettings} from './redis-url.js'

/**
 * One connection to the fleet's Redis, whatever its topology, through ioredis, which finds the
 * master through the sentinels (`Redis({sentinels, name})`) or the slots of a Cluster (`Cluster`):
 * tokenctl routes nothing itself. What the store needs beyond plain commands is here:
 *
 * - exec(key, …): commands on the node that holds `key`, in one pipeline, followed on the same
 *   connection by `WAIT 1 ms` when the write must reach a replica and the primary has one (WAIT
 *   counts the writes of its own connection, so it must ride with them);
 * - masters(): the nodes to SCAN (one, or every master of a Cluster);
 * - describe(): what was reached, for `store status`.
 *
 * A connection is one life of its sockets: nothing reconnects by itself (no retry strategy, no
 * offline queue), so a failure is reported at once and the store decides whether to open a new one
 * (it does through a failover, see redis-store.ts). The sockets hold the process open only while an
 * operation is pending (hold()).
 */

type Client = Cluster | Redis

export interface ExecResult {
  /** Whether a replica acknowledged the writes (WAIT), or undefined when none was asked: no wait wanted, or no replica. */
  acknowledged?: boolean
  /** The replies of the commands `build` queued, in order. */
  results: unknown[]
}

/** The node reached is a replica (Sentinel named a master that has since been demoted): a failover in progress. */
export class NotPrimaryError extends Error {
  constructor(address: string) {
    super(`READONLY ${address} is a replica now, not the primary`)
  }
}

const hostPort = (host: string, port: number | string): string => `${host.includes(':') ? `[${host}]` : host}:${port}`
const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`

function readPem(variable: string, file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError(`cannot read ${variable} ${file}: ${messageOf(error)}`, 'config_error', {suggestions: [`point ${variable} at a readable PEM file`]})
  }
}

/** TLS options for every connection (servers, sentinels, Cluster nodes): the private CA beside the system's, the client certificate. */
async function tlsOptions(settings: RedisSettings): Promise<RedisOptions['tls']> {
  if (!settings.tls) return undefined
  const tls: NonNullable<RedisOptions['tls']> = {}
  if (settings.caFile) {
    // An explicit `ca` replaces Node's default roots and NODE_EXTRA_CA_CERTS: keep them, as --ca-file does.
    const {rootCertificates} = await import('node:tls')
    const extra = process.env.NODE_EXTRA_CA_CERTS
    tls.ca = [...rootCertificates, ...(extra ? [readPem('NODE_EXTRA_CA_CERTS', extra)] : []), readPem('TOKENCTL_REDIS_CA_FILE', settings.caFile)]
  }

  if (settings.certFile && settings.keyFile) {
    tls.cert = readPem('TOKENCTL_REDIS_CERT_FILE', settings.certFile)
    tls.key = readPem('TOKENCTL_REDIS_KEY_FILE', settings.keyFile)
  }

  return tls
}

export class RedisConnection {
  #busy = 0
  readonly #client: Client
  readonly #settings: RedisSettings
  readonly #slotOf: (key: string) => number
  /** Replicas of each primary reached, asked once per node connection. */
  readonly #replicas = new Map<Redis, Promise<number>>()

  private constructor(client: Client, settings: RedisSettings, slotOf: (key: string) => number) {
    this.#client = client
    this.#settings = settings
    this.#slotOf = slotOf
  }

  /** Connects, bounded by the timeout as a whole; `onError` hears every socket error (the reason a later command fails). */
  static async open(settings: RedisSettings, onError: (error: Error) => void, sentinelAuth = false): Promise<RedisConnection> {
    const ioredis = await import('ioredis')
    const tls = await tlsOptions(settings)
    const common: RedisOptions = {
      autoResubscribe: false,
      commandTimeout: settings.timeoutMs,
      connectTimeout: settings.timeoutMs,
      disableClientInfo: true,
      // After a failure ioredis waits this long (default 2 s) before destroying a socket that may
      // already be closed; that timer alone would keep a failed CLI process alive.
      disconnectTimeout: 50,
      enableReadyCheck: false,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      password: settings.password,
      reconnectOnError: () => false,
      tls, // certificates checked against the host
      username: settings.username,
    }
    let client: Client
    switch (settings.topology) {
      case 'cluster': {
        client = new ioredis.Cluster(settings.endpoints, {
          clusterRetryStrategy: () => null,
          // Host names stay host names: a TLS certificate names the host, not its address.
          ...(tls ? {dnsLookup: (address, callback) => callback(null, address)} : {}),
          enableOfflineQueue: false,
          enableReadyCheck: false,
          lazyConnect: true,
          redisOptions: common,
          scaleReads: 'master',
          slotsRefreshInterval: 0, // no timer: the slots are read again on MOVED and on a failure
          slotsRefreshTimeout: settings.timeoutMs,
        })
        client.on('node error', onError)
        break
      }

      case 'sentinel': {
        client = new ioredis.Redis({
          ...common,
          db: settings.db,
          enableOfflineQueue: false,
          enableTLSForSentinelMode: Boolean(tls),
          failoverDetector: false,
          name: settings.masterName,
          retryStrategy: () => null,
          role: 'master',
          sentinelCommandTimeout: settings.timeoutMs,
          ...(sentinelAuth ? {sentinelPassword: settings.password, sentinelUsername: settings.username} : {}),
          sentinelRetryStrategy: () => null,
          sentinels: settings.endpoints,
          sentinelTLS: tls,
          updateSentinels: false, // only the sentinels the URL names
        })
        break
      }

      case 'server': {
        client = new ioredis.Redis({...common, db: settings.db, enableOfflineQueue: false, host: settings.endpoints[0].host, port: settings.endpoints[0].port, retryStrategy: () => null})
        break
      }
    }

    // A Cluster that reached no node says so in general words; the node's own error says why (WRONGPASS, a certificate).
    let reason: Error | undefined
    client.on('error', (error: Error & {lastNodeError?: Error}) => {
      reason = error.lastNodeError ?? error
      onError(reason)
    })
    const slotOf = (key: string) => new ioredis.Command('get', [key]).getSlot()
    const connection = new RedisConnection(client, settings, slotOf)
    // ioredis rejects connect() only once the socket closes, which it delays by 2 s after a
    // handshake timeout: bound the whole handshake here, and close the socket at once.
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('Command timed out')), settings.timeoutMs)
    })
    try {
      await Promise.race([client.connect(), timeout])
    } catch (error) {
      connection.#destroy()
      // Sentinels that want a password of their own: they are given the servers' (one try more).
      if (!sentinelAuth && settings.topology === 'sentinel' && settings.password && /All sentinels are unreachable.*NOAUTH/s.test(messageOf(error))) {
        return RedisConnection.open(settings, onError, true)
      }

      throw reason && /None of startup nodes|Failed to refresh slots cache/.test(messageOf(error)) ? reason : error
    } finally {
      clearTimeout(timer)
    }

    connection.#reference(false)
    return connection
  }

  /** The ioredis client, for commands whose key decides their node. */
  get client(): Client {
    return this.#client
  }

  /** Every node that holds keys: the one primary, or each master of a Cluster. */
  masters(): Redis[] {
    return this.#settings.topology === 'cluster' ? (this.#client as Cluster).nodes('master') : [this.#client as Redis]
  }

  /**
   * `build`'s commands, pipelined to the node that holds `key`; then, with `waitMs`, `WAIT 1 waitMs`
   * on the same connection when that node is a primary with replicas. A reply that is an error is thrown.
   */
  async exec(key: string, build: (pipeline: ChainableCommander) => void, waitMs?: number): Promise<ExecResult> {
    const replicas = waitMs === undefined ? 0 : await this.#replicasOf(this.#nodeFor(key))
    const pipeline = this.#client.pipeline()
    build(pipeline)
    const count = pipeline.length
    if (replicas > 0) pipeline.wait(1, waitMs!)
    const replies = (await pipeline.exec()) ?? []
    for (const [error] of replies) if (error) throw error
    return {
      acknowledged: replicas > 0 ? Number(replies[count][1]) >= 1 : undefined,
      results: replies.slice(0, count).map(([, value]) => value),
    }
  }

  /** What was reached: the server (and its replicas), the master Sentinel named, or the Cluster's masters and their slots. */
  async describe(): Promise<string> {
    if (this.#settings.topology === 'cluster') {
      const cluster = this.#client as Cluster
      const ranges = new Map<string, Array<[number, number]>>()
      cluster.slots.forEach((nodes, slot) => {
        if (!nodes?.length) return
        const owned = ranges.get(nodes[0]) ?? []
        const last = owned.at(-1)
        if (last && last[1] === slot - 1) last[1] = slot
        else owned.push([slot, slot])
        ranges.set(nodes[0], owned)
      })
      const described = await Promise.all(
        cluster.nodes('master').map(async (node) => {
          const address = `${node.options.host}:${node.options.port}`
          const slots = (ranges.get(address) ?? []).map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(',')
          return `${address} (slots ${slots || 'none'}, ${plural(await this.#replicasOf(node), 'replica')})`
        }),
      )
      return `Cluster of ${plural(described.length, 'master')}: ${described.sort().join(', ')}`
    }

    const replicas = plural(await this.#replicasOf(this.#client as Redis), 'replica')
    if (this.#settings.topology === 'server') return `one server, ${replicas}`
    return `Sentinel master "${this.#settings.masterName}" at ${this.#remote()}, ${replicas}`
  }

  /** Keeps the process alive until the returned function is called (an operation pending on these sockets). */
  hold(): () => void {
    if (this.#busy++ === 0) this.#reference(true)
    let released = false
    return () => {
      if (released) return
      released = true
      if (--this.#busy === 0) this.#reference(false)
    }
  }

  async close(): Promise<void> {
    await this.#client.quit().catch(() => this.#destroy())
  }

  #destroy(): void {
    for (const node of this.#nodes()) node.stream?.destroy()
    this.#client.disconnect()
  }

  #nodes(): Redis[] {
    return this.#settings.topology === 'cluster' ? (this.#client as Cluster).nodes('all') : [this.#client as Redis]
  }

  #reference(on: boolean): void {
    for (const node of this.#nodes()) {
      if (on) node.stream?.ref()
      else node.stream?.unref()
    }
  }

  #remote(node = this.#client as Redis): string {
    const {stream} = node
    return stream?.remoteAddress ? hostPort(stream.remoteAddress, stream.remotePort ?? '') : 'an address the sentinels gave'
  }

  /**
   * How many replicas are connected to a primary, as it says itself (ROLE), once per node
   * connection: a Cluster's slot map may still list a replica that died in a failover.
   */
  #replicasOf(node: Redis): Promise<number> {
    let replicas = this.#replicas.get(node)
    if (!replicas) {
      replicas = node.role().then((role) => {
        if (role[0] !== 'master') throw new NotPrimaryError(this.#remote(node))
        return (role[2] as unknown[]).length
      })
      this.#replicas.set(node, replicas)
      replicas.catch(() => this.#replicas.delete(node))
    }

    return replicas
  }

  /** The node connection commands on `key` go to: the one client, or the Cluster node that serves the key's slot. */
  #nodeFor(key: string): Redis {
    if (this.#settings.topology !== 'cluster') return this.#client as Redis
    const cluster = this.#client as Cluster
    const address = cluster.slots[this.#slotOf(key)]?.[0]
    const node = cluster.nodes('master').find(({options}) => `${options.host}:${options.port}` === address)
    if (!node) throw new Error(`CLUSTERDOWN no master serves the slot of ${key} now`)
    return node
  }
}
