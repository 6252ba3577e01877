import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import type {Redis} from 'ioredis'

import {ConfigError, messageOf, StoreError} from '../errors.js'
import {tokenctlHome} from '../paths.js'
import {type Derive, type KdfParams, kdfParamsProblem, memoisedDerive, openEnvelope, parseEnvelope, sealEnvelope} from './envelope.js'
import {PASSPHRASE_FILE_VARIABLE, PASSPHRASE_VARIABLE} from './passphrase.js'
import type {EntryOptions, LockHolder, LockOptions, SecretStore} from './types.js'

/**
 * The Redis backend: one store shared by a fleet of hosts (cron jobs on several machines, CI
 * runners sharing a client's token budget). Redis is not trusted with secrets: every value is an
 * envelope of envelope.ts (AES-256-GCM, the key derived with scrypt from the store passphrase
 * exactly as the file store derives it), and no key name shows an entry's name.
 *
 * Layout under the prefix P (default "tokenctl:"):
 *
 *   P e:<sha256(name)>   the entry: an envelope of {"n": name, "v": value}. The name inside the
 *                        authenticated plaintext binds the value to its key: an envelope copied
 *                        to another key does not open as that entry. An entry written with a
 *                        lifetime (a cached token) has it as its TTL: Redis removes it itself
 *                        (its index keeps the hash, which list() skips).
 *   P n:<kind>           SET of the sha256(name) of the entries of one kind (the name up to its
 *                        first ':', "session", "token"…): list() reads it, never a SCAN.
 *   P kinds              SET of the kinds in use.
 *   P keycheck           an envelope of a constant: proves a writer's passphrase is the store's
 *                        before it writes or deletes anything, and fixes the store's salt.
 *   P l:<sha256(name)>   a lock: SET NX PX <lease>, value "<nonce> <pid> <host> <time>".
 *
 * Salt: entries are sealed under the keycheck's salt (a fresh nonce each), so that a process
 * derives one key per store, as the file store derives one per file, instead of one scrypt (about
 * 24 ms) per entry read and per write. Each envelope still records its salt and parameters, so an
 * entry sealed under another salt still opens (one more derivation). The salt (not a secret) is
 * remembered under TOKENCTL_HOME/cache/redis: the next process starts the derivation on the
 * thread pool at once, while the main thread loads the Redis client, instead of after the read.
 *
 * Locks: SET NX PX, renewed every lease/3 while held by a compare-and-pexpire script, released by
 * a compare-and-delete script; a killed holder's lock is taken over when its lease runs out. A
 * write or delete of an entry whose lock this process holds is fenced: done by a script only while
 * the lock is still ours, so a holder that lost its lease (suspended, cut off) never overwrites
 * what the next holder wrote.
 *
 * Every command is bounded (connect and command timeouts, no reconnect loop, no offline queue),
 * and the connection never keeps the process alive once nothing is pending.
 */

export const DEFAULT_REDIS_PREFIX = 'tokenctl:'
export const DEFAULT_REDIS_TIMEOUT_SECONDS = 5
export const DEFAULT_LOCK_LEASE_SECONDS = 60
const DEFAULT_WAIT_MS = 180_000
const MIN_POLL_MS = 5
const MAX_POLL_MS = 50
const CHECK_PLAINTEXT = 'tokenctl redis store: passphrase check v1'

export interface RedisSettings {
  db: number
  /** The server as `store status` and messages show it: scheme, user, host, port, db — never the password. */
  display: string
  host: string
  /** Lock lease; renewed every third of it while held. */
  leaseMs: number
  password?: string
  port: number
  prefix: string
  /** Bounds the connection and every command. */
  timeoutMs: number
  tls: boolean
  username?: string
}

function seconds(env: NodeJS.ProcessEnv, variable: string, fallback: number, minimum: number): number {
  const text = env[variable]?.trim()
  if (!text) return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value < minimum) throw new ConfigError(`${variable} must be a number of seconds, at least ${minimum}, not "${text}"`)
  return value
}

