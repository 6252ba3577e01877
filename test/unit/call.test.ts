/**
 * `tokenctl call`'s client (src/lib/http/call.ts) and the dispatcher every other request goes
 * through (src/lib/http/dispatcher.ts), in the test process against servers of its own: what is
 * sent (headers, method, body, the bearer token), what comes back, one renewal on a 401 however
 * often the API refuses, retries only where the api policy allows them, a claims challenge, and
 * loopback never through a proxy while everything else is. test/e2e/call.test.ts runs the CLI.
 */
import {strict as assert} from 'node:assert'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {createServer as createHttpsServer} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {text} from 'node:stream/consumers'

import {ConfigError, NetworkError, ReauthenticationRequiredError, UsageError} from '../../src/lib/errors.js'
import {
  callApi,
  type CallOptions,
  type CallRequest,
  challengeOf,
  defaultContentType,
  type DpopProver,
  parseHeaders,
  parseMethod,
  refusalOf,
  type SentToken,
  type TokenSource,
} from '../../src/lib/http/call.js'
import {createDispatcher, proxyVariable, trustedCas} from '../../src/lib/http/dispatcher.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {startProxy, type TestProxy} from '../helpers/proxy.js'
import {requireTestPki, type TestPki} from '../helpers/tls.js'

interface Seen {
  body: string
  headers: IncomingMessage['headers']
  method: string
  url: string
}

type Answer = (request: IncomingMessage, response: ServerResponse, seen: Seen) => void

/** A loopback API that records every request and answers with the next of `answers` (the last one repeats). */
async function startApi(...answers: Answer[]) {
  const seen: Seen[] = []
  // A client that goes away mid-request only ends that request.
  const server: Server = createServer((request, response) => {
    text(request)
      .then((body) => {
        const record = {body, headers: request.headers, method: request.method ?? '', url: request.url ?? ''}
        seen.push(record)
        answers[Math.min(seen.length, answers.length) - 1](request, response, record)
      })
      .catch(() => response.destroy())
  })
  const port = await listenOnLoopback(server)
  return {port, seen, stop: () => closeServer(server), url: new URL(`http://127.0.0.1:${port}/things?x=1`)}
}

const ok: Answer = (_request, response, seen) => {
  response.setHeader('set-cookie', ['a=1', 'b=2'])
  response.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({method: seen.method}))
}

const status =
  (code: number, headers: Record<string, string> = {}): Answer =>
  (_request, response) =>
    response.writeHead(code, headers).end(`status ${code}`)

const OPTIONS: CallOptions = {retries: 0, timeoutSeconds: 5}

const bearer = (token: string): SentToken => ({token, type: 'Bearer'})

function source(tokens: string[] = ['t1'], renewals: string[] = ['t2']): TokenSource & {renewed: number} {
  const counted = {
    renewed: 0,
    async renew() {
      counted.renewed++
      return bearer(renewals[counted.renewed - 1] ?? 'later')
    },
    token: async () => bearer(tokens[0]),
  }
  return counted
}

const get = (url: URL, fields: Partial<CallRequest> = {}): CallRequest => ({headers: [], method: 'GET', url, ...fields})

