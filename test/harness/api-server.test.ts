import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {generateKeyPair, SignJWT} from 'jose'
import {useAuthServer} from '../helpers/auth-server.js'
import type {AuthServer} from '../helpers/auth-server.js'
import {CHALLENGE_CLAIMS, CLAIMS_CHALLENGE_HEADER, expectedLargeBodySha256, startApiServer, useApiServer} from '../helpers/api-server.js'
import type {ApiServer, EchoResponse, UploadResponse} from '../helpers/api-server.js'

// Plain fetch on purpose: these tests prove the test API server, not tokenctl.

const MB = 1024 * 1024

describe('test API server', () => {
  let auth: AuthServer
  let api: ApiServer

  useAuthServer((started) => {
    auth = started
  })
  useApiServer(
    () => ({issuer: auth.issuer, jwksUri: auth.jwksUri, audience: auth.resources.api}),
    (started) => {
      api = started
    },
  )

  /** A real client-credentials token for the API, from the authorization server's token endpoint. */
  async function clientCredentialsToken(): Promise<string> {
    const response = await fetch(auth.tokenEndpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('basic:basic-secret').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    })
    assert.equal(response.status, 200)
    return ((await response.json()) as {access_token: string}).access_token
  }

  async function call(path: string, token?: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    if (token !== undefined) headers.set('authorization', `Bearer ${token}`)
    return fetch(`${api.url}${path}`, {...init, headers})
  }

  async function callStatus(path: string, token?: string, init?: RequestInit): Promise<number> {
    const response = await call(path, token, init)
    await response.arrayBuffer()
    return response.status
  }

  async function assertInvalidToken(response: Response): Promise<void> {
    assert.equal(response.status, 401)
    assert.equal(response.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
    const body = (await response.json()) as {error: string; error_description: string}
    assert.equal(body.error, 'invalid_token')
    assert.ok(body.error_description.length > 0)
  }

  describe('token verification', () => {
    it('echoes the verified claims, method, path, query, headers and body', async () => {
      const token = await clientCredentialsToken()
      const response = await call('/echo?a=1&a=2&b=x%20y', token, {
        method: 'POST',
        headers: {'x-test': 'yes', 'content-type': 'text/plain'},
        body: 'héllo',
      })
      assert.equal(response.status, 200)
      const echo = (await response.json()) as EchoResponse
      assert.equal(echo.method, 'POST')
      assert.equal(echo.path, '/echo')
      assert.deepEqual(echo.query, {a: ['1', '2'], b: 'x y'})
      assert.equal(echo.claims?.client_id, 'basic')
      assert.equal(echo.claims?.aud, auth.resources.api)
      assert.equal(echo.claims?.iss, auth.issuer)
      assert.equal(echo.headers['x-test'], 'yes')
      assert.equal(echo.headers.authorization, undefined)
      assert.equal(echo.body, 'héllo')
      assert.equal(echo.bodyLength, Buffer.byteLength('héllo'))
      assert.equal(echo.bodySha256, createHash('sha256').update('héllo').digest('hex'))
      assert.equal(echo.bodyTruncated, false)
    })

    it('accepts a minted user token for the API (the control for the refusals below)', async () => {
      const token = await auth.mintUserToken({aud: auth.resources.api, sub: 'alice'})
      const response = await call('/echo', token)
      assert.equal(response.status, 200)
      assert.equal(((await response.json()) as EchoResponse).claims?.sub, 'alice')
    })

    it('refuses a missing token', async () => {
      await assertInvalidToken(await call('/echo'))
    })

    it('refuses garbage and a non-Bearer scheme', async () => {
      await assertInvalidToken(await call('/echo', 'not-a-jwt'))
      const basic = await call('/echo', undefined, {headers: {authorization: 'Basic YmFzaWM6YmFzaWMtc2VjcmV0'}})
      await assertInvalidToken(basic)
    })

    it('refuses a token for another audience', async () => {
      await assertInvalidToken(await call('/echo', await auth.mintUserToken({aud: 'api', sub: 'x'})))
    })

    it('refuses an expired token', async () => {
      const token = await auth.mintUserToken({aud: auth.resources.api, sub: 'x', expiresIn: -10})
      await assertInvalidToken(await call('/echo', token))
    })

    it('refuses a token with the right claims signed by another key', async () => {
      const {privateKey} = await generateKeyPair('RS256')
      const forged = await new SignJWT({client_id: 'basic'})
        .setProtectedHeader({alg: 'RS256'})
        .setIssuer(auth.issuer)
        .setAudience(auth.resources.api)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey)
      await assertInvalidToken(await call('/echo', forged))
    })

    it('refuses a token from another issuer', async () => {
      const elsewhere = await startApiServer({issuer: 'https://elsewhere.example', jwksUri: auth.jwksUri, audience: auth.resources.api})
      try {
        const response = await fetch(`${elsewhere.url}/echo`, {headers: {authorization: `Bearer ${await clientCredentialsToken()}`}})
        await assertInvalidToken(response)
      } finally {
        await elsewhere.stop()
      }
    })

    it('lets /public/... through without a token', async () => {
      const response = await call('/public/some/thing?x=1')
      assert.equal(response.status, 200)
      const echo = (await response.json()) as EchoResponse
      assert.equal(echo.path, '/public/some/thing')
      assert.equal(echo.claims, null)
      assert.deepEqual(echo.query, {x: '1'})
    })

    it('answers 404 to an unknown path, after the token check', async () => {
      const token = await clientCredentialsToken()
      const response = await call('/nowhere', token)
      assert.equal(response.status, 404)
      assert.equal(await response.text(), 'no such endpoint: /nowhere')
      assert.equal(await callStatus('/nowhere'), 401)
    })
  })

  it('records requests (raw authorization, status) and the tokens seen, until reset', async () => {
    const token = await clientCredentialsToken()
    await callStatus('/echo?q=1', token)
    await callStatus('/status/502', token, {method: 'DELETE'})
    await callStatus('/echo', 'garbage')
    await callStatus('/public/x')

    assert.deepEqual(
      api.requests.map(({method, path, authorization, status}) => ({method, path, authorization, status})),
      [
        {method: 'GET', path: '/echo', authorization: `Bearer ${token}`, status: 200},
        {method: 'DELETE', path: '/status/502', authorization: `Bearer ${token}`, status: 502},
        {method: 'GET', path: '/echo', authorization: 'Bearer garbage', status: 401},
        {method: 'GET', path: '/public/x', authorization: undefined, status: 200},
      ],
    )
    assert.ok(!('authorization' in api.requests[3]))
    assert.ok(api.requests.every((record) => Math.abs(Date.now() - record.time) < 10_000))
    assert.deepEqual([...api.tokensSeen], [token, 'garbage'])

    api.reset()
    assert.equal(api.requests.length, 0)
    assert.equal(api.tokensSeen.size, 0)
  })

  describe('misbehaving endpoints', () => {
    let token: string

    beforeEach(async () => {
      token = await clientCredentialsToken()
    })

    it('flaky: 503 twice per id, then the echo', async () => {
      const first = await call('/flaky/a', token)
      assert.equal(first.status, 503)
      assert.equal(await first.text(), 'temporarily unavailable')
      assert.equal(await callStatus('/flaky/a', token), 503)
      assert.equal(await callStatus('/flaky/b', token), 503)
      const third = await call('/flaky/a', token)
      assert.equal(third.status, 200)
      assert.equal(((await third.json()) as EchoResponse).path, '/flaky/a')
      assert.equal(await callStatus('/flaky/b', token), 503)
      assert.equal(await callStatus('/flaky/b', token), 200)
    })

    it('flaky: a request refused for its token does not count', async () => {
      assert.equal(await callStatus('/flaky/c', 'garbage'), 401)
      assert.equal(await callStatus('/flaky/c', token), 503)
      assert.equal(await callStatus('/flaky/c', token), 503)
      assert.equal(await callStatus('/flaky/c', token), 200)
    })

    it('reset forgets the per-id counters', async () => {
      assert.equal(await callStatus('/throttled/r', token), 429)
      assert.equal(await callStatus('/throttled/r', token), 200)
      api.reset()
      assert.equal(await callStatus('/throttled/r', token), 429)
    })

    it('throttled: 429 with Retry-After: 1 once per id, then the echo', async () => {
      const first = await call('/throttled/t', token)
      assert.equal(first.status, 429)
      assert.equal(first.headers.get('retry-after'), '1')
      await first.arrayBuffer()
      assert.equal(await callStatus('/throttled/t', token), 200)
      assert.equal(await callStatus('/throttled/u', token), 429)
    })

    it('throttled-date: Retry-After is an HTTP date 1-2 s ahead', async () => {
      const first = await call('/throttled-date/t', token)
      assert.equal(first.status, 429)
      const retryAfter = first.headers.get('retry-after') ?? ''
      assert.match(retryAfter, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/)
      const ahead = Date.parse(retryAfter) - Date.now()
      assert.ok(ahead > 500 && ahead <= 2000, `Retry-After ${ahead} ms ahead`)
      await first.arrayBuffer()
      assert.equal(await callStatus('/throttled-date/t', token), 200)
      // Its own counter: the seconds variant with the same id still throttles once.
      assert.equal(await callStatus('/throttled/t', token), 429)
    })

    it('status: answers the code with a small text body', async () => {
      for (const code of [404, 500, 502]) {
        const response = await call(`/status/${code}`, token)
        assert.equal(response.status, code)
        assert.equal(await response.text(), `status ${code}`)
      }
      assert.equal(await callStatus('/status/204', token), 204)
      assert.equal(await callStatus('/status/999', token), 400)
    })

    it('reject-first: 401 for the first token seen per id, even again; the echo for another', async () => {
      const other = await clientCredentialsToken()
      assert.notEqual(other, token)
      await assertInvalidToken(await call('/reject-first/a', token))
      await assertInvalidToken(await call('/reject-first/a', token))
      const renewed = await call('/reject-first/a', other)
      assert.equal(renewed.status, 200)
      assert.equal(((await renewed.json()) as EchoResponse).claims?.client_id, 'basic')
      // Per id: for b, `other` is the first token, and `token` is fine.
      await assertInvalidToken(await call('/reject-first/b', other))
      assert.equal(await callStatus('/reject-first/b', token), 200)
    })

    it("claims-challenge: 401 with Entra's insufficient_claims challenge", async () => {
      const response = await call('/claims-challenge', token)
      assert.equal(response.status, 401)
      const header = response.headers.get('www-authenticate') ?? ''
      assert.equal(header, CLAIMS_CHALLENGE_HEADER)
      assert.match(header, /error="insufficient_claims"/)
      const claims = /claims="([^"]+)"/.exec(header)?.[1] ?? ''
      assert.equal(Buffer.from(claims, 'base64').toString('utf8'), CHALLENGE_CLAIMS)
      assert.equal(((await response.json()) as {error: string}).error, 'insufficient_claims')
    })

    it('set-cookie: sets the session cookie', async () => {
      const response = await call('/set-cookie', token)
      assert.equal(response.status, 200)
      assert.deepEqual(response.headers.getSetCookie(), ['session=secret-cookie-value'])
      await response.arrayBuffer()
    })

    it('upload: hashes a streamed POST body and reports its content type', async () => {
      const chunks = Array.from({length: 48}, (_, index) => Buffer.alloc(64 * 1024, index))
      const expected = createHash('sha256')
      for (const chunk of chunks) expected.update(chunk)
      const response = await call('/upload', token, {
        method: 'POST',
        headers: {'content-type': 'application/octet-stream'},
        body: new ReadableStream({
          start(controller) {
            for (const chunk of chunks) controller.enqueue(chunk)
            controller.close()
          },
        }),
        duplex: 'half',
      })
      assert.equal(response.status, 200)
      assert.deepEqual(await response.json(), {
        bodySha256: expected.digest('hex'),
        bodyLength: 3 * MB,
        contentType: 'application/octet-stream',
      })
    })

    it('upload: PUT works too, other methods are refused', async () => {
      const put = await call('/upload', token, {method: 'PUT', body: 'abc'})
      const result = (await put.json()) as UploadResponse
      assert.equal(result.bodySha256, createHash('sha256').update('abc').digest('hex'))
      assert.equal(result.contentType, 'text/plain;charset=UTF-8')
      const get = await call('/upload', token)
      assert.equal(get.status, 405)
      assert.equal(get.headers.get('allow'), 'POST, PUT')
      await get.arrayBuffer()
    })

    it('echo: keeps 1 MiB of a larger body as text but hashes all of it', async () => {
      const body = 'x'.repeat(MB + 10)
      const echo = (await (await call('/echo', token, {method: 'POST', body})).json()) as EchoResponse
      assert.equal(echo.body.length, MB)
      assert.equal(echo.bodyTruncated, true)
      assert.equal(echo.bodyLength, MB + 10)
      assert.equal(echo.bodySha256, createHash('sha256').update(body).digest('hex'))
    })

    it('slow-headers: gives no answer before the client gives up', async () => {
      await assert.rejects(call('/slow-headers', token, {signal: AbortSignal.timeout(300)}), {name: 'TimeoutError'})
    })
  })

  describe('large bodies', () => {
    it('streams deterministic, incompressible content that matches expectedLargeBodySha256', async () => {
      const token = await clientCredentialsToken()
      const response = await call('/large?bytes=100000', token)
      assert.equal(response.status, 200)
      assert.equal(response.headers.get('content-type'), 'application/octet-stream')
      assert.equal(response.headers.get('content-length'), '100000')
      const body = Buffer.from(await response.arrayBuffer())
      const hash = createHash('sha256').update(body).digest('hex')
      assert.equal(hash, expectedLargeBodySha256(100_000))
      assert.equal(response.headers.get('x-content-sha256'), hash)
      // Pseudo-random, not a repeated pattern: no byte value is much over-represented.
      const counts = new Array<number>(256).fill(0)
      for (const byte of body) counts[byte]++
      assert.ok(Math.max(...counts) < 600, `most frequent byte appears ${Math.max(...counts)} times`)
      // A shorter body is a prefix of a longer one, and sizes differ in hash.
      const prefix = Buffer.from(await (await call('/large?bytes=1000', token)).arrayBuffer())
      assert.deepEqual(prefix, body.subarray(0, 1000))
      assert.notEqual(expectedLargeBodySha256(1000), expectedLargeBodySha256(1001))
      assert.equal(expectedLargeBodySha256(0), createHash('sha256').digest('hex'))
    })

    it('refuses a missing or bad size', async () => {
      const token = await clientCredentialsToken()
      for (const query of ['', '?bytes=', '?bytes=-1', '?bytes=1.5', '?bytes=1e3', '?bytes=abc', `?bytes=${2 ** 40}`]) {
        assert.equal(await callStatus(`/large${query}`, token), 400, query)
      }
    })
  })

  describe('stop', () => {
    it('stop() closes slow and streaming connections at once', async () => {
      const own = await startApiServer({issuer: auth.issuer, jwksUri: auth.jwksUri, audience: auth.resources.api})
      const token = await clientCredentialsToken()
      const headers = {authorization: `Bearer ${token}`}
      const slow = fetch(`${own.url}/slow-headers`, {headers})
      const large = await fetch(`${own.url}/large?bytes=${64 * MB}`, {headers})
      // One chunk read, the rest left unread: the server is stuck waiting for 'drain'.
      const reader = large.body!.getReader()
      await reader.read()
      await waitUntil(() => own.requests.length === 2)

      await own.stop() // how long it takes is a row of `npm run bench`
      await assert.rejects(slow, TypeError)
      await assert.rejects(readToEnd(reader), TypeError)
      await assert.rejects(fetch(`${own.url}/public/x`), TypeError)
    })
  })
})

async function readToEnd(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  while (!(await reader.read()).done);
}

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
