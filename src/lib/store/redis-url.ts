import {ConfigError, StoreError} from '../errors.js'
import {MAX_TIMEOUT_SECONDS} from '../config/timeouts.js'

/**
 * TOKENCTL_REDIS_URL and the variables around it, checked before anything is reached. Three
 * topologies, each with or without TLS (README, "A fleet: sessions and the token cache on Redis"):
 *
 *   redis://  rediss://                [user[:password]@]host[:port][/db]                one server
 *   redis+sentinel://  rediss+sentinel://  [user[:password]@]host:port[,host:port…]/MASTER[/db]   the hosts are sentinels
 *   redis+cluster://  rediss+cluster://   [user[:password]@]host:port[,host:port…]          any seed nodes of a Cluster
 *
 * WHATWG's URL cannot read a list of hosts, so the URL is split here by hand, strictly: anything
 * it does not name (a query, a fragment, a path where there is none) is a configuration error
 * (exit 3) naming the forms. No message repeats the URL's user information: it may hold the password.
 */

export type RedisTopologyKind = 'cluster' | 'sentinel' | 'server'

export interface RedisEndpoint {
  host: string
  port: number
}

export interface RedisSettings {
  /** TOKENCTL_REDIS_CA_FILE: a CA (PEM) trusted beside the system's, for the servers' certificates. */
  caFile?: string
  /** TOKENCTL_REDIS_CERT_FILE and TOKENCTL_REDIS_KEY_FILE: a client certificate (PEM) presented to the servers. */
  certFile?: string
  db: number
  /** The URL as `store status` and messages show it: scheme, user, hosts, master, db — never the password. */
  display: string
  /** The server; the sentinels; or the Cluster's seed nodes. */
  endpoints: RedisEndpoint[]
  keyFile?: string
  /** Lock lease; renewed every third of it while held. */
  leaseMs: number
  /** Sentinel: the name of the master the sentinels watch. */
  masterName?: string
  password?: string
  prefix: string
  /** Bounds the connection and every command. */
  timeoutMs: number
  tls: boolean
  topology: RedisTopologyKind
  username?: string
}

export const DEFAULT_REDIS_PREFIX = 'tokenctl:'
export const DEFAULT_REDIS_TIMEOUT_SECONDS = 5
export const DEFAULT_LOCK_LEASE_SECONDS = 60

/** The accepted forms, as every message about a malformed URL names them. */
export const REDIS_URL_FORMS = [
  'redis://[user[:password]@]host[:port][/db] (one server; rediss:// for TLS)',
  'redis+sentinel://[user[:password]@]host:port[,host:port…]/MASTER_NAME[/db] (Sentinel; rediss+sentinel:// for TLS)',
  'redis+cluster://[user[:password]@]host:port[,host:port…] (Cluster; rediss+cluster:// for TLS)',
]

const SCHEMES: Record<string, {tls: boolean; topology: RedisTopologyKind}> = {
  redis: {tls: false, topology: 'server'},
  'redis+cluster': {tls: false, topology: 'cluster'},
  'redis+sentinel': {tls: false, topology: 'sentinel'},
  rediss: {tls: true, topology: 'server'},
  'rediss+cluster': {tls: true, topology: 'cluster'},
  'rediss+sentinel': {tls: true, topology: 'sentinel'},
}

const DEFAULT_PORTS: Record<RedisTopologyKind, number> = {cluster: 6379, sentinel: 26_379, server: 6379}

function urlError(problem: string): ConfigError {
  return new ConfigError(`TOKENCTL_REDIS_URL ${problem}`, 'config_error', {suggestions: [`use one of: ${REDIS_URL_FORMS.join('; ')}`]})
}

