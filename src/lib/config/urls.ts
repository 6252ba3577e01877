import {ConfigError} from '../errors.js'
import {isLoopbackHost} from '../http/destination.js'

/** localhost names, 127.0.0.0/8 and ::1: the only hosts that may be reached over plain http (a name is checked again when connecting). */
export {isLoopbackHost} from '../http/destination.js'

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
