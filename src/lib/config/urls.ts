import {isIP} from 'node:net'

import {ConfigError} from '../errors.js'

/** localhost, 127.0.0.0/8 and ::1: the only hosts that may be reached over plain http. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  if (isIP(host) === 4) return host.startsWith('127.')
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1'
  return false
}

/** Parses an endpoint URL and refuses http:// to anything but loopback (exit 3). */
export function secureUrl(value: string, what: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError(`${what} is not a URL: ${value}`)
  }

  if (url.protocol === 'https:') return url
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url
  if (url.protocol === 'http:') {
    throw new ConfigError(`refusing plain http to ${url.host} (${what}): only loopback hosts may use http`, 'insecure_url', {
      suggestions: [`use https://${url.host}${url.pathname === '/' ? '' : url.pathname}`],
    })
  }

  throw new ConfigError(`${what} must be an https URL: ${value}`, 'insecure_url')
}

export function isInsecureLoopback(url: URL): boolean {
  return url.protocol === 'http:'
}
