/**
 * What a failure to reach a server means, in words a user can act on: one table for every request
 * (token endpoints, discovery, key sets, the GitHub Actions runner, `call`). Node's http, undici and
 * fetch report the same failure in different shapes — an errno on the error or on its cause, an
 * OpenSSL reason, an AbortSignal's TimeoutError — and each becomes one NetworkError (exit 6): its code
 * from tokenctl's closed list, a message naming the server and the system's reason, a hint saying
 * what to check, and whether another attempt can help (./policy.ts says which answers are retried;
 * the README's Exit codes section, what exit 6 means).
 */
import {type ErrorDetails, type NetworkCode, NetworkError, TokenctlError} from '../errors.js'
import {isLoopbackHost} from './destination.js'
import {proxyVariable} from './dispatcher.js'
import {parseRetryAfter} from './retry.js'

/** The server a request went to, as the user named it. */
export interface Destination {
  /** host[:port], as in a URL. */
  host: string
  /** How messages call the server; its host by default. */
  name?: string
  /** What the server is to the user, in advice: "the server" by default, "the API" for `call`. */
  role?: string
  /** Where the URL came from, for advice: "the URL", "the --issuer / --token-endpoint URL". */
  source: string
  timeoutSeconds: number
}

export type Failure =
  | 'certificate expired'
  | 'certificate for another name'
  | 'certificate untrusted'
  | 'connection cut'
  | 'connect timeout'
  | 'dns unavailable'
  | 'no answer'
  | 'not http'
  | 'plain http'
  | 'refused'
  | 'tls'
  | 'unknown'
  | 'unknown host'
  | 'unreachable'

/** A failure's code from tokenctl's list, and whether trying again can help. */
const VERDICTS: Readonly<Record<Failure, {code: NetworkCode; retryable: boolean}>> = {
  'certificate expired': {code: 'tls_error', retryable: false},
  'certificate for another name': {code: 'tls_error', retryable: false},
  'certificate untrusted': {code: 'tls_error', retryable: false},
  // Reset, a closed socket, a broken pipe: a server restarting, a load balancer dropping a connection.
  'connection cut': {code: 'network_error', retryable: true},
  // Nothing was sent, but the user's --timeout is spent: another attempt would wait as long again.
  'connect timeout': {code: 'timeout', retryable: false},
  'dns unavailable': {code: 'network_error', retryable: true},
  'no answer': {code: 'timeout', retryable: false},
  'not http': {code: 'invalid_response', retryable: false},
  'plain http': {code: 'tls_error', retryable: false},
  // A server restarting, or one that is not up yet.
  refused: {code: 'network_error', retryable: true},
  tls: {code: 'tls_error', retryable: false},
  unknown: {code: 'network_error', retryable: false},
  'unknown host': {code: 'network_error', retryable: false},
  unreachable: {code: 'network_error', retryable: true},
}

