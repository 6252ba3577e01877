import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import type {ChainableCommander} from 'ioredis'

import {ConfigError, messageOf, StoreError} from '../errors.js'
import {tokenctlHome} from '../paths.js'
import {type Derive, type KdfParams, kdfParamsProblem, memoisedDerive, openEnvelope, type OpenResult, parseEnvelope, sealEnvelope, secretKind, type StoreSecret} from './envelope.js'
import {sealedOtherwise, type SecretOption, secretOf, wrongSecret} from './store-secret.js'
import {RedisConnection} from './redis-topology.js'
import type {RedisSettings} from './redis-url.js'
import type {EntryOptions, LockHolder, LockOptions, SecretStore} from './types.js'

export {DEFAULT_LOCK_LEASE_SECONDS, DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_TIMEOUT_SECONDS, redisSettings, type RedisSettings} from './redis-url.js'

/**
 * The Redis backend: one store shared by a fleet of hosts (cron jobs on several machines, CI
 * runners sharing a client's token budget), on one server, a Sentinel set or a Cluster
 * (redis-topology.ts). Redis is not trusted with secrets: every value is an envelope of
 * envelope.ts (AES-256-GCM, the key derived from the store's passphrase or key exactly as the file
 * store derives it), and no key name shows an entry's name.
 *
 * Layout under the prefix P (default "tokenctl:"), H = sha256(name). The keys of one entry share
 * the hash tag {H}, so they live in one slot of a Cluster and every script touches one slot only:
 *
 *   P{H}e:<kind>   the entry: an envelope of {"n": name, "v": value}. The name inside the
 *                  authenticated plaintext binds the value to its key: an envelope copied to
 *                  another key does not open as that entry. <kind> is the name up to its first
 *                  ':' ("session", "token"…): list() SCANs for it on every master. An
 *                  entry written with a lifetime (a cached token) has it as its TTL: Redis
 *                  removes it itself.
 *   P{H}l          the lock: SET PX <lease>, value "<nonce> <pid> <host> <time>".
 *   P{H}f          the fence: the value of the lock of whoever took it last (PX ten leases).
 *   P keycheck     an envelope of a constant: proves a writer's secret is the store's
 *                  before it writes or deletes anything, and fixes the store's salt.
 *
 * Salt: entries are sealed under the keycheck's salt (a fresh nonce each), so that a process
 * derives one key per store, as the file store derives one per file, instead of one scrypt (about
 * 24 ms) per entry read and per write. Each envelope still records its salt and parameters, so an
 * entry sealed under another salt still opens (one more derivation). The salt (not a secret) is
 * remembered under TOKENCTL_HOME/cache/redis: the next process starts a passphrase's derivation on
 * the thread pool at once, while the main thread loads the Redis client, instead of after the read
 * (a key's costs nothing: it needs no head start).
 *
 * Locks: taken by a script that sets the lock and the fence together, renewed every lease/3 while
 * held, released by a compare-and-delete script; a killed holder's lock is taken over when its
 * lease runs out. A write or delete of an entry whose lock this process holds is fenced: done by a
 * script only while the fence is still ours, i.e. while no one has taken the lock since. A holder
 * whose lease ran out during a failover, and whom no one followed, still writes what it fetched;
 * one that was followed writes nothing over its successor's work.
 *
 * Durability: replication is asynchronous, so a write a later run depends on (anything but the
 * token cache, and the lock of such an entry) is followed by `WAIT 1` on its connection, bounded;
 * when no replica acknowledges in time the operation still succeeds, and the store warns (once
 * per process) that a failover now could lose it. Through a Sentinel or Cluster failover an
 * operation is tried again on a new connection (the master found anew) until TOKENCTL_REDIS_TIMEOUT,
 * and a fenced write until the lock lease: the refresh token it holds exists nowhere else.
 *
 * Every command is bounded (connect and command timeouts, no reconnect loop, no offline queue),
 * and the connection never keeps the process alive once nothing is pending.
 */