/** TOKENCTL_REDIS_URL and friends, checked; a malformed setting is a configuration error (exit 3). */
export function redisSettings(env: NodeJS.ProcessEnv = process.env): RedisSettings {
  const text = env.TOKENCTL_REDIS_URL?.trim()
  if (!text) {
    throw new StoreError('TOKENCTL_STORE=redis needs TOKENCTL_REDIS_URL', 'no_store', {
      suggestions: ['set TOKENCTL_REDIS_URL=rediss://[user@]host:port[/db] (redis:// without TLS); the password in the URL or in TOKENCTL_REDIS_PASSWORD'],
    })
  }

  let url: URL
  try {
    url = new URL(text)
  } catch {
    // The text may hold a password: never repeat it.
    throw new ConfigError('TOKENCTL_REDIS_URL is not a URL', 'config_error', {suggestions: ['use redis://[user[:password]@]host[:port][/db], or rediss:// for TLS']})
  }

  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError(`TOKENCTL_REDIS_URL must start with redis:// or rediss://, not ${url.protocol}//`, 'config_error')
  }

  const host = url.hostname.replace(/^\[(.*)]$/, '$1')
  if (!host) throw new ConfigError('TOKENCTL_REDIS_URL names no host', 'config_error')
  const port = url.port ? Number(url.port) : 6379
  const dbText = url.pathname.replace(/^\//, '')
  const db = dbText === '' ? 0 : Number(dbText)
  if (!Number.isInteger(db) || db < 0) throw new ConfigError(`TOKENCTL_REDIS_URL: the database must be a number, not "${dbText}"`, 'config_error')
  let username: string | undefined
  let password: string | undefined
  try {
    username = url.username ? decodeURIComponent(url.username) : undefined
    password = env.TOKENCTL_REDIS_PASSWORD || (url.password ? decodeURIComponent(url.password) : undefined)
  } catch {
    // Never repeated: it is the password.
    throw new ConfigError('TOKENCTL_REDIS_URL: the user name or password has a malformed %-escape', 'config_error', {
      suggestions: ['write % as %25 in the URL, or put the password in TOKENCTL_REDIS_PASSWORD'],
    })
  }

  const prefix = env.TOKENCTL_REDIS_PREFIX ?? DEFAULT_REDIS_PREFIX
  if (prefix === '') throw new ConfigError('TOKENCTL_REDIS_PREFIX must not be empty', 'config_error')

  const hostPart = host.includes(':') ? `[${host}]` : host
  const display = `${url.protocol}//${username ? `${encodeURIComponent(username)}@` : ''}${hostPart}:${port}${db === 0 ? '' : `/${db}`}`
  return {
    db,
    display,
    host,
    leaseMs: Math.round(seconds(env, 'TOKENCTL_REDIS_LOCK_LEASE', DEFAULT_LOCK_LEASE_SECONDS, 1) * 1000),
    password,
    port,
    prefix,
    timeoutMs: Math.round(seconds(env, 'TOKENCTL_REDIS_TIMEOUT', DEFAULT_REDIS_TIMEOUT_SECONDS, 0.1) * 1000),
    tls: url.protocol === 'rediss:',
    username,
  }
}

// Each script touches only the keys it declares. A missing key is `false` in Lua, never equal to a token.
/** KEYS entry, names, kinds, lock; ARGV envelope, hash, kind, lock token ('' = unfenced), TTL in ms ('' = none). 0 = the lock is no longer ours. */
const PUT_SCRIPT = `if ARGV[4] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[4] then return 0 end
if ARGV[5] == '' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5]) end
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return 1`
/** KEYS entry, names, lock; ARGV hash, lock token ('' = unfenced). -1 = the lock is no longer ours, else how many were deleted. */
const DELETE_SCRIPT = `if ARGV[2] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[2] then return -1 end
redis.call('SREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])`
/** Compare-and-delete: only the owner releases. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`
/** Compare-and-pexpire: only the owner renews. */
const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

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

interface Sealing {
  params: KdfParams
  salt: Buffer
}