function seconds(env: NodeJS.ProcessEnv, variable: string, fallback: number, minimum: number): number {
  const text = env[variable]?.trim()
  if (!text) return fallback
  const value = Number(text)
  // At most a day, as every timeout of tokenctl: a longer one overflows Node's timer and fires at once.
  if (!Number.isFinite(value) || value < minimum || value > MAX_TIMEOUT_SECONDS) {
    throw new ConfigError(`${variable} must be a number of seconds from ${minimum} to ${MAX_TIMEOUT_SECONDS}, not "${text}"`)
  }

  return value
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`. */
function endpoint(text: string, defaultPort: number): RedisEndpoint {
  const match = /^(?:\[([\da-f:.]+)]|([\w.-]+))(?::(\d{1,5}))?$/i.exec(text)
  if (!match) throw urlError(`has a host that is not host[:port]: "${text}"`)
  const port = match[3] === undefined ? defaultPort : Number(match[3])
  if (port < 1 || port > 65_535) throw urlError(`has a port out of range: "${text}"`)
  return {host: match[1] ?? match[2], port}
}

function database(text: string | undefined): number {
  if (text === undefined || text === '') return 0
  if (!/^\d{1,9}$/.test(text)) throw new ConfigError(`TOKENCTL_REDIS_URL: the database must be a number, not "${text}"`, 'config_error')
  return Number(text)
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    // Never repeated: it is the password, or next to it.
    throw new ConfigError('TOKENCTL_REDIS_URL: the user name or password has a malformed %-escape', 'config_error', {
      suggestions: ['write % as %25 in the URL, or put the password in TOKENCTL_REDIS_PASSWORD'],
    })
  }
}

const hostText = ({host, port}: RedisEndpoint): string => `${host.includes(':') ? `[${host}]` : host}:${port}`

/** TOKENCTL_REDIS_URL and friends, checked; a malformed setting is a configuration error (exit 3). */
export function redisSettings(env: NodeJS.ProcessEnv = process.env): RedisSettings {
  const text = env.TOKENCTL_REDIS_URL?.trim()
  if (!text) {
    throw new StoreError('TOKENCTL_STORE=redis needs TOKENCTL_REDIS_URL', 'no_store', {
      suggestions: [`set TOKENCTL_REDIS_URL to one of: ${REDIS_URL_FORMS.join('; ')}; the password in the URL or in TOKENCTL_REDIS_PASSWORD`],
    })
  }

  const schemeMatch = /^([a-z][\d+.a-z-]*):\/\/(.*)$/i.exec(text)
  if (!schemeMatch) throw urlError('is not a URL')
  const scheme = schemeMatch[1].toLowerCase()
  const form = SCHEMES[scheme]
  if (!form) throw urlError(`must start with redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://, not ${scheme}://`)

  // The user information ends at the last '@': a password may hold anything but that, escaped or not.
  const rest = schemeMatch[2]
  const at = rest.lastIndexOf('@')
  const userInfo = at < 0 ? undefined : rest.slice(0, at)
  const location = rest.slice(at + 1)
  if (/[#?]/.test(location)) throw urlError('has a query or a fragment (?… or #…): tokenctl takes none')
  const slash = location.indexOf('/')
  const hostList = slash < 0 ? location : location.slice(0, slash)
  const path = slash < 0 ? '' : location.slice(slash + 1)
  if (hostList === '') throw urlError('names no host')
  const endpoints = hostList.split(',').map((host) => endpoint(host, DEFAULT_PORTS[form.topology]))

  let db = 0
  let masterName: string | undefined
  const segments = path === '' ? [] : path.replace(/\/$/, '').split('/')
  switch (form.topology) {
    case 'server': {
      if (endpoints.length > 1) throw urlError(`names ${endpoints.length} hosts: one server takes one; for a replicated Redis use redis+sentinel:// (the sentinels) or redis+cluster:// (seed nodes)`)
      if (segments.length > 1) throw urlError('has a path beyond /db')
      db = database(segments[0])
      break
    }

    case 'sentinel': {
      if (segments.length === 0 || segments[0] === '') throw urlError('names no Sentinel master: redis+sentinel://host:port[,host:port…]/MASTER_NAME[/db]')
      if (segments.length > 2) throw urlError('has a path beyond /MASTER_NAME/db')
      masterName = segments[0]
      db = database(segments[1])
      break
    }

    case 'cluster': {
      if (segments.length > 0) throw urlError('has a path: a Cluster has only database 0, and redis+cluster:// takes none')
      break
    }
  }

  let username: string | undefined
  let password: string | undefined
  if (userInfo !== undefined) {
    const colon = userInfo.indexOf(':')
    username = decoded(colon < 0 ? userInfo : userInfo.slice(0, colon)) || undefined
    password = colon < 0 ? undefined : decoded(userInfo.slice(colon + 1)) || undefined
  }

  password = env.TOKENCTL_REDIS_PASSWORD || password

  const prefix = env.TOKENCTL_REDIS_PREFIX ?? DEFAULT_REDIS_PREFIX
  if (prefix === '') throw new ConfigError('TOKENCTL_REDIS_PREFIX must not be empty', 'config_error')

  const caFile = env.TOKENCTL_REDIS_CA_FILE || undefined
  const certFile = env.TOKENCTL_REDIS_CERT_FILE || undefined
  const keyFile = env.TOKENCTL_REDIS_KEY_FILE || undefined
  if (!form.tls) {
    const set = [
      ['TOKENCTL_REDIS_CA_FILE', caFile],
      ['TOKENCTL_REDIS_CERT_FILE', certFile],
      ['TOKENCTL_REDIS_KEY_FILE', keyFile],
    ].find(([, value]) => value)
    if (set)
      throw new ConfigError(`${set[0]} is for TLS, and TOKENCTL_REDIS_URL starts with ${scheme}://`, 'config_error', {
        suggestions: [`use ${scheme.replace('redis', 'rediss')}:// (TLS), or unset ${set[0]}`],
      })
  }

  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new ConfigError(`${certFile ? 'TOKENCTL_REDIS_CERT_FILE' : 'TOKENCTL_REDIS_KEY_FILE'} is set without ${certFile ? 'TOKENCTL_REDIS_KEY_FILE' : 'TOKENCTL_REDIS_CERT_FILE'}`, 'config_error', {
      suggestions: ['a client certificate needs both: TOKENCTL_REDIS_CERT_FILE (the certificate, PEM) and TOKENCTL_REDIS_KEY_FILE (its private key, PEM)'],
    })
  }

  const user = username ? `${encodeURIComponent(username)}@` : ''
  const tail = masterName === undefined ? (db === 0 ? '' : `/${db}`) : `/${masterName}${db === 0 ? '' : `/${db}`}`
  return {
    caFile,
    certFile,
    db,
    display: `${scheme}://${user}${endpoints.map((e) => hostText(e)).join(',')}${tail}`,
    endpoints,
    keyFile,
    leaseMs: Math.round(seconds(env, 'TOKENCTL_REDIS_LOCK_LEASE', DEFAULT_LOCK_LEASE_SECONDS, 1) * 1000),
    masterName,
    password,
    prefix,
    timeoutMs: Math.round(seconds(env, 'TOKENCTL_REDIS_TIMEOUT', DEFAULT_REDIS_TIMEOUT_SECONDS, 0.1) * 1000),
    tls: form.tls,
    topology: form.topology,
    username,
  }
}
