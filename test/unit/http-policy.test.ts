/**
 * The HTTP failure policy (src/lib/http/policy.ts) and what a failure to reach a server means in a
 * user's words (src/lib/http/failure.ts): the table of which statuses and methods each kind of request
 * retries, and, for each system code, tokenctl's code, whether it is retried, the message and the hint.
 * test/e2e/transport.test.ts proves the same sentences through the CLI against real servers.
 */
import {strict as assert} from 'node:assert'

import {ConfigError, NetworkError} from '../../src/lib/errors.js'
import {bodyStart, readBounded} from '../../src/lib/http/bodies.js'
import {classify, connectionFailure, type Destination, failureReason, noAnswer, tooLarge, unavailable} from '../../src/lib/http/failure.js'
import {HTTP_POLICY, mayRepeat, type RequestKind, retriesStatus, WAITS} from '../../src/lib/http/policy.js'

const KINDS: RequestKind[] = ['api', 'document', 'token']

/** An error shaped as Node or undici make it: a code, a message, maybe an OpenSSL reason and a port. */
function systemError(code: string, message = `${code} happened`, more: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), {code, ...more})
}

/** fetch's shape: a TypeError "fetch failed" whose cause is the system's error. */
function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', {cause})
}

const LOCAL: Destination = {host: '127.0.0.1:8443', source: 'the URL', timeoutSeconds: 7}
const REMOTE: Destination = {host: 'idp.example.com', source: 'the --issuer URL', timeoutSeconds: 30}

const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'] as const