export interface RedisStoreOptions {
  passphrase: string
  settings: RedisSettings
}

export class RedisStore implements SecretStore {
  readonly backend = 'redis' as const
  readonly location: string
  readonly settings: RedisSettings
  #busy = 0
  #connection: Promise<Redis> | undefined
  readonly #derive: Derive
  /** Lock tokens of the locks this process holds, by entry name: writes of those entries are fenced. */
  readonly #held = new Map<string, string>()
  /** The store salt remembered under TOKENCTL_HOME (hex), if any. */
  #hintedSalt: string | undefined
  #lastError: Error | undefined
  readonly #passphrase: string
  #sealing: Promise<Sealing> | undefined

  constructor(options: RedisStoreOptions) {
    this.settings = options.settings
    this.#passphrase = options.passphrase
    this.#derive = memoisedDerive(options.passphrase)
    this.location = `Redis at ${options.settings.display}, keys under "${options.settings.prefix}"`
    this.#startFromHint()
  }

  /** Answers, and the passphrase opens what is there (nothing is written). */
  async check(): Promise<void> {
    await this.#run('answer a PING', (client) => client.ping())
    const check = await this.#run('read the passphrase check', (client) => client.getBuffer(this.#key('keycheck')))
    if (check) await this.#verifyCheck(check)
  }

  /** Closes the connection (tests and long-lived callers; a CLI process simply exits). */
  async close(): Promise<void> {
    const connection = this.#connection
    this.#connection = undefined
    if (!connection) return
    const client = await connection.catch(() => undefined)
    if (client) await client.quit().catch(() => client.disconnect())
  }

  async delete(name: string): Promise<boolean> {
    await this.#storeSealing() // a wrong passphrase deletes nothing
    const hash = sha256hex(name)
    const token = this.#held.get(name) ?? ''
    const deleted = await this.#run(`delete "${name}"`, (client) =>
      client.eval(DELETE_SCRIPT, 3, this.#key('e:', hash), this.#key('n:', entryKind(name)), this.#key('l:', hash), hash, token),
    )
    if (deleted === -1) throw this.#lockLost(name)
    return deleted === 1
  }

  async get(name: string): Promise<string | undefined> {
    const data = await this.#run(`read "${name}"`, (client) => client.getBuffer(this.#key('e:', sha256hex(name))))
    if (!data) return undefined
    const entry = await this.#open(data, name)
    if (entry.n !== name) throw this.#corrupt(name, 'it holds another entry (moved or altered)')
    return entry.v
  }