const CUT = new Set(['ECONNABORTED', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED', 'UND_ERR_SOCKET'])
const UNREACHABLE = new Set(['EHOSTDOWN', 'EHOSTUNREACH', 'ENETDOWN', 'ENETUNREACH'])
const CONNECT_TIMEOUT = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT'])
const NO_ANSWER = new Set(['AbortError', 'TimeoutError', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT'])
const CERTIFICATE_FOR_ANOTHER_NAME = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH'])
const CERTIFICATE_EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID'])
const CERTIFICATE_UNTRUSTED = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/

/** Which failure a system code (and the message that came with it) is. */
export function classify(code: string, message: string): Failure {
  // OpenSSL read an http answer where a TLS record should be (Node's http says EPROTO, undici ERR_SSL_…).
  if (/wrong version number/i.test(message) || code === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'plain http'
  if (code === 'ECONNREFUSED') return 'refused'
  if (code === 'ENOTFOUND') return 'unknown host'
  if (code === 'EAI_AGAIN') return 'dns unavailable'
  if (CUT.has(code)) return 'connection cut'
  if (UNREACHABLE.has(code)) return 'unreachable'
  if (CONNECT_TIMEOUT.has(code)) return 'connect timeout'
  if (NO_ANSWER.has(code)) return 'no answer'
  if (CERTIFICATE_FOR_ANOTHER_NAME.has(code)) return 'certificate for another name'
  if (CERTIFICATE_EXPIRED.has(code)) return 'certificate expired'
  if (CERTIFICATE_UNTRUSTED.test(code)) return 'certificate untrusted'
  if (/^(EPROTO|ERR_SSL_|ERR_TLS_)/.test(code)) return 'tls'
  if (code.startsWith('HPE_')) return 'not http'
  return 'unknown'
}

interface SystemError {
  code?: unknown
  errors?: unknown
  message?: unknown
  name?: unknown
  reason?: unknown
}

/** A TokenctlError made inside the connection (a localhost name that resolves elsewhere: ./destination.ts), however deep fetch and openid-client wrapped it. */
function ownError(error: unknown): TokenctlError | undefined {
  for (let cause = error, depth = 0; cause && depth < 5; cause = (cause as Error).cause, depth++) {
    if (cause instanceof TokenctlError) return cause
  }

  return undefined
}

/**
 * The error that says what happened: the first with a code along the chain of causes (fetch's
 * "fetch failed" holds undici's, whose cause may hold Node's; openid-client's OAUTH_* codes are its
 * own wrappers), the first of an AggregateError's (one per address tried), or an AbortSignal's
 * timeout. The chain is followed a few links deep, never round a cycle.
 */
function systemError(error: unknown): SystemError | undefined {
  let current = error as SystemError | undefined
  for (let depth = 0; current && depth < 5; depth++) {
    if (typeof current.code === 'string' && !current.code.startsWith('OAUTH_')) return current
    // An AbortSignal's reason: a DOMException, whose numeric code says nothing.
    if (current.name === 'TimeoutError' || current.name === 'AbortError') return {code: current.name}
    if (Array.isArray(current.errors) && current.errors.length > 0) return systemError(current.errors[0])
    current = (current as {cause?: SystemError}).cause
  }

  return undefined
}

/** OpenSSL's message is `<hex>:error:<hex>:<library>:<function>:<reason>:<file>:<line>:`; only the reason says anything. */
function opensslReason(error: SystemError): string | undefined {
  if (typeof error.reason === 'string' && error.reason !== '') return error.reason
  return /error:[\dA-F]+:[^:]*:[^:]*:([^:]+):/i.exec(String(error.message))?.[1]
}

/** The system's own words: `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:8443`, `ERR_SSL_WRONG_VERSION_NUMBER: wrong version number`. */
export function failureReason(error: unknown): string {
  const own = ownError(error)
  if (own) return own.message
  const system = systemError(error)
  if (system === undefined) return error instanceof Error ? error.message : String(error)
  const code = String(system.code)
  if (code === 'TimeoutError' || code === 'AbortError') return 'timed out'
  const said = opensslReason(system) ?? (typeof system.message === 'string' ? system.message : '')
  return said === '' ? code : `${code}: ${said}`
}

/** host:port of a destination: the port the system tried when the URL names none. */
function hostPort(destination: Destination, system: SystemError | undefined): string {
  if (/:\d+$/.test(destination.host)) return destination.host
  const port = (system as {port?: unknown} | undefined)?.port
  return typeof port === 'number' ? `${destination.host}:${port}` : destination.host
}

function hostname(destination: Destination): string {
  const url = `http://${destination.host}`
  return URL.canParse(url) ? new URL(url).hostname : destination.host
}

/** The proxy variable that carried the request, if any: loopback never goes through one. */
function proxyOf(destination: Destination): string | undefined {
  return isLoopbackHost(hostname(destination)) ? undefined : proxyVariable()
}

function viaProxy(proxy: string): string {
  return `the request went through the proxy in ${proxy} (NO_PROXY lists hosts that bypass it): check that the proxy is up`
}

/** The one variable a proxy came from, as the user wrote it. */
function proxyValue(proxy: string): string {
  return String(process.env[proxy])
}

/** What to check next, for each failure: the advice fits the URL the user gave and the proxy in effect. */
function advice(failure: Failure, destination: Destination, system: SystemError | undefined): string[] {
  const {source} = destination
  const role = destination.role ?? 'the server'
  const proxy = proxyOf(destination)
  switch (failure) {
    case 'plain http': {
      const hint = isLoopbackHost(hostname(destination))
        ? `that port speaks http, not https: use http:// for ${source}`
        : `that port speaks http, not https: check the port in ${source} (plain http is only for this machine's loopback addresses)`
      const httpsProxy = proxy && /^https:/i.test(proxyValue(proxy)) ? [`or the proxy in ${proxy} speaks http: write it http://`] : []
      return [hint, ...httpsProxy]
    }

    case 'refused': {
      return [proxy ? viaProxy(proxy) : `nothing listens on ${hostPort(destination, system)}: check ${source} and its port, and that ${role} is running`]
    }

    case 'unknown host':
    case 'dns unavailable': {
      return proxy ? [`check the host name in ${source}`, viaProxy(proxy)] : [`check the host name ${hostname(destination)} in ${source}, and whether this network needs a proxy (HTTPS_PROXY)`]
    }

    case 'certificate untrusted': {
      return [`trust the server's CA with --ca-file PATH or NODE_EXTRA_CA_CERTS${proxy ? ` (or the CA of the proxy in ${proxy}, if it inspects TLS)` : ''}`]
    }

    case 'certificate for another name': {
      return [`the server's certificate does not name ${hostname(destination)}: check the host name in ${source}`]
    }

    case 'certificate expired': {
      return ["the server's certificate is expired or not valid yet: check this machine's clock, or have the certificate renewed"]
    }

    case 'connect timeout':
    case 'no answer': {
      const slow = proxy ? `${role} (or the proxy in ${proxy})` : role
      return [`raise --timeout (${destination.timeoutSeconds} s) if ${slow} is just slow`]
    }

    case 'not http': {
      return [`${hostPort(destination, system)} does not answer in HTTP: check the port in ${source}, and use https:// if it speaks TLS`]
    }

    case 'tls': {
      return [`check that ${hostPort(destination, system)} speaks https, and ${source}; a proxy that inspects TLS needs its CA in --ca-file`]
    }

    default: {
      const through = proxy ? `the proxy in ${proxy} (the request went through it; NO_PROXY lists hosts that bypass it)` : 'whether this network needs a proxy (HTTPS_PROXY)'
      return [`check ${source}, that ${role} is up, and ${through}; a proxy that inspects TLS needs its CA in --ca-file`]
    }
  }
}

function message(failure: Failure, destination: Destination, reason?: string): string {
  const name = destination.name ?? destination.host
  switch (failure) {
    case 'no answer': {
      return `no answer from ${name} within ${destination.timeoutSeconds} s`
    }

    case 'connect timeout': {
      return `could not connect to ${name} within ${destination.timeoutSeconds} s (${reason})`
    }

    case 'certificate expired':
    case 'certificate for another name':
    case 'certificate untrusted':
    case 'plain http':
    case 'tls': {
      return `TLS failure talking to ${name}: ${reason}`
    }

    case 'not http': {
      return `${name} answered something that is not HTTP (${reason})`
    }

    default: {
      return `cannot reach ${name}: ${reason}`
    }
  }
}

/** A request that got no answer, as tokenctl's error; one of tokenctl's own made on the way is reported as it is. */
export function connectionFailure(error: unknown, destination: Destination): TokenctlError {
  const own = ownError(error)
  if (own) return own
  const system = systemError(error)
  const failure = system ? classify(String(system.code), String(system.message)) : 'unknown'
  const {code, retryable} = VERDICTS[failure]
  return new NetworkError(message(failure, destination, failureReason(error)), code, {cause: error, retryable, suggestions: advice(failure, destination, system)})
}

/** The wait for an answer ran out (--timeout): never retried, the user's bound is spent. */
export function noAnswer(destination: Destination): NetworkError {
  return new NetworkError(message('no answer', destination), VERDICTS['no answer'].code, {suggestions: advice('no answer', destination, undefined)})
}

/**
 * An answer whose status the policy retries (./policy.ts), as the error that asks ./retry.ts for
 * another attempt, the server's Retry-After kept.
 */
export function unavailable(message: string, response: {headers: Headers; status: number}, options: {details?: ErrorDetails; serverError?: string} = {}): NetworkError {
  return new NetworkError(message, 'server_error', {
    details: options.details ?? {status: response.status},
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
    retryable: true,
    serverError: options.serverError,
  })
}

/** An answer larger than the policy reads (./policy.ts): the wrong thing, not something to hold. */
export function tooLarge(what: string, limit: number): NetworkError {
  return new NetworkError(`${what} is larger than ${limit / 1024} KiB: not what was asked for`, 'invalid_response')
}