const DEFAULT_WAIT_MS = 180_000
const MIN_POLL_MS = 5
const MAX_POLL_MS = 50
/** How long a write waits for a replica's acknowledgement (WAIT) before the store warns. */
const REPLICA_WAIT_MS = 1000
/** The fence outlives the lock: a holder cut off for a failover longer than its lease may still write, if no one followed. */
const FENCE_LEASES = 10
const CHECK_PLAINTEXT = 'tokenctl redis store: passphrase check v1'
/** Failures that a failover causes and a new connection (to the master found anew) gets past. */
const FAILOVER_FAILURE =
  /Connection is closed|Command aborted due to connection close|Stream isn't writeable|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|Command timed out|All sentinels are unreachable|^READONLY|^MASTERDOWN|^LOADING|^CLUSTERDOWN|^TRYAGAIN|^MOVED|^ASK|Too many Cluster redirections|None of startup nodes|Failed to refresh slots cache|Cluster isn't ready|Cluster is (ended|disconnect)|No master node is available|Node is disconnected/

/** What a refused password, ACL or certificate looks like: no failover gets past it. */
const REFUSAL = /WRONGPASS|NOAUTH|NOPERM|can't run this command|certificate|self[ -]signed|unable to verify|unable to get (local )?issuer/i

function isFailover(message: string): boolean {
  return FAILOVER_FAILURE.test(message) && !REFUSAL.test(message)
}