  async list(prefix: string): Promise<string[]> {
    const kinds = prefix.includes(':')
      ? [entryKind(prefix)]
      : (await this.#run('read the kinds of entries', (client) => client.smembers(this.#key('kinds')))).filter((kind) => kind.startsWith(prefix) || kind === '-')
    const names: string[] = []
    for (const kind of kinds) {
      const hashes = await this.#run('read the entry index', (client) => client.smembers(this.#key('n:', kind)))
      if (hashes.length === 0) continue
      const values = await this.#run('read entries', (client) => client.mgetBuffer(...hashes.map((hash) => this.#key('e:', hash))))
      for (const data of values) {
        if (!data) continue // deleted by hand: the index keeps a hash that points nowhere
        const {n: name} = await this.#open(data)
        if (name.startsWith(prefix)) names.push(name)
      }
    }

    return names.sort()
  }

  async set(name: string, value: string, options: EntryOptions = {}): Promise<void> {
    const {params, salt} = await this.#storeSealing()
    const plaintext = Buffer.from(JSON.stringify({n: name, v: value}), 'utf8')
    const sealed = await sealEnvelope(plaintext, this.#passphrase, params, {derive: this.#derive, salt})
    const hash = sha256hex(name)
    const kind = entryKind(name)
    const token = this.#held.get(name) ?? ''
    // Relative to this host's clock, which the lifetime came from, not to the server's.
    const ttl = options.expiresAt === undefined ? '' : String(Math.max(1, Math.ceil(options.expiresAt - Date.now())))
    const written = await this.#run(`write "${name}"`, (client) =>
      client.eval(PUT_SCRIPT, 4, this.#key('e:', hash), this.#key('n:', kind), this.#key('kinds'), this.#key('l:', hash), sealed, hash, kind, token, ttl),
    )
    if (written !== 1) throw this.#lockLost(name)
  }

  async withLock<T>(name: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
    const {leaseMs} = this.settings
    const lockKey = this.#key('l:', sha256hex(name))
    const token = `${randomBytes(16).toString('hex')} ${process.pid} ${hostname()} ${new Date().toISOString()}`
    const waitMs = options.waitMs ?? DEFAULT_WAIT_MS
    const deadline = Date.now() + waitMs
    let pollMs = MIN_POLL_MS
    let waiting = false
    for (;;) {
      const taken = await this.#run(`take the lock on "${name}"`, (client) => client.set(lockKey, token, 'PX', leaseMs, 'NX'))
      if (taken === 'OK') break
      if (!waiting || Date.now() >= deadline) {
        const holder = holderOf(await this.#run(`read the lock on "${name}"`, (client) => client.get(lockKey)))
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
    const renewal = setInterval(() => {
      // A failed renewal is not fatal by itself: the fenced writes refuse to write once the lock is gone.
      this.#run(`renew the lock on "${name}"`, (client) => client.eval(RENEW_SCRIPT, 1, lockKey, token, String(leaseMs))).catch(() => {})
    }, Math.max(100, Math.floor(leaseMs / 3)))
    renewal.unref()
    try {
      return await fn()
    } finally {
      clearInterval(renewal)
      this.#held.delete(name)
      // Not released (Redis gone): the lease ends it.
      await this.#run(`release the lock on "${name}"`, (client) => client.eval(RELEASE_SCRIPT, 1, lockKey, token)).catch(() => {})
    }
  }

  async #client(): Promise<Redis> {
    this.#connection ??= this.#connect()
    try {
      return await this.#connection
    } catch (error) {
      this.#connection = undefined // the next operation tries again
      throw error
    }
  }

  async #connect(): Promise<Redis> {
    const {Redis: RedisClient} = await import('ioredis')
    const {settings} = this
    const client = new RedisClient({
      autoResubscribe: false,
      commandTimeout: settings.timeoutMs,
      connectTimeout: settings.timeoutMs,
      db: settings.db,
      disableClientInfo: true,
      // After a failure ioredis waits this long (default 2 s) before destroying a socket that may
      // already be closed; that timer alone would keep a failed CLI process alive.
      disconnectTimeout: 50,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      host: settings.host,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      password: settings.password,
      port: settings.port,
      reconnectOnError: () => false,
      retryStrategy: () => null, // no reconnect loop: an operation after a drop connects anew
      tls: settings.tls ? {} : undefined, // certificates checked against the host, with NODE_EXTRA_CA_CERTS honoured
      username: settings.username,
    })
    client.on('error', (error: Error) => {
      this.#lastError = error
    })
    const connection = this.#connection
    client.on('end', () => {
      if (this.#connection === connection) this.#connection = undefined
    })
    // ioredis rejects connect() only once the socket closes, which it delays by 2 s after a
    // handshake timeout: bound the whole handshake ourselves, and close the socket at once.
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('Command timed out')), settings.timeoutMs)
    })
    try {
      await Promise.race([client.connect(), timeout])
    } catch (error) {
      client.stream?.destroy()
      client.disconnect()
      throw this.#failure(error, 'connect')
    } finally {
      clearTimeout(timer)
    }

    if (this.#busy === 0) client.stream?.unref()
    return client
  }

  /** A Redis operation, mapped to StoreError; the socket holds the process open only while one is pending. */
  async #run<T>(action: string, operation: (client: Redis) => Promise<T>): Promise<T> {
    const client = await this.#client()
    this.#busy++
    client.stream?.ref()
    try {
      return await operation(client)
    } catch (error) {
      throw this.#failure(error, action)
    } finally {
      if (--this.#busy === 0) client.stream?.unref()
    }
  }

  #key(...parts: string[]): string {
    return this.settings.prefix + parts.join('')
  }