describe('call: what the command line gives', () => {
  it('-H pairs: name and value trimmed, a value may hold colons, a tab, Latin-1', () => {
    assert.deepEqual(parseHeaders(['Accept: application/json', ' X-Trace :  a:b:c ', 'X-Tab: a\tb', 'X-Latin: caf\u00E9', 'X-Empty:']), [
      ['Accept', 'application/json'],
      ['X-Trace', 'a:b:c'],
      ['X-Tab', 'a\tb'],
      ['X-Latin', 'caf\u00E9'],
      ['X-Empty', ''],
    ])
    assert.deepEqual(parseHeaders(), [])
  })

  it('a malformed -H is named by its position and its start, never its value', () => {
    const long = `${'N'.repeat(50)} secret-value`
    const cases: Array<[string[], string]> = [
      [['Accept: x', 'no-colon-here'], `malformed header #2 ("no-colon-here…"): expected -H 'Name: value'`],
      [[': value'], `malformed header #1 ("…"): expected -H 'Name: value'`],
      [['Bad Name: value'], `malformed header #1 ("Bad…"): expected -H 'Name: value'`],
      [[long], `malformed header #1 ("${'N'.repeat(40)}…"): expected -H 'Name: value'`],
      [['X(y): v'], `malformed header #1 ("X(y)…"): expected -H 'Name: value'`],
    ]
    for (const [values, message] of cases)
      assert.throws(
        () => parseHeaders(values),
        (error: Error) => error instanceof UsageError && error.message === message,
      )
  })

  it('a value no header can carry (CR, LF, NUL, DEL, beyond Latin-1) is refused, naming the header only', () => {
    for (const value of ['a\r\nInjected: 1', 'a\nb', 'a\u0000', 'a\u007F', 'snow\u2603', 'a\u001Bb']) {
      assert.throws(
        () => parseHeaders(['Accept: ok', `X-Bad: ${value}`]),
        (error: UsageError) => {
          assert.ok(error instanceof UsageError)
          assert.equal(error.message, 'header #2 (X-Bad) has a character no header can carry (CR, LF or another control character, or beyond Latin-1)')
          assert.equal(error.code, 'usage_error')
          assert.deepEqual(error.suggestions, ['one -H per header; encode the value (base64, percent-encoding) if it is binary'])
          return true
        },
        JSON.stringify(value),
      )
    }
  })

  it('-X is a method token, upper-cased; a request line is refused with its start', () => {
    assert.equal(parseMethod('patch'), 'PATCH')
    assert.equal(parseMethod('PROPFIND'), 'PROPFIND')
    const line = `GET /path HTTP/1.1${'x'.repeat(40)}`
    assert.throws(
      () => parseMethod(line),
      (error: UsageError) => {
        assert.ok(error instanceof UsageError)
        assert.equal(error.message, `-X takes an HTTP method such as GET, POST or PATCH, not "${line.slice(0, 40)}"`)
        assert.equal(error.code, 'usage_error')
        assert.deepEqual(error.suggestions, ['put the path in the URL: tokenctl call https://host/path -X METHOD'])
        return true
      },
    )
    assert.throws(() => parseMethod(''), UsageError)
  })

  it("curl's content type: JSON for an object or array, a form for anything else, octet-stream for a file or stdin", () => {
    assert.equal(defaultContentType({data: '{"a":1}', kind: 'data'}), 'application/json')
    assert.equal(defaultContentType({data: ' \n[1,2]', kind: 'data'}), 'application/json')
    assert.equal(defaultContentType({data: '42', kind: 'data'}), 'application/x-www-form-urlencoded')
    assert.equal(defaultContentType({data: '"text"', kind: 'data'}), 'application/x-www-form-urlencoded')
    assert.equal(defaultContentType({data: '"{in a string}"', kind: 'data'}), 'application/x-www-form-urlencoded')
    assert.equal(defaultContentType({data: 'a=1&b=2', kind: 'data'}), 'application/x-www-form-urlencoded')
    assert.equal(defaultContentType({data: '{not json', kind: 'data'}), 'application/x-www-form-urlencoded')
    assert.equal(defaultContentType({kind: 'file', path: 'x'}), 'application/octet-stream')
    assert.equal(defaultContentType({kind: 'stdin'}), 'application/octet-stream')
  })
})