// Each script touches only the keys it declares, all of one entry (one hash slot). A missing key is `false` in Lua, never equal to a token.
/** KEYS entry, fence; ARGV envelope, lock token ('' = unfenced), TTL in ms ('' = none). 0 = someone took the lock since. */
const PUT_SCRIPT = `if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) end
return 1`
/** KEYS entry, fence; ARGV lock token ('' = unfenced). -1 = someone took the lock since, else how many were deleted. */
const DELETE_SCRIPT = `if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
return redis.call('DEL', KEYS[1])`
/** KEYS lock, fence; ARGV token, lease, fence lease. Ours already (a retry after a failover) counts as taken. */
const ACQUIRE_SCRIPT = `local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 1`
/** Compare-and-delete: only the owner releases. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`
/** KEYS lock, fence; ARGV token, lease, fence lease. Compare-and-pexpire: only the owner renews. */
const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1`

const sha256hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex')

/** The kind of an entry: its name up to the first ':' when that looks like one of tokenctl's kinds. */
export function entryKind(name: string): string {
  const colon = name.indexOf(':')
  const kind = colon < 0 ? '' : name.slice(0, colon)
  return /^[a-z][a-z0-9-]{0,31}$/.test(kind) ? kind : '-'
}

function holderOf(value: null | string): LockHolder | undefined {
  if (!value) return undefined
  const [, pid, host, acquiredAt] = value.split(' ')
  return {acquiredAt, host, pid: Number(pid) || undefined}
}

/** Whether a later run depends on the entry: anything but the token cache, which a miss only refetches. */
export function isDurable(name: string): boolean {
  return entryKind(name) !== 'token'
}

/** A Redis glob that matches `text` literally. */
const globLiteral = (text: string): string => text.replaceAll(/[*?[\]\\]/g, String.raw`\$&`)
const regexLiteral = (text: string): string => text.replaceAll(/[$()*+.?[\\\]^{|}]/g, String.raw`\$&`)

interface Sealing {
  params: KdfParams
  salt: Buffer
}

interface EntryKeys {
  entry: string
  fence: string
  lock: string
}

export type RedisStoreOptions = SecretOption & {
  settings: RedisSettings
  /** Hears what the user should know and the operation does not fail for (a write no replica acknowledged). */
  warn?: (message: string) => void
}

export class RedisStore implements SecretStore {
  readonly backend = 'redis' as const
  readonly settings: RedisSettings
  #connection: Promise<RedisConnection> | undefined
  readonly #derive: Derive
  /** Lock tokens of the locks this process holds, by entry name: writes of those entries are fenced. */
  readonly #held = new Map<string, string>()
  /** The store salt remembered under TOKENCTL_HOME (hex), if any. */
  #hintedSalt: string | undefined
  #lastError: Error | undefined
  readonly #secret: StoreSecret
  /** What check() reached: the topology's nodes, for `store status`. */
  #reached: string | undefined
  #sealing: Promise<Sealing> | undefined
  readonly #warn: (message: string) => void
  #warned = false

  constructor(options: RedisStoreOptions) {
    this.settings = options.settings
    this.#secret = secretOf(options)
    this.#derive = memoisedDerive(this.#secret)
    this.#warn = options.warn ?? (() => {})
    this.#startFromHint()
  }

  /** The URL (never its password), what check() reached, and the key prefix. */
  get location(): string {
    const reached = this.#reached ? ` (${this.#reached})` : ''
    return `Redis at ${this.settings.display}${reached}, keys under "${this.settings.prefix}"`
  }

  /** Answers (every master of a Cluster), and the secret opens what is there (nothing is written). */
  async check(): Promise<void> {
    await this.#run('answer a PING', async (connection) => {
      await Promise.all(connection.masters().map((node) => node.ping()))
      this.#reached = await connection.describe()
    })
    const check = await this.#run('read the passphrase check', (connection) => connection.client.getBuffer(this.#key('keycheck')))
    if (check) await this.#verifyCheck(check)
  }

  /** Closes the connection (tests and long-lived callers; a CLI process simply exits). */
  async close(): Promise<void> {
    const connection = this.#connection
    this.#connection = undefined
    if (!connection) return
    const opened = await connection.catch(() => undefined)
    await opened?.close()
  }

  async delete(name: string): Promise<boolean> {
    await this.#storeSealing() // a wrong secret deletes nothing
    const {entry, fence} = this.#keysOf(name)
    const token = this.#held.get(name) ?? ''
    const deleted = await this.#write(name, `delete "${name}"`, entry, (pipeline) => pipeline.eval(DELETE_SCRIPT, 2, entry, fence, token))
    if (deleted === -1) throw this.#lockLost(name)
    return deleted === 1
  }

  async get(name: string): Promise<string | undefined> {
    const data = await this.#run(`read "${name}"`, (connection) => connection.client.getBuffer(this.#keysOf(name).entry))
    if (!data) return undefined
    const entry = await this.#open(data, name)
    if (entry.n !== name) throw this.#corrupt(name, 'it holds another entry (moved or altered)')
    return entry.v
  }

  async list(prefix: string): Promise<string[]> {
    const kind = prefix.includes(':') ? entryKind(prefix) : undefined
    const keys = await this.#run('list the entries', (connection) => this.#scan(connection, kind === undefined ? '*' : globLiteral(kind)))
    const kindOf = new RegExp(`^${regexLiteral(this.settings.prefix)}\\{[\\da-f]{64}\\}e:(.+)$`)
    const wanted = keys.filter((key) => {
      const found = kindOf.exec(key)?.[1]
      return found !== undefined && (kind === undefined ? found.startsWith(prefix) || found === '-' : found === kind)
    })
    const values = await this.#run('read entries', (connection) => Promise.all(wanted.map((key) => connection.client.getBuffer(key))))
    const names: string[] = []
    for (const data of values) {
      if (!data) continue // deleted between the SCAN and the read
      const {n: name} = await this.#open(data)
      if (name.startsWith(prefix)) names.push(name)
    }

    return names.sort()
  }

  async set(name: string, value: string, options: EntryOptions = {}): Promise<void> {
    const {params, salt} = await this.#storeSealing()
    const plaintext = Buffer.from(JSON.stringify({n: name, v: value}), 'utf8')
    const sealed = await sealEnvelope(plaintext, this.#secret, params, {derive: this.#derive, salt})
    const {entry, fence} = this.#keysOf(name)
    const token = this.#held.get(name) ?? ''
    // Relative to this host's clock, which the lifetime came from, not to the server's; counted again on a retry through a failover.
    const ttl = (): string => (options.expiresAt === undefined ? '' : String(Math.max(1, Math.ceil(options.expiresAt - Date.now()))))
    const written = await this.#write(name, `write "${name}"`, entry, (pipeline) => pipeline.eval(PUT_SCRIPT, 2, entry, fence, sealed, token, ttl()))
    if (written !== 1) throw this.#lockLost(name)
  }

  async withLock<T>(name: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
    await this.#storeSealing() // a wrong passphrase takes no lock either: it leaves Redis as it was
    const {leaseMs} = this.settings
    const {fence, lock} = this.#keysOf(name)
    const fenceMs = leaseMs * FENCE_LEASES
    const token = `${randomBytes(16).toString('hex')} ${process.pid} ${hostname()} ${new Date().toISOString()}`
    const waitMs = options.waitMs ?? DEFAULT_WAIT_MS
    const deadline = Date.now() + waitMs
    let pollMs = MIN_POLL_MS
    let waiting = false
    for (;;) {
      const taken = await this.#run(`take the lock on "${name}"`, async (connection) => {
        const [got] = (await connection.exec(lock, (pipeline) => pipeline.eval(ACQUIRE_SCRIPT, 2, lock, fence, token, leaseMs, fenceMs))).results
        // The lease and fence of an entry a later run depends on must survive a failover, as its writes must.
        if (got === 1 && isDurable(name)) this.#acknowledged(`the lock on "${name}"`, await connection.exec(lock, (pipeline) => pipeline.get(fence), this.#replicaWaitMs()))
        return got === 1
      })
      if (taken) break
      if (!waiting || Date.now() >= deadline) {
        const holder = holderOf(await this.#run(`read the lock on "${name}"`, (connection) => connection.client.get(lock)))
        if (waiting) {
          const who = holder?.pid ? `, held by process ${holder.pid} on ${holder.host}` : ''
          throw new StoreError(`timed out after ${Math.round(waitMs / 1000)} s waiting for the lock on "${name}" in Redis at ${this.settings.display}${who}`, 'store_lock_timeout', {
            suggestions: ['another tokenctl (on this host or another) is still working on the same entry; try again later'],
          })
        }

        waiting = true
        options.onWait?.(holder)
      }

      await sleep(Math.min(pollMs * (0.5 + Math.random() / 2), Math.max(0, deadline - Date.now())))
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS)
    }

    this.#held.set(name, token)
    const renewal = setInterval(
      () => {
        // A failed renewal is not fatal by itself: the fenced writes refuse to write once someone else took the lock.
        this.#run(`renew the lock on "${name}"`, (connection) => connection.client.eval(RENEW_SCRIPT, 2, lock, fence, token, String(leaseMs), String(fenceMs)), 0).catch(() => {})
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    )
    renewal.unref()
    try {
      return await fn()
    } finally {
      clearInterval(renewal)
      this.#held.delete(name)
      // Not released (Redis gone): the lease ends it.
      await this.#run(`release the lock on "${name}"`, (connection) => connection.client.eval(RELEASE_SCRIPT, 1, lock, token)).catch(() => {})
    }
  }

  #keysOf(name: string): EntryKeys {
    const tag = `${this.settings.prefix}{${sha256hex(name)}}`
    return {entry: `${tag}e:${entryKind(name)}`, fence: `${tag}f`, lock: `${tag}l`}
  }

  #key(...parts: string[]): string {
    return this.settings.prefix + parts.join('')
  }

  #replicaWaitMs(): number {
    return Math.min(REPLICA_WAIT_MS, Math.floor(this.settings.timeoutMs / 2))
  }

  /**
   * A write of one entry's keys, on the node that holds them; for an entry a later run depends on,
   * acknowledged by a replica (or warned about). Fenced, it is tried through a failover until the lease.
   */
  async #write(name: string, action: string, key: string, build: (pipeline: ChainableCommander) => void): Promise<unknown> {
    const durable = isDurable(name)
    const retryMs = this.#held.has(name) ? this.settings.leaseMs : this.#retryMs()
    return this.#run(
      action,
      async (connection) => {
        const result = await connection.exec(key, build, durable ? this.#replicaWaitMs() : undefined)
        this.#acknowledged(`"${name}"`, result)
        return result.results[0]
      },
      retryMs,
    )
  }

  /** Warns, once per process, that a write no replica acknowledged in time could be lost by a failover now. */
  #acknowledged(what: string, {acknowledged}: {acknowledged?: boolean}): void {
    if (acknowledged !== false || this.#warned) return
    this.#warned = true
    this.#warn(
      `no replica of Redis at ${this.settings.display} acknowledged the write of ${what} within ${this.#replicaWaitMs() / 1000} s: if the primary fails over now, the write can be lost; check its replicas (redis-cli INFO replication)`,
    )
  }

  /** How long an operation is tried again through a failover: never on one server (there is none to wait for). */
  #retryMs(): number {
    return this.settings.topology === 'server' ? 0 : this.settings.timeoutMs
  }

  /**
   * A Redis operation, mapped to StoreError. Through a failover (Sentinel, Cluster) it is tried
   * again on a new connection, the master found anew, for up to `retryMs`.
   */
  async #run<T>(action: string, operation: (connection: RedisConnection) => Promise<T>, retryMs = this.#retryMs()): Promise<T> {
    const deadline = Date.now() + retryMs
    let pauseMs = 50
    for (;;) {
      let step = 'connect'
      let connection: RedisConnection | undefined
      try {
        connection = await this.#connect()
        step = action
        const release = connection.hold()
        try {
          return await operation(connection)
        } finally {
          release()
        }
      } catch (error) {
        if (!isFailover(this.#reason(error)) || Date.now() >= deadline) throw this.#failure(error, step)
        if (connection) this.#forget(connection)
      }

      await sleep(Math.min(pauseMs, Math.max(0, deadline - Date.now())))
      pauseMs = Math.min(pauseMs * 2, 1000)
    }
  }

  async #connect(): Promise<RedisConnection> {
    const connection = (this.#connection ??= RedisConnection.open(this.settings, (error) => {
      this.#lastError = error
    }).then((opened) => {
      // Closed by the server, or gone with its socket: the next operation connects anew.
      opened.client.on('end', () => {
        if (this.#connection === connection) this.#connection = undefined
      })
      return opened
    }))
    try {
      return await connection
    } catch (error) {
      if (this.#connection === connection) this.#connection = undefined // the next operation tries again
      throw error
    }
  }

  /** Drops a connection a failover broke: the next operation opens a new one. */
  #forget(connection: RedisConnection): void {
    this.#connection = undefined
    connection.close().catch(() => {})
  }

  /** Every key under the prefix that is an entry of `kindGlob`, on every master (a Cluster's keys are spread over them). */
  async #scan(connection: RedisConnection, kindGlob: string): Promise<string[]> {
    const pattern = `${globLiteral(this.settings.prefix)}{*}e:${kindGlob}`
    const keys = new Set<string>()
    for (const node of connection.masters()) {
      let cursor = '0'
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        for (const key of found) keys.add(key)
        cursor = next
      } while (cursor !== '0')
    }

    return [...keys]
  }

  /** Why an operation failed: ioredis words every failure of a closed connection alike, the socket's own error says why. */
  #reason(error: unknown): string {
    const message = messageOf(error)
    const generic = /Connection is closed|Command aborted due to connection close|Stream isn't writeable|enableOfflineQueue|None of startup nodes|Failed to refresh slots cache/i
    return generic.test(message) && this.#lastError ? messageOf(this.#lastError) : message
  }

  #failure(error: unknown, action: string): ConfigError | StoreError {
    if (error instanceof StoreError || error instanceof ConfigError) return error
    let message = this.#reason(error)
    if (/Command timed out/i.test(message)) message = `no answer within ${this.settings.timeoutMs / 1000} s (TOKENCTL_REDIS_TIMEOUT)`
    const {password} = this.settings
    if (password && password.length >= 4) message = message.replaceAll(password, '***')
    const server = `Redis at ${this.settings.display}`
    if (/WRONGPASS|NOAUTH|invalid username-password|invalid password/i.test(message)) {
      return new StoreError(`${server} refused tokenctl's credentials: ${message}`, 'store_unavailable', {
        cause: error,
        suggestions: ['check the user and password in TOKENCTL_REDIS_URL, or TOKENCTL_REDIS_PASSWORD'],
      })
    }

    // A command the ACL refuses is NOPERM; inside a script, "can't run this command".
    if (/NOPERM|can't run this command/.test(message)) {
      const cluster = this.settings.topology === 'cluster' ? ' +cluster|slots +asking' : ''
      return new StoreError(`${server} does not allow tokenctl to ${action}: ${message}`, 'store_error', {
        cause: error,
        suggestions: [`the Redis ACL user needs ~${this.settings.prefix}* and +ping +get +set +del +pexpire +eval +scan +role +wait${cluster}`],
      })
    }

    if (/certificate required/i.test(message)) {
      return new StoreError(`${server} wants a client certificate (the TLS handshake ended with "certificate required")`, 'store_unavailable', {
        cause: error,
        suggestions: ['set TOKENCTL_REDIS_CERT_FILE and TOKENCTL_REDIS_KEY_FILE to the client certificate and its key (PEM)'],
      })
    }

    if (/certificate|self[ -]signed|unable to verify|unable to get (local )?issuer/i.test(message)) {
      const {caFile} = this.settings
      return new StoreError(`${server} presented a TLS certificate tokenctl does not trust: ${message}`, 'store_unavailable', {
        cause: error,
        suggestions: [
          caFile
            ? `TOKENCTL_REDIS_CA_FILE (${caFile}) must hold the CA that signed the Redis server's certificate, for the host name in TOKENCTL_REDIS_URL`
            : "set TOKENCTL_REDIS_CA_FILE to the CA (PEM) that signed the Redis server's certificate",
        ],
      })
    }

    if (this.settings.topology === 'server' && /^(MOVED|ASK|CLUSTERDOWN) /.test(message)) {
      return new StoreError(`${server} is a node of a Redis Cluster, which keeps this entry on another node (${action}): ${message}`, 'store_error', {
        cause: error,
        suggestions: [`name it as a Cluster: TOKENCTL_REDIS_URL=${this.settings.display.replace(/^redis(s?):/, 'redis$1+cluster:').replace(/\/\d+$/, '')}`],
      })
    }

    return new StoreError(`${server} does not answer (${action}): ${message}`, 'store_unavailable', {
      cause: error,
      suggestions: [`check that Redis runs and is reachable at ${this.settings.display} (TOKENCTL_REDIS_URL); nothing was changed, the next run tries again`],
    })
  }

  #corrupt(name: string | undefined, reason: string): StoreError {
    const what = name === undefined ? 'an entry' : `the entry "${name}"`
    return new StoreError(`${what} in Redis at ${this.settings.display} is corrupt: ${reason}`, 'store_corrupt', {
      suggestions: [name === undefined ? 'remove the damaged entry from Redis' : `remove it from Redis (key ${this.#keysOf(name).entry}); tokenctl then starts it afresh`],
    })
  }

  /** A secret that is not the store's, or not of the kind it was sealed with. */
  #notOpened(opened: Exclude<OpenResult, {failure: 'corrupt'} | {ok: true}>): StoreError {
    const where = `in Redis at ${this.settings.display}`
    if (opened.failure === 'wrong_secret') return wrongSecret(where, secretKind(this.#secret), true)
    return sealedOtherwise(where, opened.sealedWith, `delete the keys under "${this.settings.prefix}"`)
  }

  #lockLost(name: string): StoreError {
    return new StoreError(
      `another tokenctl took the lock on "${name}" in Redis at ${this.settings.display} after this one's ${this.settings.leaseMs / 1000} s lease ran out (was this process suspended, or cut off from Redis?); nothing was written`,
      'store_lock_lost',
      {suggestions: ['run it again; raise TOKENCTL_REDIS_LOCK_LEASE if the work under the lock can take longer than the lease']},
    )
  }

  async #open(data: Buffer, name?: string): Promise<{n: string; v: string}> {
    const opened = await openEnvelope(data, this.#secret, this.#derive)
    if (!opened.ok) throw opened.failure === 'corrupt' ? this.#corrupt(name, opened.reason) : this.#notOpened(opened)
    if (this.#hintedSalt === undefined) this.#rememberSalt(parseEnvelope(data))
    try {
      const entry = JSON.parse(opened.plaintext.toString('utf8')) as {n?: unknown; v?: unknown}
      if (typeof entry.n === 'string' && typeof entry.v === 'string') return {n: entry.n, v: entry.v}
    } catch {
      // not JSON: corrupt, as below
    }

    throw this.#corrupt(name, 'its contents are not an entry')
  }

  async #verifyCheck(data: Buffer): Promise<Sealing> {
    const opened = await openEnvelope(data, this.#secret, this.#derive)
    if (!opened.ok) {
      if (opened.failure !== 'corrupt') throw this.#notOpened(opened)
      throw new StoreError(`the passphrase check ${this.#key('keycheck')} in Redis at ${this.settings.display} is corrupt: ${opened.reason}`, 'store_corrupt', {
        suggestions: [`delete ${this.#key('keycheck')}: the next write makes a new one`],
      })
    }

    if (opened.plaintext.toString('utf8') !== CHECK_PLAINTEXT) throw this.#corrupt(undefined, `${this.#key('keycheck')} is not tokenctl's passphrase check`)
    const {params, salt} = parseEnvelope(data)
    this.#rememberSalt({params, salt})
    return {params, salt}
  }

  /** The store's salt and parameters, once the secret is proven to be the store's: before any write. */
  #storeSealing(): Promise<Sealing> {
    this.#sealing ??= this.#establishSealing().catch((error: unknown) => {
      this.#sealing = undefined
      throw error
    })
    return this.#sealing
  }

  async #establishSealing(): Promise<Sealing> {
    const checkKey = this.#key('keycheck')
    for (;;) {
      const existing = await this.#run('read the passphrase check', (connection) => connection.client.getBuffer(checkKey))
      if (existing) return this.#verifyCheck(existing)
      // No check yet (a new store, or it was deleted): entries already there must open with our secret.
      await this.#openAnyEntry()
      const sealed = await sealEnvelope(Buffer.from(CHECK_PLAINTEXT, 'utf8'), this.#secret, undefined, {derive: this.#derive})
      const created = await this.#run('write the passphrase check', (connection) => connection.client.set(checkKey, sealed, 'NX'))
      if (created === 'OK') {
        const {params, salt} = parseEnvelope(sealed)
        this.#rememberSalt({params, salt})
        return {params, salt}
      }
      // Another process created it meanwhile: verify theirs.
    }
  }

  #hintFile(): string {
    const digest = createHash('sha256').update(`${this.settings.display}\0${this.settings.prefix}`).digest('hex').slice(0, 32)
    return path.join(tokenctlHome(), 'cache', 'redis', `${digest}.json`)
  }

  /** Starts deriving the key of the remembered store salt (a hint: a wrong one costs one derivation). */
  #startFromHint(): void {
    if (secretKind(this.#secret) === 'key') return
    try {
      const hint = JSON.parse(readFileSync(this.#hintFile(), 'utf8')) as {N: number; p: number; r: number; salt: string}
      const salt = Buffer.from(hint.salt, 'hex')
      const params = {N: hint.N, p: hint.p, r: hint.r}
      if (salt.length !== 16 || kdfParamsProblem(params)) return
      this.#hintedSalt = hint.salt
      this.#derive(salt, params).catch(() => {})
    } catch {
      // no hint, or an unreadable one: the key is derived when the store's salt is read
    }
  }

  /** Remembers the store salt for the next process; best effort (a read-only home only loses the head start). */
  #rememberSalt({params, salt}: Sealing): void {
    if (secretKind(this.#secret) === 'key') return
    const hex = salt.toString('hex')
    if (hex === this.#hintedSalt) return
    this.#hintedSalt = hex
    try {
      const file = this.#hintFile()
      mkdirSync(path.dirname(file), {mode: 0o700, recursive: true})
      const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
      writeFileSync(temp, JSON.stringify({N: params.N, p: params.p, r: params.r, salt: hex}), {mode: 0o600})
      renameSync(temp, file)
    } catch {
      // best effort, as said above
    }
  }

  async #openAnyEntry(): Promise<void> {
    const keys = await this.#run('list the entries', (connection) => this.#scan(connection, '*'))
    for (const key of keys) {
      const data = await this.#run('read an entry', (connection) => connection.client.getBuffer(key))
      if (data) {
        await this.#open(data)
        return
      }
    }
  }
}