  #failure(error: unknown, action: string): StoreError {
    if (error instanceof StoreError) return error
    let message = messageOf(error)
    // ioredis words every failure of a closed connection alike; the socket's own error says why.
    if (/Connection is closed|Stream isn't writeable|enableOfflineQueue/i.test(message) && this.#lastError) message = messageOf(this.#lastError)
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

    if (/NOPERM/.test(message)) {
      return new StoreError(`${server} does not allow tokenctl to ${action}: ${message}`, 'store_error', {
        cause: error,
        suggestions: [`the Redis ACL user needs ~${this.settings.prefix}* and +ping +get +set +mget +del +pexpire +sadd +srem +smembers +srandmember +eval`],
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
      suggestions: [name === undefined ? 'remove the damaged entry from Redis' : `remove it from Redis (key ${this.#key('e:', sha256hex(name))}); tokenctl then starts it afresh`],
    })
  }

  #wrongPassphrase(): StoreError {
    return new StoreError(`cannot open the secure store in Redis at ${this.settings.display}: wrong passphrase`, 'store_wrong_passphrase', {
      suggestions: [`check ${PASSPHRASE_VARIABLE} / ${PASSPHRASE_FILE_VARIABLE}: every host must use the passphrase the store was created with`],
    })
  }

  #lockLost(name: string): StoreError {
    return new StoreError(
      `the lock on "${name}" in Redis at ${this.settings.display} was lost before the write (its ${this.settings.leaseMs / 1000} s lease ran out: was this process suspended, or cut off from Redis?); nothing was written`,
      'store_lock_lost',
      {suggestions: ['run it again; raise TOKENCTL_REDIS_LOCK_LEASE if the work under the lock can take longer than the lease']},
    )
  }

  async #open(data: Buffer, name?: string): Promise<{n: string; v: string}> {
    const opened = await openEnvelope(data, this.#passphrase, this.#derive)
    if (!opened.ok) throw opened.failure === 'wrong_passphrase' ? this.#wrongPassphrase() : this.#corrupt(name, opened.reason)
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
    const opened = await openEnvelope(data, this.#passphrase, this.#derive)
    if (!opened.ok) {
      if (opened.failure === 'wrong_passphrase') throw this.#wrongPassphrase()
      throw new StoreError(`the passphrase check ${this.#key('keycheck')} in Redis at ${this.settings.display} is corrupt: ${opened.reason}`, 'store_corrupt', {
        suggestions: [`delete ${this.#key('keycheck')}: the next write makes a new one`],
      })
    }

    if (opened.plaintext.toString('utf8') !== CHECK_PLAINTEXT) throw this.#corrupt(undefined, `${this.#key('keycheck')} is not tokenctl's passphrase check`)
    const {params, salt} = parseEnvelope(data)
    this.#rememberSalt({params, salt})
    return {params, salt}
  }

  /** The store's salt and parameters, once the passphrase is proven to be the store's: before any write. */
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
      const existing = await this.#run('read the passphrase check', (client) => client.getBuffer(checkKey))
      if (existing) return this.#verifyCheck(existing)
      // No check yet (a new store, or it was deleted): entries already there must open with our passphrase.
      await this.#openAnyEntry()
      const sealed = await sealEnvelope(Buffer.from(CHECK_PLAINTEXT, 'utf8'), this.#passphrase, undefined, {derive: this.#derive})
      const created = await this.#run('write the passphrase check', (client) => client.set(checkKey, sealed, 'NX'))
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
    const kinds = await this.#run('read the kinds of entries', (client) => client.smembers(this.#key('kinds')))
    for (const kind of kinds) {
      const hash = await this.#run('read the entry index', (client) => client.srandmember(this.#key('n:', kind)))
      if (!hash) continue
      const data = await this.#run('read an entry', (client) => client.getBuffer(this.#key('e:', hash)))
      if (data) {
        await this.#open(data)
        return
      }
    }
  }
}
