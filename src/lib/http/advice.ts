import {isLoopbackHost} from './destination.js'
import {proxyVariable} from './dispatcher.js'

/**
 * What to check when a server cannot be reached, by what went wrong: the URL (`url` says where it
 * came from), whether the server runs, a proxy, --ca-file for a proxy that intercepts TLS. A loopback
 * `host` never goes through a proxy, so no proxy is blamed for it.
 */
export function unreachableAdvice(code: string, url: string, host: string): string[] {
  const proxy = isLoopbackHost(new URL(`http://${host}`).hostname) ? undefined : proxyVariable()
  const viaProxy = proxy ? `the request went through the proxy in ${proxy} (NO_PROXY lists hosts that bypass it): check that the proxy is up` : undefined
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN': {
      return [`check the host name in ${url}${proxy ? '' : ', and whether this network needs a proxy (HTTPS_PROXY)'}`, ...(viaProxy ? [viaProxy] : [])]
    }

    case 'ECONNREFUSED': {
      return [viaProxy ?? `nothing listens there: check ${url} and its port, and that the server is running`]
    }

    default: {
      return [
        `check ${url}, that the server is up, and ${viaProxy ? viaProxy.replace(/^the request/, 'that the request') : 'whether this network needs a proxy (HTTPS_PROXY)'}; a proxy that inspects TLS needs its CA in --ca-file`,
      ]
    }
  }
}
