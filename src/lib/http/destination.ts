/**
 * Which destinations are loopback, and the lookup that keeps a loopback name honest.
 *
 * Plain http is allowed only to loopback, and loopback never goes through a proxy: both rest on the
 * destination really being this machine. An IP literal says so by itself. A name does not: even
 * `localhost` and `*.localhost` (RFC 6761 §6.3) go to the system resolver, and a hosts entry or a
 * resolver can send them anywhere. So a localhost name counts as loopback only when every address it
 * resolves to is a loopback address, and the check happens inside the connection's own lookup: the
 * address checked is the address connected to, with no second lookup in between (no DNS rebinding).
 */
import type {LookupAddress, LookupAllOptions, LookupOptions} from 'node:dns'
import {createRequire} from 'node:module'

import {ConfigError} from '../errors.js'

// node:dns and node:net load when a name is resolved or an address checked, not with this module:
// a cache hit for an https server needs neither (about 0.7 MiB and a millisecond between them).
const builtin = createRequire(import.meta.url)
const dns = (): typeof import('node:dns') => builtin('node:dns') as typeof import('node:dns')
const isIP = (input: string): number => (builtin('node:net') as typeof import('node:net')).isIP(input)

const bare = (hostname: string): string => hostname.replace(/^\[|\]$/g, '').toLowerCase()

/** 127.0.0.0/8, ::1, and IPv4-mapped 127.x (::ffff:127.0.0.1, as the URL parser writes it: ::ffff:7f00:1). */
export function isLoopbackAddress(address: string): boolean {
  const ip = bare(address)
  if (isIP(ip) === 4) return ip.startsWith('127.')
  if (isIP(ip) !== 6) return false
  if (ip === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(ip)) return true
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(.+)$/.exec(ip)?.[1]
  if (!mapped) return false
  if (isIP(mapped) === 4) return mapped.startsWith('127.')
  const high = /^([\da-f]{1,4}):[\da-f]{1,4}$/.exec(mapped)?.[1]
  return high !== undefined && Number.parseInt(high, 16) >> 8 === 0x7f
}

/** `localhost` and the names under it (RFC 6761 §6.3): loopback by name, so checked at every connection. */
export function isLoopbackName(hostname: string): boolean {
  const host = bare(hostname).replace(/\.$/, '')
  return host === 'localhost' || host.endsWith('.localhost')
}

/**
 * A loopback IP literal or a localhost name: a destination that may use plain http and never goes
 * through a proxy. A name is held to it when connecting (see pinnedLookup).
 */
export function isLoopbackHost(hostname: string): boolean {
  return isLoopbackName(hostname) || isLoopbackAddress(hostname)
}

/** The refusal when a localhost name resolves elsewhere: a configuration problem (exit 3), never retried. */
export function notLoopbackError(hostname: string, addresses: string[]): ConfigError {
  const where = addresses.length > 0 ? addresses.join(', ') : 'no address'
  return new ConfigError(`${hostname} resolves to ${where}, not only to loopback addresses: refusing to connect (a localhost name must stay on this machine)`, 'not_loopback', {
    suggestions: [`check the hosts file and resolver entries for ${hostname}, or use http://127.0.0.1 instead`],
  })
}

export type Resolve = (hostname: string, options: LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void

type LookupCallback = (error: NodeJS.ErrnoException | null, address: LookupAddress[] | string, family?: number) => void

/**
 * A `lookup` for net/tls/http/undici connections. Names other than localhost names resolve as
 * usual. A localhost name is resolved once, all of its addresses; if any is not loopback the
 * connection fails with notLoopbackError, else it goes to exactly these addresses.
 * `resolve` is injectable for tests; by default the system resolver, as Node would use it.
 */
export function pinnedLookup(resolve: Resolve = (hostname, options, callback) => dns().lookup(hostname, options, callback)) {
  return function lookup(hostname: string, options: LookupOptions | number | undefined, callback: LookupCallback): void {
    const opts: LookupOptions = typeof options === 'number' ? {family: options} : (options ?? {})
    if (!isLoopbackName(hostname)) {
      dns().lookup(hostname, opts as LookupAllOptions, callback as never)
      return
    }

    resolve(hostname, {...opts, all: true}, (error, addresses) => {
      if (error) {
        callback(error, [])
        return
      }

      if (addresses.length === 0 || !addresses.every((entry) => isLoopbackAddress(entry.address))) {
        callback(
          notLoopbackError(
            hostname,
            addresses.map((entry) => entry.address),
          ),
          [],
        )
        return
      }

      if (opts.all) callback(null, addresses)
      else callback(null, addresses[0].address, addresses[0].family)
    })
  }
}

/** The lookup every tokenctl connection uses. */
export const loopbackCheckedLookup = pinnedLookup()