describe('call: one request to an API', () => {
  const home = mkdtempSync(join(tmpdir(), 'tokenctl-call-'))
  after(() => rmSync(home, {force: true, recursive: true}))

  it('sends the method, the bearer token, the headers (by lower-case name) and the body; hands back status, headers and body', async () => {
    const api = await startApi(ok)
    try {
      const request = get(api.url, {
        body: {data: '{"n":1}', kind: 'data'},
        headers: [
          ['X-One', '1'],
          ['Authorization', 'Basic nope'],
        ],
        method: 'POST',
      })
      const response = await callApi(request, source(['the-token']), OPTIONS)
      assert.equal(response.status, 200)
      assert.equal(response.statusText, 'OK')
      assert.deepEqual(JSON.parse(await text(response.body)), {method: 'POST'})
      assert.deepEqual(
        response.headers.filter(([name]) => name.toLowerCase() === 'set-cookie'),
        [
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
        ],
      )
      const [seen] = api.seen
      assert.equal(seen.method, 'POST')
      assert.equal(seen.url, '/things?x=1')
      assert.equal(seen.headers.authorization, 'Bearer the-token')
      assert.equal(seen.headers['x-one'], '1')
      assert.equal(seen.headers['content-type'], 'application/json')
      assert.equal(seen.body, '{"n":1}')
    } finally {
      await api.stop()
    }
  })

  it('a content type given is kept; a file is streamed as octet-stream, opened afresh for a retry; no body, no content type', async () => {
    const file = join(home, 'upload.bin')
    writeFileSync(file, 'file bytes')
    const api = await startApi(status(503, {'retry-after': '0'}), ok)
    try {
      await callApi(get(api.url, {body: {kind: 'file', path: file}, method: 'PUT'}), source(), {...OPTIONS, retries: 1})
      assert.deepEqual(
        api.seen.map((seen) => [seen.method, seen.body, seen.headers['content-type']]),
        [
          ['PUT', 'file bytes', 'application/octet-stream'],
          ['PUT', 'file bytes', 'application/octet-stream'],
        ],
      )
      await callApi(get(api.url, {body: {data: 'a=1', kind: 'data'}, headers: [['Content-Type', 'text/plain']], method: 'POST'}), source(), OPTIONS)
      assert.equal(api.seen[2].headers['content-type'], 'text/plain')
      await callApi(get(api.url), source(), OPTIONS)
      assert.equal(api.seen[3].headers['content-type'], undefined)
    } finally {
      await api.stop()
    }
  })

  it('a 401 renews the token once and tries again with the new one, saying why', async () => {
    const api = await startApi(status(401, {'www-authenticate': 'Bearer realm="api", error="invalid_token"'}), ok)
    const why: string[] = []
    try {
      const tokens = source(['old'], ['new'])
      const response = await callApi(get(api.url), tokens, {...OPTIONS, onRenewal: (reason) => why.push(reason)})
      assert.equal(response.status, 200)
      assert.equal(tokens.renewed, 1)
      assert.deepEqual(why, ['401 Unauthorized, invalid_token'])
      assert.deepEqual(
        api.seen.map((seen) => seen.headers.authorization),
        ['Bearer old', 'Bearer new'],
      )
    } finally {
      await api.stop()
    }

    // No one listening for the renewal (a library use) is no reason to fail.
    const again = await startApi(status(401), ok)
    try {
      const tokens = source()
      assert.equal((await callApi(get(again.url), tokens, OPTIONS)).status, 200)
      assert.equal(tokens.renewed, 1)
    } finally {
      await again.stop()
    }
  })

  it('an API that answers 401 to every token gets exactly one renewal, then its 401 back (retries or not)', async () => {
    const api = await startApi(status(401))
    const why: string[] = []
    try {
      const tokens = source()
      const response = await callApi(get(api.url), tokens, {...OPTIONS, onRenewal: (reason) => why.push(reason), retries: 3})
      assert.equal(response.status, 401)
      assert.equal(await text(response.body), 'status 401')
      assert.equal(tokens.renewed, 1)
      assert.equal(api.seen.length, 2)
      assert.deepEqual(why, ['401 Unauthorized'])
    } finally {
      await api.stop()
    }
  })

  it("the renewal's reason reads the bearer challenge's error quoted or not", async () => {
    for (const value of ['Bearer error=expired_token', 'Bearer realm="api", error="expired_token", error_description="old"']) {
      const api = await startApi(status(401, {'www-authenticate': value}), ok)
      const why: string[] = []
      try {
        await callApi(get(api.url), source(), {...OPTIONS, onRenewal: (reason) => why.push(reason)})
        assert.deepEqual(why, ['401 Unauthorized, expired_token'], value)
      } finally {
        await api.stop()
      }
    }

    // A status line without a reason phrase: the status alone, no trailing space.
    const bare = await startApi((_request, response) => response.writeHead(401, '').end(), ok)
    const why: string[] = []
    try {
      await callApi(get(bare.url), source(), {...OPTIONS, onRenewal: (reason) => why.push(reason)})
      assert.deepEqual(why, ['401'])
    } finally {
      await bare.stop()
    }
  })

  it('a source that cannot renew gets the 401 back after one request', async () => {
    const api = await startApi(status(401))
    try {
      const response = await callApi(get(api.url), {token: async () => bearer('fixed')}, OPTIONS)
      assert.equal(response.status, 401)
      assert.equal(api.seen.length, 1)
    } finally {
      await api.stop()
    }
  })

  it('a claims challenge is a reauthentication error with the claims decoded (or as sent, when not JSON), never a renewal', async () => {
    const claims = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
    const challenge = (value: string) => status(401, {'www-authenticate': `Bearer realm="", error="insufficient_claims", claims="${value}"`})
    const unquoted: Answer = status(401, {'www-authenticate': 'Bearer error=insufficient_claims'})
    for (const [answer, sent, expected] of [
      [challenge(Buffer.from(claims).toString('base64')), 'base64', claims],
      [challenge(Buffer.from(` \n${claims}`).toString('base64')), 'base64', ` \n${claims}`],
      [challenge(Buffer.from('not json').toString('base64')), 'base64', Buffer.from('not json').toString('base64')],
      [challenge(''), '', ''],
      [unquoted, 'none', undefined],
    ] as Array<[Answer, string, string | undefined]>) {
      const api = await startApi(answer)
      try {
        const tokens = source()
        await assert.rejects(callApi(get(api.url), tokens, OPTIONS), (error: ReauthenticationRequiredError) => {
          assert.ok(error instanceof ReauthenticationRequiredError)
          assert.equal(error.code, 'insufficient_claims')
          assert.equal(error.message, 'the API wants more claims than the token has (insufficient_claims)')
          assert.deepEqual(error.details, {claims: expected, status: 401}, sent)
          assert.deepEqual(error.suggestions, ['sign the user in again requesting these claims (the claims challenge below), then retry'])
          return true
        })
        assert.equal(tokens.renewed, 0)
      } finally {
        await api.stop()
      }
    }
  })

  it("retries 503 for GET as often as asked, and a POST only with --retry-all; a 500 is the API's answer", async () => {
    const busy = status(503, {'retry-after': '0'})
    const api = await startApi(busy, busy, ok)
    const progress: unknown[] = []
    try {
      const response = await callApi(get(api.url), source(), {...OPTIONS, retries: 2}, {progress: (event) => progress.push(event)})
      assert.equal(response.status, 200)
      assert.equal(api.seen.length, 3)
      assert.ok(
        progress.some((event) => (event as {state: string}).state === 'retry'),
        JSON.stringify(progress),
      )
      assert.deepEqual(progress[0], {message: `calling 127.0.0.1:${api.port}`, state: 'request'})
      assert.deepEqual(progress[1], {state: 'done'})
    } finally {
      await api.stop()
    }

    const post = await startApi(busy, ok)
    try {
      assert.equal((await callApi(get(post.url, {method: 'POST'}), source(), {...OPTIONS, retries: 2})).status, 503)
      assert.equal(post.seen.length, 1)
      assert.equal((await callApi(get(post.url, {method: 'POST'}), source(), {...OPTIONS, retries: 2, retryAll: true})).status, 200)
      assert.equal(post.seen.length, 2)
    } finally {
      await post.stop()
    }

    const failing = await startApi(status(500))
    try {
      assert.equal((await callApi(get(failing.url), source(), {...OPTIONS, retries: 2})).status, 500)
      assert.equal(failing.seen.length, 1)
    } finally {
      await failing.stop()
    }
  })

  it('a Retry-After beyond the total wait ends the retries with the last answer', async () => {
    const api = await startApi(status(429, {'retry-after': '3600'}))
    try {
      assert.equal((await callApi(get(api.url), source(), {...OPTIONS, maxTotalWaitMs: 1000, retries: 3})).status, 429)
      assert.equal(api.seen.length, 1)
    } finally {
      await api.stop()
    }
  })

  it('traces each exchange with the token masked, and a failure with its message', async () => {
    const api = await startApi(ok)
    const traces: Array<Record<string, unknown>> = []
    try {
      await callApi(get(api.url, {headers: [['X-Plain', 'visible']]}), source(['secret-token-value']), OPTIONS, {trace: (event) => traces.push(event as never)})
    } finally {
      await api.stop()
    }

    assert.equal(traces.length, 1)
    const [trace] = traces
    assert.equal(trace.method, 'GET')
    assert.equal(trace.status, 200)
    assert.equal(trace.error, undefined)
    assert.equal(trace.url, `http://127.0.0.1:${api.port}/things?x=1`)
    // A duration: never more than the time since this process started.
    assert.ok(typeof trace.ms === 'number' && trace.ms >= 0 && trace.ms <= Math.ceil(performance.now()), String(trace.ms))
    assert.doesNotMatch(JSON.stringify(trace), /secret-token-value/)
    const requestHeaders = trace.requestHeaders as Record<string, string>
    assert.equal(requestHeaders['x-plain'], 'visible')
    assert.ok(requestHeaders.authorization?.startsWith('Bearer '))
    assert.equal((trace.responseHeaders as Record<string, string>)['content-type'], 'application/json')

    const failed: Array<Record<string, unknown>> = []
    await assert.rejects(callApi(get(api.url), source(), OPTIONS, {trace: (event) => failed.push(event as never)}), NetworkError)
    assert.equal(failed.length, 1)
    assert.equal(failed[0].status, undefined)
    assert.equal(typeof failed[0].error, 'string')
  })

  it('no server is a network failure naming the API and the URL; no answer within --timeout is one too', async function () {
    this.timeout(10_000)
    const api = await startApi(ok)
    await api.stop()
    await assert.rejects(callApi(get(api.url), source(), OPTIONS), (error: NetworkError) => {
      assert.ok(error instanceof NetworkError)
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${api.port}`))
      return true
    })

    const silent = await startApi(() => {})
    try {
      await assert.rejects(callApi(get(silent.url), source(), {...OPTIONS, timeoutSeconds: 1}), (error: NetworkError) => {
        assert.ok(error instanceof NetworkError)
        assert.match(error.message, /1 ?s/)
        return true
      })
    } finally {
      await silent.stop()
    }
  })
})

describe('call with a DPoP-bound token', () => {
  const NONCE_CHALLENGE = 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"'

  /** A prover that records what it was asked: call.ts's side of DPoP, not the proofs themselves (test/unit/dpop.test.ts). */
  function prover() {
    const proofs: string[] = []
    const nonces: Array<string | null | undefined> = []
    const dpop: DpopProver = {
      async noteNonce(_url, nonce) {
        nonces.push(nonce)
      },
      async proof(method, url, accessToken) {
        proofs.push(`${method} ${url.href} ${accessToken}`)
        return `proof-${proofs.length}`
      },
    }
    return {dpop, nonces, proofs}
  }

  function dpopSource(dpop: DpopProver | undefined, tokens = ['d1'], renewals = ['d2']): TokenSource & {renewed: number} {
    const counted = {
      binding: async () => (dpop ? {dpop} : {}),
      renewed: 0,
      async renew(): Promise<SentToken> {
        counted.renewed++
        return {token: renewals[counted.renewed - 1] ?? 'later', type: 'DPoP'}
      },
      token: async (): Promise<SentToken> => ({token: tokens[0], type: 'DPoP'}),
    }
    return counted
  }

  it("goes with the DPoP scheme and a fresh proof per attempt; every answer's nonce is noted; a bearer token goes without a proof", async () => {
    const api = await startApi((_request, response) => response.writeHead(200, {'dpop-nonce': 'n1'}).end('ok'))
    try {
      const {dpop, nonces, proofs} = prover()
      ;(await callApi(get(api.url), dpopSource(dpop), OPTIONS)).body.resume()
      assert.equal(api.seen[0].headers.authorization, 'DPoP d1')
      assert.equal(api.seen[0].headers.dpop, 'proof-1')
      assert.deepEqual(proofs, [`GET ${api.url.href} d1`])
      assert.deepEqual(nonces, ['n1'])

      ;(await callApi(get(api.url), {binding: async () => ({dpop}), token: async () => bearer('b1')}, OPTIONS)).body.resume()
      assert.equal(api.seen[1].headers.authorization, 'Bearer b1')
      assert.equal(api.seen[1].headers.dpop, undefined)
      assert.equal(proofs.length, 1)
    } finally {
      await api.stop()
    }
  })

  it('a DPoP token from a source without the key is a usage error, nothing sent', async () => {
    const api = await startApi(ok)
    try {
      await assert.rejects(callApi(get(api.url), dpopSource(undefined), OPTIONS), (error: UsageError) => {
        assert.ok(error instanceof UsageError)
        assert.equal(error.message, 'the token is bound to a DPoP key (token_type DPoP) that this token source does not have')
        return true
      })
      assert.equal(api.seen.length, 0)
    } finally {
      await api.stop()
    }
  })

  it("the API's first use_dpop_nonce is answered at once with a new proof, neither a retry nor a renewal; a second one comes back as it is", async () => {
    const api = await startApi(status(401, {'dpop-nonce': 'n1', 'www-authenticate': NONCE_CHALLENGE}), ok)
    try {
      const {dpop, nonces, proofs} = prover()
      const tokens = dpopSource(dpop)
      assert.equal((await callApi(get(api.url), tokens, OPTIONS)).status, 200)
      assert.deepEqual(
        api.seen.map((seen) => seen.headers.dpop),
        ['proof-1', 'proof-2'],
      )
      assert.equal(tokens.renewed, 0)
      assert.deepEqual(nonces, ['n1', undefined])
      assert.equal(proofs.length, 2)
    } finally {
      await api.stop()
    }

    const stubborn = await startApi(status(401, {'dpop-nonce': 'n1', 'www-authenticate': NONCE_CHALLENGE}))
    try {
      const tokens = dpopSource(prover().dpop)
      const response = await callApi(get(stubborn.url), tokens, {...OPTIONS, retries: 3})
      assert.equal(response.status, 401)
      assert.equal(stubborn.seen.length, 2)
      assert.equal(tokens.renewed, 0)
    } finally {
      await stubborn.stop()
    }
  })

  it('use_dpop_nonce without a nonce, or invalid_dpop_proof, comes back at once: another token would not mend the proof', async () => {
    for (const challenge of [NONCE_CHALLENGE, 'DPoP error="invalid_dpop_proof", error_description="bad htu"']) {
      const api = await startApi(status(401, {'www-authenticate': challenge}), ok)
      try {
        const tokens = dpopSource(prover().dpop)
        assert.equal((await callApi(get(api.url), tokens, OPTIONS)).status, 401, challenge)
        assert.equal(api.seen.length, 1, challenge)
        assert.equal(tokens.renewed, 0, challenge)
      } finally {
        await api.stop()
      }
    }
  })

  it('a DPoP challenge to a bearer token is an ordinary 401: one renewal', async () => {
    const api = await startApi(status(401, {'dpop-nonce': 'n1', 'www-authenticate': NONCE_CHALLENGE}), ok)
    try {
      const tokens = source(['old'], ['new'])
      assert.equal((await callApi(get(api.url), tokens, OPTIONS)).status, 200)
      assert.equal(tokens.renewed, 1)
      assert.deepEqual(
        api.seen.map((seen) => seen.headers.authorization),
        ['Bearer old', 'Bearer new'],
      )
    } finally {
      await api.stop()
    }
  })

  it("a challenge's parameters: its scheme among others, in any case, across WWW-Authenticate headers, quoted (with escapes) or not", () => {
    const headers = (...values: string[]) => ({headers: [['Content-Type', 'text/plain'] as [string, string], ...values.map((value): [string, string] => ['WWW-Authenticate', value])]})
    assert.deepEqual(challengeOf(headers('Bearer realm="api", DPoP algs="ES256 PS256", Error=use_dpop_nonce , error_description="say \\"again\\""'), 'DPoP'), {
      algs: 'ES256 PS256',
      error: 'use_dpop_nonce',
      error_description: 'say "again"',
    })
    assert.deepEqual(challengeOf(headers('Bearer error="invalid_token"', 'dpop error=invalid_dpop_proof'), 'DPoP'), {error: 'invalid_dpop_proof'})
    assert.deepEqual(challengeOf(headers('DPoP'), 'DPoP'), {})
    assert.deepEqual(challengeOf(headers('DPoP error = "use_dpop_nonce" , algs=ES256'), 'DPoP'), {algs: 'ES256', error: 'use_dpop_nonce'}, 'white space around = (RFC 9110 section 11.2)')
    assert.equal(challengeOf(headers('Bearer realm="DPoP"', 'DPoPish error=x'), 'DPoP'), undefined)
    assert.equal(challengeOf({headers: [['X-Other', 'DPoP error=x']]}, 'DPoP'), undefined)
  })

  it('a refusal explained from the DPoP challenge of a 401 or 403, with its reason; nothing for anything else', () => {
    const answer = (status: number, challenge: string) => ({headers: [['www-authenticate', challenge] as [string, string]], status})
    const proof = "check that the API expects this URL and method (htu and htm: the URL without query and fragment), and this machine's clock (iat)"
    assert.deepEqual(refusalOf(answer(401, 'DPoP error="invalid_dpop_proof", error_description="htu mismatch"')), {
      message: 'the API refused the DPoP proof (invalid_dpop_proof: htu mismatch)',
      suggestion: proof,
    })
    assert.deepEqual(refusalOf(answer(403, 'DPoP error="invalid_dpop_proof"')), {message: 'the API refused the DPoP proof (invalid_dpop_proof)', suggestion: proof})
    assert.deepEqual(refusalOf(answer(401, 'DPoP error="use_dpop_nonce", error_description="again"')), {
      message: 'the API asked again for a DPoP nonce (use_dpop_nonce: again)',
      suggestion: 'the API refused the nonce it had just given: try again, and check that nothing between tokenctl and the API rewrites its headers',
    })
    assert.equal(refusalOf(answer(400, 'DPoP error="invalid_dpop_proof"')), undefined)
    assert.equal(refusalOf(answer(401, 'Bearer error="invalid_token"')), undefined)
    assert.equal(refusalOf(answer(401, 'DPoP error="invalid_token"')), undefined)
  })
})

describe('call and the dispatcher: proxies and trusted CAs', () => {
  let proxy: TestProxy
  const saved = {...process.env}
  before(async () => {
    proxy = await startProxy({hosts: {'api.tokenctl.test': '127.0.0.1'}})
  })
  after(() => proxy.stop())
  afterEach(() => {
    for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'NODE_EXTRA_CA_CERTS']) {
      if (saved[name] === undefined) delete process.env[name]
      else process.env[name] = saved[name]
    }

    proxy.reset()
  })

  it('the proxy variable in effect, in the order curl reads them', () => {
    assert.equal(proxyVariable({}), undefined)
    assert.equal(proxyVariable({HTTP_PROXY: ''}), undefined)
    assert.equal(proxyVariable({http_proxy: 'h', HTTP_PROXY: 'H'}), 'HTTP_PROXY')
    assert.equal(proxyVariable({http_proxy: 'h', https_proxy: 's'}), 'https_proxy')
    assert.equal(proxyVariable({HTTP_PROXY: 'H', HTTPS_PROXY: 'S'}), 'HTTPS_PROXY')
    assert.equal(proxyVariable({http_proxy: 'h'}), 'http_proxy')
  })

  it('with HTTP_PROXY set, a call to another host goes through the proxy, one to loopback never does', async () => {
    const api = await startApi(ok)
    try {
      delete process.env.NO_PROXY
      delete process.env.no_proxy
      process.env.HTTP_PROXY = proxy.url
      const remote = new URL(`http://api.tokenctl.test:${api.port}/via`)
      const response = await callApi(get(remote, {body: {data: 'x=1', kind: 'data'}, method: 'POST'}), source(['proxied']), OPTIONS)
      assert.equal(response.status, 200)
      assert.equal(response.statusText, 'OK')
      assert.ok(response.headers.some(([name, value]) => name === 'set-cookie' && value === 'a=1'))
      assert.ok(
        response.headers.some(([name, value]) => name === 'content-type' && value === 'application/json'),
        JSON.stringify(response.headers),
      )
      assert.deepEqual(JSON.parse(await text(response.body)), {method: 'POST'})
      assert.deepEqual(proxy.handled(), [`POST ${remote.href}`])
      assert.equal(api.seen[0].headers.authorization, 'Bearer proxied')
      assert.equal(api.seen[0].body, 'x=1')

      ;(await callApi(get(api.url), source(), OPTIONS)).body.resume()
      assert.deepEqual(proxy.handled(), [`POST ${remote.href}`])
      assert.equal(api.seen.length, 2)
    } finally {
      await api.stop()
    }
  })

  it('through a proxy, a status without a reason phrase Node knows has an empty status text', async () => {
    const api = await startApi(status(299))
    try {
      process.env.HTTP_PROXY = proxy.url
      const response = await callApi(get(new URL(`http://api.tokenctl.test:${api.port}/odd`)), source(), OPTIONS)
      assert.equal(response.status, 299)
      assert.equal(response.statusText, '')
      response.body.resume()
    } finally {
      await api.stop()
    }
  })

  it('the dispatcher sends loopback directly and the rest through the proxy, and closes or destroys both', async () => {
    const api = await startApi(ok)
    process.env.HTTP_PROXY = proxy.url
    const {request} = await import('undici')
    try {
      const dispatcher = await createDispatcher({timeoutSeconds: 5})
      const direct = await request(`http://127.0.0.1:${api.port}/direct`, {dispatcher})
      await direct.body.text()
      assert.deepEqual(proxy.handled(), [])
      const via = await request(`http://api.tokenctl.test:${api.port}/via`, {dispatcher})
      await via.body.text()
      assert.deepEqual(proxy.handled(), [`GET http://api.tokenctl.test:${api.port}/via`])
      assert.deepEqual(
        api.seen.map((seen) => seen.url),
        ['/direct', '/via'],
      )
      await new Promise<void>((resolve) => {
        dispatcher.close(resolve)
      })
      await assert.rejects(request(`http://127.0.0.1:${api.port}/closed`, {dispatcher}))

      const second = await createDispatcher()
      await second.close()
      await assert.rejects(request(`http://127.0.0.1:${api.port}/closed`, {dispatcher: second}))
      const third = await createDispatcher()
      await new Promise<void>((resolve) => {
        third.destroy(resolve)
      })
      await assert.rejects(request(`http://127.0.0.1:${api.port}/destroyed`, {dispatcher: third}))
      const fourth = await createDispatcher()
      await new Promise<void>((resolve) => {
        fourth.destroy(null, resolve)
      })
      await assert.rejects(request(`http://api.tokenctl.test:${api.port}/destroyed`, {dispatcher: fourth}))
      const fifth = await createDispatcher()
      await fifth.destroy()
      await assert.rejects(request(`http://api.tokenctl.test:${api.port}/destroyed`, {dispatcher: fifth}))
      assert.equal(api.seen.length, 2)
    } finally {
      await api.stop()
    }
  })

  it('without a proxy variable the dispatcher is one direct agent; close() waits for a request under way', async () => {
    const {Agent, request} = await import('undici')
    let answered = false
    const slow = await startApi((_request, response) => {
      setTimeout(() => {
        answered = true
        response.end('late')
      }, 200)
    })
    try {
      delete process.env.HTTP_PROXY
      assert.ok((await createDispatcher()) instanceof Agent)
      process.env.HTTP_PROXY = proxy.url
      const dispatcher = await createDispatcher({timeoutSeconds: 5})
      assert.ok(!(dispatcher instanceof Agent))
      const pending = request(`http://127.0.0.1:${slow.port}/`, {dispatcher}).then((response) => response.body.text())
      await new Promise((resolve) => setTimeout(resolve, 50))
      await dispatcher.close()
      assert.equal(answered, true)
      assert.equal(await pending, 'late')
    } finally {
      await slow.stop()
    }
  })

  it("destroy() ends a request under way with the error it is given, or undici's own when given none", async () => {
    const {request} = await import('undici')
    const silent = await startApi(() => {})
    process.env.HTTP_PROXY = proxy.url
    const underWay = async (end: (dispatcher: Awaited<ReturnType<typeof createDispatcher>>) => Promise<unknown> | void) => {
      const dispatcher = await createDispatcher({timeoutSeconds: 5})
      const pending = request(`http://127.0.0.1:${silent.port}/`, {dispatcher})
      await new Promise((resolve) => setTimeout(resolve, 50))
      await end(dispatcher)
      return pending.then(
        () => assert.fail('the request went on'),
        (error: unknown) => error,
      )
    }

    try {
      const stop = new Error('stopped by the test')
      assert.equal(await underWay((dispatcher) => dispatcher.destroy(stop)), stop)
      const given = await underWay((dispatcher) => new Promise<void>((resolve) => dispatcher.destroy(stop, resolve)))
      assert.equal(given, stop)
      const own = await underWay((dispatcher) => new Promise<void>((resolve) => dispatcher.destroy(resolve)))
      assert.ok(own instanceof Error)
      assert.equal((own as Error & {code?: string}).code, 'UND_ERR_DESTROYED')
      const none = await underWay((dispatcher) => dispatcher.destroy())
      assert.equal((none as Error & {code?: string}).code, 'UND_ERR_DESTROYED')
    } finally {
      await silent.stop()
    }
  })

  it('a proxy that never answers CONNECT is bounded by --timeout too', async function () {
    this.timeout(10_000)
    const {startSilentProxy} = await import('../helpers/proxy.js')
    const silent = await startSilentProxy()
    const {request} = await import('undici')
    process.env.HTTPS_PROXY = silent.url
    try {
      const dispatcher = await createDispatcher({timeoutSeconds: 1})
      await assert.rejects(request('https://api.tokenctl.test:443/', {dispatcher}), (error: Error & {code?: string}) => {
        assert.notEqual(error.constructor, TypeError, error.stack)
        return true
      })
      assert.deepEqual(silent.requestLines, ['CONNECT api.tokenctl.test:443 HTTP/1.1'])
      await dispatcher.destroy()
    } finally {
      await silent.stop()
    }
  })

  it('the dispatcher bounds the wait for an answer by --timeout', async function () {
    this.timeout(10_000)
    const silent = await startApi(() => {})
    const {request} = await import('undici')
    try {
      const dispatcher = await createDispatcher({timeoutSeconds: 1})
      const started = Date.now()
      await assert.rejects(request(`http://127.0.0.1:${silent.port}/`, {dispatcher}), (error: Error & {code?: string}) => error.code === 'UND_ERR_HEADERS_TIMEOUT')
      assert.ok(Date.now() - started < 5000)
      await dispatcher.destroy()
    } finally {
      await silent.stop()
    }
  })

  describe('trusted CAs', () => {
    let pki: TestPki
    let server: Server
    let port: number
    before(async function () {
      this.timeout(30_000)
      pki = await requireTestPki({dnsNames: ['api.tokenctl.test']})
      server = createHttpsServer({cert: pki.serverCert, key: pki.serverKey}, (_request, response) => response.end('over tls'))
      port = await listenOnLoopback(server)
    })
    after(async () => {
      await closeServer(server)
      rmSync(pki.directory, {force: true, recursive: true})
    })

    it('none without --ca-file; the bundled roots, NODE_EXTRA_CA_CERTS and the file with it; an unreadable file in words', async () => {
      const {rootCertificates} = await import('node:tls')
      delete process.env.NODE_EXTRA_CA_CERTS
      assert.equal(await trustedCas(undefined), undefined)
      process.env.NODE_EXTRA_CA_CERTS = pki.serverCertPath
      assert.equal(await trustedCas(undefined), undefined)
      assert.deepEqual(await trustedCas(pki.caCertPath), [...rootCertificates, pki.serverCert, pki.caCert])
      delete process.env.NODE_EXTRA_CA_CERTS
      assert.deepEqual(await trustedCas(pki.caCertPath), [...rootCertificates, pki.caCert])
      const missing = join(pki.directory, 'missing.pem')
      await assert.rejects(trustedCas(missing), (error: ConfigError) => {
        assert.ok(error instanceof ConfigError)
        assert.match(error.message, new RegExp(`^cannot read the CA file ${missing.replaceAll('.', '\\.')}: `))
        return true
      })
      process.env.NODE_EXTRA_CA_CERTS = missing
      await assert.rejects(trustedCas(pki.caCertPath), {message: new RegExp(`^cannot read NODE_EXTRA_CA_CERTS ${missing.replaceAll('.', '\\.')}: `)})
    })

    it('a call over https trusts the --ca-file, and fails without it', async () => {
      const url = new URL(`https://127.0.0.1:${port}/tls`)
      const response = await callApi(get(url), source(), {...OPTIONS, caFile: pki.caCertPath})
      assert.equal(await text(response.body), 'over tls')
      await assert.rejects(callApi(get(url), source(), OPTIONS), NetworkError)
    })

    it('through HTTPS_PROXY (a CONNECT tunnel) a call trusts the --ca-file as well', async () => {
      process.env.HTTPS_PROXY = proxy.url
      const url = new URL(`https://api.tokenctl.test:${port}/tunnel`)
      const response = await callApi(get(url), source(), {...OPTIONS, caFile: pki.caCertPath})
      assert.equal(await text(response.body), 'over tls')
      assert.deepEqual(proxy.handled(), [`CONNECT api.tokenctl.test:${port}`])
      await assert.rejects(callApi(get(url), source(), OPTIONS), NetworkError)
    })

    it('the dispatcher trusts the --ca-file too', async () => {
      const {request} = await import('undici')
      const dispatcher = await createDispatcher({caFile: pki.caCertPath})
      try {
        assert.equal(await (await request(`https://127.0.0.1:${port}/`, {dispatcher})).body.text(), 'over tls')
      } finally {
        await dispatcher.destroy()
      }

      const untrusting = await createDispatcher()
      try {
        await assert.rejects(request(`https://127.0.0.1:${port}/`, {dispatcher: untrusting}))
      } finally {
        await untrusting.destroy()
      }
    })
  })
})