describe('the HTTP failure policy', () => {
  let saved: Record<string, string | undefined>
  beforeEach(() => {
    saved = Object.fromEntries(PROXY_VARIABLES.map((name) => [name, process.env[name]]))
    for (const name of PROXY_VARIABLES) delete process.env[name]
  })
  afterEach(() => {
    for (const name of PROXY_VARIABLES) {
      if (saved[name] === undefined) delete process.env[name]
      else process.env[name] = saved[name]
    }
  })

  describe('the table: what each kind of request retries', () => {
    it('a token request and a document: 429 and every 5xx, nothing else', () => {
      for (const kind of ['token', 'document'] as const) {
        for (const status of [429, 500, 501, 502, 503, 504, 599]) assert.equal(retriesStatus(kind, status), true, `${kind} ${status}`)
        for (const status of [200, 301, 400, 401, 403, 404, 408, 409, 428, 430, 499, 600, 999]) assert.equal(retriesStatus(kind, status), false, `${kind} ${status}`)
      }
    })

    it("an API call: 429, 502, 503 and 504 only (a 500 is the API's answer, shown with exit 8)", () => {
      for (const status of [429, 502, 503, 504]) assert.equal(retriesStatus('api', status), true, String(status))
      for (const status of [200, 400, 401, 404, 408, 500, 501, 505, 599]) assert.equal(retriesStatus('api', status), false, String(status))
    })

    it('an API call repeats idempotent methods only, every method with --retry-all; a token request any', () => {
      for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE', 'get', 'Put']) assert.equal(mayRepeat('api', method), true, method)
      for (const method of ['POST', 'PATCH', 'CONNECT', 'PURGE']) {
        assert.equal(mayRepeat('api', method), false, method)
        assert.equal(mayRepeat('api', method, true), true, `${method} with --retry-all`)
      }

      assert.equal(mayRepeat('token', 'POST'), true)
      assert.equal(mayRepeat('document', 'GET'), true)
    })

    it('every kind waits alike: 3 retries, backoff from 250 ms, 60 s of waits at most', () => {
      assert.deepEqual(WAITS, {baseDelayMs: 250, maxTotalWaitMs: 60_000, retries: 3})
      for (const kind of KINDS) {
        const {baseDelayMs, maxTotalWaitMs, retries} = HTTP_POLICY[kind]
        assert.deepEqual({baseDelayMs, maxTotalWaitMs, retries}, WAITS, kind)
      }
    })

    it("reads at most 1 MiB of a token answer or a document; an API's body is streamed, never held", () => {
      assert.equal(HTTP_POLICY.token.maxBodyBytes, 1024 * 1024)
      assert.equal(HTTP_POLICY.document.maxBodyBytes, 1024 * 1024)
      assert.equal(HTTP_POLICY.api.maxBodyBytes, undefined)
    })
  })

  describe('each system code: which failure it is', () => {
    const table: Array<[string, string, ReturnType<typeof classify>]> = [
      ['ERR_SSL_WRONG_VERSION_NUMBER', '', 'plain http'],
      ['EPROTO', 'write EPROTO 80:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/ssl3_record.c:350:', 'plain http'],
      ['EPROTO', 'write EPROTO 80:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:', 'tls'],
      ['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', '', 'tls'],
      ['ERR_TLS_HANDSHAKE_TIMEOUT', '', 'tls'],
      ['ECONNREFUSED', '', 'refused'],
      ['ENOTFOUND', '', 'unknown host'],
      ['EAI_AGAIN', '', 'dns unavailable'],
      ['ECONNRESET', '', 'connection cut'],
      ['ECONNABORTED', '', 'connection cut'],
      ['EPIPE', '', 'connection cut'],
      ['UND_ERR_SOCKET', 'other side closed', 'connection cut'],
      ['UND_ERR_CLOSED', '', 'connection cut'],
      ['EHOSTUNREACH', '', 'unreachable'],
      ['ENETUNREACH', '', 'unreachable'],
      ['EHOSTDOWN', '', 'unreachable'],
      ['ENETDOWN', '', 'unreachable'],
      ['ETIMEDOUT', '', 'connect timeout'],
      ['UND_ERR_CONNECT_TIMEOUT', '', 'connect timeout'],
      ['UND_ERR_HEADERS_TIMEOUT', '', 'no answer'],
      ['UND_ERR_BODY_TIMEOUT', '', 'no answer'],
      ['TimeoutError', '', 'no answer'],
      ['AbortError', '', 'no answer'],
      ['ERR_TLS_CERT_ALTNAME_INVALID', '', 'certificate for another name'],
      ['HOSTNAME_MISMATCH', '', 'certificate for another name'],
      ['CERT_HAS_EXPIRED', '', 'certificate expired'],
      ['CERT_NOT_YET_VALID', '', 'certificate expired'],
      ['DEPTH_ZERO_SELF_SIGNED_CERT', '', 'certificate untrusted'],
      ['SELF_SIGNED_CERT_IN_CHAIN', '', 'certificate untrusted'],
      ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', '', 'certificate untrusted'],
      ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', '', 'certificate untrusted'],
      ['CERT_REVOKED', '', 'certificate untrusted'],
      ['HPE_INVALID_CONSTANT', '', 'not http'],
      ['HPE_INVALID_HEADER_TOKEN', '', 'not http'],
      ['EACCES', '', 'unknown'],
      ['X_ERR_TLS_Y', '', 'unknown'],
      ['NOT_EPROTO', '', 'unknown'],
      ['SOMETHING_NEW', '', 'unknown'],
      ['', '', 'unknown'],
    ]
    for (const [code, message, failure] of table) {
      it(`${code || '(no code)'}${message ? ` (${message.slice(0, 40)}…)` : ''}: ${failure}`, () => {
        assert.equal(classify(code, message), failure)
      })
    }
  })

  describe("each failure in a user's words (exit 6, with what to check)", () => {
    /** code, retryable, message and hint of what connectionFailure makes of `error`. */
    function said(error: unknown, destination = LOCAL) {
      const failure = connectionFailure(error, destination)
      assert.ok(failure instanceof NetworkError, String(failure))
      assert.equal(failure.exitCode, 6)
      return {code: failure.code, hint: failure.suggestions.join('; '), message: failure.message, retryable: failure.retryable}
    }

    it('an https URL to a port that speaks http (undici): "that port speaks http, not https: use http://", never retried', () => {
      assert.deepEqual(said(fetchFailed(systemError('ERR_SSL_WRONG_VERSION_NUMBER', '80:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:', {reason: 'wrong version number'}))), {
        code: 'tls_error',
        hint: 'that port speaks http, not https: use http:// for the URL',
        message: 'TLS failure talking to 127.0.0.1:8443: ERR_SSL_WRONG_VERSION_NUMBER: wrong version number',
        retryable: false,
      })
    })

    it("the same from node:https (EPROTO, the reason only in OpenSSL's message)", () => {
      const eproto = systemError('EPROTO', 'write EPROTO 802CCB66777F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n')
      assert.deepEqual(said(eproto), {
        code: 'tls_error',
        hint: 'that port speaks http, not https: use http:// for the URL',
        message: 'TLS failure talking to 127.0.0.1:8443: EPROTO: wrong version number',
        retryable: false,
      })
    })

    it('plain http to another machine is not offered: the port is what to check', () => {
      const {hint} = said(fetchFailed(systemError('ERR_SSL_WRONG_VERSION_NUMBER')), REMOTE)
      assert.equal(hint, "that port speaks http, not https: check the port in the --issuer URL (plain http is only for this machine's loopback addresses)")
    })

    it('plain http through an https:// proxy: the proxy variable may be the one to fix', () => {
      process.env.HTTPS_PROXY = 'https://proxy.example.com:3128'
      assert.match(said(fetchFailed(systemError('ERR_SSL_WRONG_VERSION_NUMBER')), REMOTE).hint, /; or the proxy in HTTPS_PROXY speaks http: write it http:\/\/$/)
      for (const value of ['http://proxy.example.com:3128', 'http://https.example.com:3128', 'http://proxy.example.com:3128/?via=https://x']) {
        process.env.HTTPS_PROXY = value
        assert.doesNotMatch(said(fetchFailed(systemError('ERR_SSL_WRONG_VERSION_NUMBER')), REMOTE).hint, /proxy/, value)
      }
    })

    it('ECONNREFUSED: "nothing listens on host:port", retried (a server restarting)', () => {
      assert.deepEqual(said(fetchFailed(systemError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8443'))), {
        code: 'network_error',
        hint: 'nothing listens on 127.0.0.1:8443: check the URL and its port, and that the server is running',
        message: 'cannot reach 127.0.0.1:8443: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:8443',
        retryable: true,
      })
    })

    it("ECONNREFUSED to a URL without a port names the port tried; the role is the caller's", () => {
      const refused = systemError('ECONNREFUSED', 'connect ECONNREFUSED 203.0.113.5:443', {port: 443})
      assert.equal(said(refused, {...REMOTE, role: 'the API'}).hint, 'nothing listens on idp.example.com:443: check the --issuer URL and its port, and that the API is running')
      assert.equal(said(systemError('ECONNREFUSED'), REMOTE).hint, 'nothing listens on idp.example.com: check the --issuer URL and its port, and that the server is running')
      // The URL's own port wins over the one reported (through a resolver, another address's); an IPv6 literal has colons of its own.
      assert.match(said(systemError('ECONNREFUSED', 'x', {port: 9999})).hint, /^nothing listens on 127\.0\.0\.1:8443: check/)
      assert.match(said(systemError('ECONNREFUSED', 'x', {port: 9999}), {...LOCAL, host: 'localhost:10443'}).hint, /^nothing listens on localhost:10443: check/)
      assert.match(said(systemError('ECONNREFUSED', 'x', {port: 443}), {...LOCAL, host: '[::1]'}).hint, /^nothing listens on \[::1\]:443: check/)
      assert.match(said(systemError('ECONNREFUSED', 'x', {port: 443}), {...LOCAL, host: '[::1]:8443'}).hint, /^nothing listens on \[::1\]:8443: check/)
    })

    it('ECONNREFUSED through a proxy: the proxy is what refused', () => {
      process.env.HTTPS_PROXY = 'http://127.0.0.1:9'
      assert.equal(said(systemError('ECONNREFUSED'), REMOTE).hint, 'the request went through the proxy in HTTPS_PROXY (NO_PROXY lists hosts that bypass it): check that the proxy is up')
      // Loopback never goes through a proxy: no proxy is blamed for it.
      assert.match(said(systemError('ECONNREFUSED'), LOCAL).hint, /^nothing listens on 127\.0\.0\.1:8443/)
    })

    it('ENOTFOUND names the host name, never retried; EAI_AGAIN (the resolver did not answer) is', () => {
      const notFound = said(fetchFailed(systemError('ENOTFOUND', 'getaddrinfo ENOTFOUND idp.example.com')), REMOTE)
      assert.deepEqual(notFound, {
        code: 'network_error',
        hint: 'check the host name idp.example.com in the --issuer URL, and whether this network needs a proxy (HTTPS_PROXY)',
        message: 'cannot reach idp.example.com: ENOTFOUND: getaddrinfo ENOTFOUND idp.example.com',
        retryable: false,
      })
      assert.deepEqual(said(systemError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN idp.example.com'), REMOTE), {
        code: 'network_error',
        hint: 'check the host name idp.example.com in the --issuer URL, and whether this network needs a proxy (HTTPS_PROXY)',
        message: 'cannot reach idp.example.com: EAI_AGAIN: getaddrinfo EAI_AGAIN idp.example.com',
        retryable: true,
      })
      process.env.http_proxy = 'http://proxy.example.com:3128'
      assert.equal(
        said(systemError('ENOTFOUND'), REMOTE).hint,
        'check the host name in the --issuer URL; the request went through the proxy in http_proxy (NO_PROXY lists hosts that bypass it): check that the proxy is up',
      )
    })

    it("an unknown CA names --ca-file and NODE_EXTRA_CA_CERTS (and the proxy's CA when a proxy may inspect TLS), never retried", () => {
      for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']) {
        assert.deepEqual(said(fetchFailed(systemError(code, 'self-signed certificate')), REMOTE), {
          code: 'tls_error',
          hint: "trust the server's CA with --ca-file PATH or NODE_EXTRA_CA_CERTS",
          message: `TLS failure talking to idp.example.com: ${code}: self-signed certificate`,
          retryable: false,
        })
      }

      process.env.HTTPS_PROXY = 'http://proxy.example.com:3128'
      assert.equal(
        said(systemError('SELF_SIGNED_CERT_IN_CHAIN'), REMOTE).hint,
        "trust the server's CA with --ca-file PATH or NODE_EXTRA_CA_CERTS (or the CA of the proxy in HTTPS_PROXY, if it inspects TLS)",
      )
    })

    it('a certificate for another name, or out of its dates: what to check instead of a CA, never retried', () => {
      assert.deepEqual(said(systemError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"), REMOTE), {
        code: 'tls_error',
        hint: "the server's certificate does not name idp.example.com: check the host name in the --issuer URL",
        message: "TLS failure talking to idp.example.com: ERR_TLS_CERT_ALTNAME_INVALID: Hostname/IP does not match certificate's altnames",
        retryable: false,
      })
      assert.deepEqual(said(systemError('CERT_HAS_EXPIRED', 'certificate has expired'), REMOTE), {
        code: 'tls_error',
        hint: "the server's certificate is expired or not valid yet: check this machine's clock, or have the certificate renewed",
        message: 'TLS failure talking to idp.example.com: CERT_HAS_EXPIRED: certificate has expired',
        retryable: false,
      })
    })

    it('another TLS failure: check that the port speaks https', () => {
      assert.deepEqual(said(systemError('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'x', {reason: 'sslv3 alert handshake failure'})), {
        code: 'tls_error',
        hint: 'check that 127.0.0.1:8443 speaks https, and the URL; a proxy that inspects TLS needs its CA in --ca-file',
        message: 'TLS failure talking to 127.0.0.1:8443: ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: sslv3 alert handshake failure',
        retryable: false,
      })
    })

    it("a timeout names --timeout and is never retried: the user's bound is spent", () => {
      const headers = said(fetchFailed(systemError('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error')))
      assert.deepEqual(headers, {code: 'timeout', hint: 'raise --timeout (7 s) if the server is just slow', message: 'no answer from 127.0.0.1:8443 within 7 s', retryable: false})
      const aborted = said(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), {...REMOTE, name: 'the GitHub Actions runner (idp.example.com)', role: 'the runner'})
      assert.deepEqual(aborted, {
        code: 'timeout',
        hint: 'raise --timeout (30 s) if the runner is just slow',
        message: 'no answer from the GitHub Actions runner (idp.example.com) within 30 s',
        retryable: false,
      })
      const connect = said(fetchFailed(systemError('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error')))
      assert.deepEqual(connect, {
        code: 'timeout',
        hint: 'raise --timeout (7 s) if the server is just slow',
        message: 'could not connect to 127.0.0.1:8443 within 7 s (UND_ERR_CONNECT_TIMEOUT: Connect Timeout Error)',
        retryable: false,
      })
      process.env.HTTPS_PROXY = 'http://proxy.example.com:3128'
      assert.equal(said(systemError('UND_ERR_HEADERS_TIMEOUT'), REMOTE).hint, 'raise --timeout (30 s) if the server (or the proxy in HTTPS_PROXY) is just slow')
      assert.deepEqual(noAnswer({...LOCAL, role: 'the API'}).suggestions, ['raise --timeout (7 s) if the API is just slow'])
      assert.equal(noAnswer(LOCAL).message, 'no answer from 127.0.0.1:8443 within 7 s')
      assert.equal(noAnswer(LOCAL).code, 'timeout')
      assert.equal(noAnswer(LOCAL).retryable, false)
    })

    it('a cut connection and an unreachable network are retried; the hint says what to check', () => {
      for (const code of ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'EHOSTUNREACH', 'ENETUNREACH']) {
        assert.deepEqual(said(systemError(code, 'other side closed')), {
          code: 'network_error',
          hint: 'check the URL, that the server is up, and whether this network needs a proxy (HTTPS_PROXY); a proxy that inspects TLS needs its CA in --ca-file',
          message: `cannot reach 127.0.0.1:8443: ${code}: other side closed`,
          retryable: true,
        })
      }

      process.env.HTTPS_PROXY = 'http://proxy.example.com:3128'
      assert.equal(
        said(systemError('ECONNRESET'), REMOTE).hint,
        'check the --issuer URL, that the server is up, and the proxy in HTTPS_PROXY (the request went through it; NO_PROXY lists hosts that bypass it); a proxy that inspects TLS needs its CA in --ca-file',
      )
    })

    it('an answer that is not HTTP: the port is what to check, not retried', () => {
      assert.deepEqual(said(systemError('HPE_INVALID_CONSTANT', 'Expected HTTP/')), {
        code: 'invalid_response',
        hint: '127.0.0.1:8443 does not answer in HTTP: check the port in the URL, and use https:// if it speaks TLS',
        message: '127.0.0.1:8443 answered something that is not HTTP (HPE_INVALID_CONSTANT: Expected HTTP/)',
        retryable: false,
      })
    })

    it('a failure without a code we know: reported with its message, not retried', () => {
      assert.deepEqual(said(new Error('something odd')), {
        code: 'network_error',
        hint: 'check the URL, that the server is up, and whether this network needs a proxy (HTTPS_PROXY); a proxy that inspects TLS needs its CA in --ca-file',
        message: 'cannot reach 127.0.0.1:8443: something odd',
        retryable: false,
      })
      assert.equal(said(systemError('EACCES', 'permission denied')).message, 'cannot reach 127.0.0.1:8443: EACCES: permission denied')
      assert.equal(said(systemError('ENOTFOUND')).retryable, false)
    })

    it("the code is found however deep it is: fetch's cause, an AggregateError of every address tried, openid-client's wrapper", () => {
      const aggregate = Object.assign(new AggregateError([systemError('ECONNREFUSED', 'connect ECONNREFUSED ::1:8443'), systemError('ECONNREFUSED')]), {})
      assert.equal(said(fetchFailed(aggregate)).message, 'cannot reach 127.0.0.1:8443: ECONNREFUSED: connect ECONNREFUSED ::1:8443')
      const wrapped = Object.assign(new Error('something failed'), {code: 'OAUTH_RESPONSE_IS_NOT_CONFORM', cause: fetchFailed(systemError('ECONNRESET'))})
      assert.equal(said(wrapped).message, 'cannot reach 127.0.0.1:8443: ECONNRESET: ECONNRESET happened')
      const openidTimeout = Object.assign(new Error('operation timed out'), {code: 'OAUTH_TIMEOUT', cause: new DOMException('signal timed out', 'TimeoutError')})
      assert.equal(said(openidTimeout).message, 'no answer from 127.0.0.1:8443 within 7 s')
      const emptyAggregate = new AggregateError([], 'all failed', {cause: systemError('ECONNRESET')})
      assert.equal(said(emptyAggregate).message, 'cannot reach 127.0.0.1:8443: ECONNRESET: ECONNRESET happened')
    })

    it('a cycle of causes ends: the chain is followed a few links deep', () => {
      const cyclic: Error & {cause?: unknown} = new Error('round and round')
      cyclic.cause = cyclic
      assert.equal(said(cyclic).message, 'cannot reach 127.0.0.1:8443: round and round')
      assert.equal(failureReason(cyclic), 'round and round')
    })

    it("tokenctl's own refusal made inside the connection (a localhost name resolving elsewhere) is reported as it is", () => {
      const refusal = new ConfigError('evil.localhost resolves to 203.0.113.5', 'not_loopback')
      assert.equal(connectionFailure(fetchFailed(refusal), LOCAL), refusal)
      assert.equal(connectionFailure(refusal, LOCAL), refusal)
      assert.equal(failureReason(fetchFailed(refusal)), refusal.message)
    })

    it("failureReason (what --verbose shows of a failed exchange): the code and the system's words, OpenSSL's reason alone", () => {
      assert.equal(failureReason(fetchFailed(systemError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'))), 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1')
      assert.equal(failureReason(systemError('EPROTO', 'write EPROTO 80:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../x.c:1:')), 'EPROTO: wrong version number')
      assert.equal(failureReason(systemError('UND_ERR_SOCKET', '')), 'UND_ERR_SOCKET')
      assert.equal(failureReason(new DOMException('aborted', 'AbortError')), 'timed out')
      assert.equal(failureReason(new DOMException('signal timed out', 'TimeoutError')), 'timed out')
      assert.equal(failureReason({code: 'ECONNRESET'}), 'ECONNRESET')
      assert.equal(failureReason(systemError('ERR_SSL_X', '80:error:0A000126:SSL routines::unexpected eof while reading:', {reason: ''})), 'ERR_SSL_X: unexpected eof while reading')
      assert.equal(failureReason(new Error('plain')), 'plain')
      assert.equal(failureReason('a string'), 'a string')
    })
  })

  describe('answers the policy retries, and answers too large to read', () => {
    it("unavailable: a retryable server_error with the status and the server's Retry-After", () => {
      const plain = unavailable('the JWKS is unavailable (HTTP 503)', {headers: new Headers({'retry-after': '7'}), status: 503})
      assert.equal(plain.code, 'server_error')
      assert.equal(plain.kind, 'server_error')
      assert.equal(plain.retryable, true)
      assert.equal(plain.retryAfterMs, 7000)
      assert.deepEqual(plain.details, {status: 503})
      assert.equal(unavailable('x', {headers: new Headers(), status: 502}).retryAfterMs, undefined)
    })

    it("an OAuth error sent with it becomes the code (as the README says of any code a server sends); tokenctl's kind is kept", () => {
      const oauth = unavailable('busy', {headers: new Headers(), status: 503}, {details: {description: 'try later', status: 503}, serverError: 'temporarily_unavailable'})
      assert.equal(oauth.code, 'temporarily_unavailable')
      assert.equal(oauth.kind, 'server_error')
      assert.deepEqual(oauth.details, {description: 'try later', status: 503})
      const located = oauth.at('discovery: http://127.0.0.1/x')
      assert.deepEqual(
        {code: located.code, kind: located.kind, message: located.message, retryAfterMs: located.retryAfterMs, retryable: located.retryable},
        {code: 'temporarily_unavailable', kind: 'server_error', message: 'busy (discovery: http://127.0.0.1/x)', retryAfterMs: undefined, retryable: true},
      )
      assert.equal(located.cause, oauth)
      assert.deepEqual(located.details, oauth.details)
    })

    it('tooLarge: invalid_response, never retried, naming the bound', () => {
      const error = tooLarge('the answer from http://127.0.0.1/jwks', 1024 * 1024)
      assert.deepEqual(
        {code: error.code, message: error.message, retryable: error.retryable},
        {
          code: 'invalid_response',
          message: 'the answer from http://127.0.0.1/jwks is larger than 1024 KiB: not what was asked for',
          retryable: false,
        },
      )
    })

    /** A body of `chunks` chunks of `size` bytes, counting how many were pulled. */
    function stream(chunks: number, size: number): {body: ReadableStream<Uint8Array>; pulled: () => number} {
      let pulled = 0
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulled === chunks) {
            controller.close()
            return
          }

          pulled++
          controller.enqueue(new Uint8Array(size).fill(0x61))
        },
      })
      return {body, pulled: () => pulled}
    }

    it('readBounded: a body up to the bound is read whole, status and headers kept', async () => {
      const response = await readBounded(new Response(stream(4, 256).body, {headers: {'x-kept': 'yes'}, status: 201, statusText: 'Made'}), 1024, 'the answer')
      assert.equal(response.status, 201)
      assert.equal(response.statusText, 'Made')
      assert.equal(response.headers.get('x-kept'), 'yes')
      assert.equal(await response.text(), 'a'.repeat(1024))
    })

    it('readBounded: one byte beyond the bound fails with tooLarge, and the rest is not pulled', async () => {
      const over = stream(1000, 256)
      await assert.rejects(
        readBounded(new Response(over.body), 1024, 'the answer from X'),
        (error: unknown) => error instanceof NetworkError && error.code === 'invalid_response' && /^the answer from X is larger than 1 KiB/.test(error.message),
      )
      assert.ok(over.pulled() < 10, `pulled ${over.pulled()} chunks`)
      await assert.rejects(readBounded(new Response(new Uint8Array(1025)), 1024, 'the answer'), NetworkError)
      assert.equal((await (await readBounded(new Response(new Uint8Array(1024)), 1024, 'the answer')).arrayBuffer()).byteLength, 1024)
    })

    it('readBounded: a Content-Length beyond the bound is refused before any byte is read', async () => {
      const announced = stream(1000, 256)
      const response = new Response(announced.body, {headers: {'content-length': '1025'}})
      await assert.rejects(readBounded(response, 1024, 'the answer'), (error: unknown) => error instanceof NetworkError && error.code === 'invalid_response')
      assert.equal(announced.pulled(), 0)
      const exact = new Response('a'.repeat(1024), {headers: {'content-length': '1024'}})
      assert.equal(await (await readBounded(exact, 1024, 'the answer')).text(), 'a'.repeat(1024))
    })

    it('readBounded: an answer without a body is an empty one', async () => {
      const empty = await readBounded(new Response(null, {status: 204}), 1024, 'the answer')
      assert.deepEqual([empty.status, empty.body, await empty.text()], [204, null, ''])
    })

    it("readBounded: a status no Response can be made with (a server's 1xx or 999) is kept, its body held to the bound", async () => {
      for (const status of [101, 199, 600, 999]) {
        const odd = {body: stream(1, 10).body, headers: new Headers(), status, statusText: ''} as unknown as Response
        const read = await readBounded(odd, 1024, 'the answer')
        assert.deepEqual([read.status, (await read.text()).length], [status, 10], String(status))
      }

      const large = {body: stream(5, 256).body, headers: new Headers(), status: 999, statusText: ''} as unknown as Response
      await assert.rejects(readBounded(large, 1024, 'the answer'), NetworkError)
    })

    it('readBounded: a connection that closes in the middle of the answer fails the request as a cut connection (retried), in the words of the straight way', async () => {
      const cut = new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.error(new TypeError('terminated', {cause: Object.assign(new Error('other side closed'), {code: 'UND_ERR_SOCKET'})}))
        },
      })
      await assert.rejects(
        readBounded(new Response(cut), 1024, 'the answer'),
        (error: Error) => error instanceof TypeError && error.message === 'fetch failed' && (error.cause as NodeJS.ErrnoException).code === 'ECONNRESET',
      )
      const timedOut = new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.error(new TypeError('terminated', {cause: Object.assign(new Error('Body Timeout Error'), {code: 'UND_ERR_BODY_TIMEOUT'})}))
        },
      })
      await assert.rejects(
        readBounded(new Response(timedOut), 1024, 'the answer'),
        (error: Error) => (error.cause as NodeJS.ErrnoException).code === 'UND_ERR_BODY_TIMEOUT',
        'another failure as it came',
      )
    })

    it('bodyStart: the first bytes of an error page, the rest never pulled, the body cancelled', async () => {
      let cancelled = false
      let pulled = 0
      const page = new ReadableStream<Uint8Array>(
        {
          cancel() {
            cancelled = true
          },
          pull(controller) {
            pulled++
            controller.enqueue(new Uint8Array(1000).fill(0x61))
          },
        },
        {highWaterMark: 0},
      )
      assert.equal(await bodyStart(new Response(page), 2000), 'a'.repeat(2000))
      assert.equal(pulled, 2, 'exactly the chunks that hold the first 2000 bytes')
      assert.equal(cancelled, true)
      assert.equal(await bodyStart(new Response(stream(3, 1000).body), 2500), 'a'.repeat(2500))
      assert.equal(await bodyStart(new Response('short'), 2500), 'short')
      assert.equal(await bodyStart(new Response(null, {status: 204}), 10), '')
    })
  })
})
