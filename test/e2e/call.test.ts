import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {type ApiServer, CHALLENGE_CLAIMS, expectedLargeBodySha256, SESSION_COOKIE, useAuthServerWithApi} from '../helpers/api-server.js'
import {expectExit, stdoutJson as json} from '../helpers/assertions.js'
import type {AuthServer} from '../helpers/auth-server.js'
import {cliWithHome, runCli} from '../helpers/cli.js'
import {type TestProxy, useProxy} from '../helpers/proxy.js'

const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'call tests'}
const LARGE = 50 * 1024 * 1024

describe('call (end to end: a real authorization server and an API that verifies its tokens)', function () {
  this.timeout(90_000)
  let server: AuthServer
  let api: ApiServer
  useAuthServerWithApi((started, startedApi) => {
    server = started
    api = startedApi
  })
  beforeEach(() => api.reset())

  /** A home with client "ci" (client credentials for the API). */
  async function worker() {
    const cli = cliWithHome({env: FILE_STORE})
    const add = await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {
      input: server.clients.basic.clientSecret,
    })
    expectExit(add, 0)
    return cli
  }

  const tokenRequests = () => server.tokenRequests.filter((request) => !request.fault)

  it('GET with --client returns the echo of the verified claims; the token is never printed', async () => {
    const cli = await worker()
    const result = await cli.run(['call', `${api.url}/echo?x=1`, '--client', 'ci'])
    expectExit(result, 0)
    const echo = json(result)
    assert.equal(echo.method, 'GET')
    assert.equal(echo.claims.client_id, 'basic')
    assert.equal(echo.claims.aud, server.resources.api)
    const [sent] = api.requests
    const token = sent.authorization!.replace(/^Bearer /, '')
    assert.ok(!result.stdout.includes(token) && !result.stderr.includes(token))
    // The second call takes the cached token: no new token request.
    expectExit(await cli.run(['call', `${api.url}/echo`, '--client', 'ci']), 0)
    assert.equal(tokenRequests().length, 1)
  })

  it('GET with --session, --token-env and --token-stdin', async () => {
    const cli = await worker()
    const userToken = await server.mintUserToken({aud: 'api', sub: 'alice'})
    expectExit(await cli.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret}), 0)
    const start = await cli.run(['session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--key', 'k'], {input: userToken})
    expectExit(start, 0)
    const viaSession = await cli.run(['call', `${api.url}/echo`, '--session', 'k'])
    expectExit(viaSession, 0)
    assert.equal(json(viaSession).claims.sub, 'alice')

    const token = json(await cli.run(['token', 'client', 'ci', '--json'])).access_token
    const viaEnv = await cli.run(['call', `${api.url}/echo`, '--token-env', 'TOKEN'], {env: {TOKEN: token}})
    expectExit(viaEnv, 0)
    assert.equal(json(viaEnv).claims.client_id, 'basic')
    const viaStdin = await cli.run(['call', `${api.url}/echo`, '--token-stdin'], {input: `${token}\n`})
    expectExit(viaStdin, 0)
    assert.equal(json(viaStdin).claims.client_id, 'basic')
  })

  it('wants exactly one token source, naming the four', async () => {
    for (const sources of [[], ['--client', 'ci', '--token-env', 'T']]) {
      const result = await runCli(['call', `${api.url}/echo`, ...sources], {env: {T: 'x'}})
      expectExit(result, 2)
      assert.match(result.stderr, /--client NAME, --session-key KEY, --token-env VAR, --token-stdin/)
    }
  })

  it('retries 503 until success, waits out a 429 with Retry-After, and does not retry a POST without --retry-all', async () => {
    const cli = await worker()
    const flaky = await cli.run(['call', `${api.url}/flaky/get`, '--client', 'ci'])
    expectExit(flaky, 0)
    assert.equal(api.requests.filter((request) => request.path === '/flaky/get').length, 3)

    for (const path of ['/throttled/a', '/throttled-date/a']) {
      const throttled = await cli.run(['call', `${api.url}${path}`, '--client', 'ci'])
      expectExit(throttled, 0)
      const [first, second] = api.requests.filter((request) => request.path === path)
      assert.ok(second.time - first.time >= 950, `${path}: waited ${second.time - first.time} ms`)
    }

    const post = await cli.run(['call', `${api.url}/flaky/post`, '--client', 'ci', '-d', '{"a":1}'])
    expectExit(post, 8)
    assert.equal(api.requests.filter((request) => request.path === '/flaky/post').length, 1)
    const retried = await cli.run(['call', `${api.url}/flaky/post-all`, '--client', 'ci', '-d', '{"a":1}', '--retry-all'])
    expectExit(retried, 0)
    assert.equal(json(retried).method, 'POST')

    const noRetries = await cli.run(['call', `${api.url}/flaky/none`, '--client', 'ci', '--retries', '0'])
    expectExit(noRetries, 8)
    assert.equal(api.requests.filter((request) => request.path === '/flaky/none').length, 1)
  })

  it('a 401 with --client renews the token once: exactly one extra token request, then success', async () => {
    const cli = await worker()
    expectExit(await cli.run(['token', 'client', 'ci']), 0)
    server.resetCounters()
    const result = await cli.run(['call', `${api.url}/reject-first/a`, '--client', 'ci'])
    expectExit(result, 0)
    assert.equal(tokenRequests().length, 1)
    const tokens = api.requests.map((request) => request.authorization)
    assert.equal(tokens.length, 2)
    assert.notEqual(tokens[0], tokens[1])
    // With a token from outside there is nothing to renew: the 401 is the answer (exit 8).
    const outside = await cli.run(['call', `${api.url}/reject-first/b`, '--token-env', 'T'], {env: {T: tokens[1]!.slice(7)}})
    expectExit(outside, 8)
  })

  // "Once" and "always" look alike against an API that accepts the renewed token: this one never does.
  it('an API that answers 401 to every token: exactly one renewal and one retry, then exit 8 (--client and --session)', async () => {
    const cli = await worker()
    expectExit(await cli.run(['token', 'client', 'ci']), 0)
    expectExit(await cli.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret}), 0)
    const userToken = await server.mintUserToken({aud: 'api', sub: 'alice'})
    expectExit(await cli.run(['session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--key', 'k'], {input: userToken}), 0)
    for (const [source, grant] of [
      [['--client', 'ci'], 'client_credentials'],
      [['--session', 'k'], 'refresh_token'],
    ] as const) {
      server.resetCounters()
      api.reset()
      const result = await cli.run(['call', `${api.url}/reject-always`, ...source])
      expectExit(result, 8)
      assert.match(result.stdout, /the token has been revoked/, "the API's last answer is still printed")
      assert.deepEqual(
        tokenRequests().map((request) => request.grant_type),
        [grant],
        `${source.join(' ')}: one renewal`,
      )
      const tokens = api.requests.map((request) => request.authorization)
      assert.equal(tokens.length, 2, `${source.join(' ')}: the first try and the one retry`)
      assert.notEqual(tokens[0], tokens[1], 'the retry carries the renewed token')
    }
  })

  it('a claims challenge is exit 5 with the claims', async () => {
    const cli = await worker()
    const result = await cli.run(['call', `${api.url}/claims-challenge`, '--client', 'ci', '--json'])
    expectExit(result, 5)
    assert.equal(json(result).error.code, 'insufficient_claims')
    assert.equal(json(result).error.claims, CHALLENGE_CLAIMS)
    assert.equal(tokenRequests().length, 1, 'no renewal for a claims challenge')
  })

  it('404 is exit 8 with the body on stdout; --no-fail is 0; -i shows the status line; --json has status, headers and body', async () => {
    const cli = await worker()
    const notFound = await cli.run(['call', `${api.url}/status/404`, '--client', 'ci'])
    expectExit(notFound, 8)
    assert.equal(notFound.stdout, 'status 404')
    assert.match(notFound.stderr, /404/)
    expectExit(await cli.run(['call', `${api.url}/status/404`, '--client', 'ci', '--no-fail']), 0)
    const included = await cli.run(['call', `${api.url}/status/404`, '--client', 'ci', '-i', '--no-fail'])
    assert.match(included.stdout, /^HTTP\/1\.1 404 Not Found\r\n/)
    assert.match(included.stdout, /\r\ncontent-type: text\/plain[^\r]*\r\n/i)
    assert.match(included.stdout, /\r\n\r\nstatus 404$/)
    const asJson = await cli.run(['call', `${api.url}/status/404`, '--client', 'ci', '--json'])
    expectExit(asJson, 8)
    assert.equal(json(asJson).status, 404)
    assert.equal(json(asJson).body, 'status 404')
    const echo = await cli.run(['call', `${api.url}/echo`, '--client', 'ci', '--json'])
    expectExit(echo, 0)
    assert.equal(json(echo).status, 200)
    assert.equal(json(echo).body.method, 'GET')
    assert.match(json(echo).headers['content-type'], /json/)
  })

  it('streams a 50 MB body through stdout byte for byte, and to -o PATH', async () => {
    const cli = await worker()
    const expected = expectedLargeBodySha256(LARGE)
    const started = cli.start(['call', `${api.url}/large?bytes=${LARGE}`, '--client', 'ci'])
    const hash = createHash('sha256')
    let length = 0
    started.stdout.on('data', (chunk: Buffer) => {
      hash.update(chunk)
      length += chunk.length
    })
    const result = await started.result
    expectExit(result, 0)
    assert.equal(length, LARGE)
    assert.equal(hash.digest('hex'), expected)

    const file = join(cli.home, 'body.bin')
    expectExit(await cli.run(['call', `${api.url}/large?bytes=${1024 * 1024}`, '--client', 'ci', '-o', file]), 0)
    assert.equal(createHash('sha256').update(readFileSync(file)).digest('hex'), expectedLargeBodySha256(1024 * 1024))
  })

  it('sends bodies: -d with a default content type, --data-file streamed, and -H headers', async () => {
    const cli = await worker()
    const jsonBody = await cli.run(['call', `${api.url}/echo`, '--client', 'ci', '-d', '{"a":1}', '-H', 'X-Trace: 42'])
    expectExit(jsonBody, 0)
    assert.equal(json(jsonBody).method, 'POST')
    assert.equal(json(jsonBody).body, '{"a":1}')
    assert.equal(json(jsonBody).headers['content-type'], 'application/json')
    assert.equal(json(jsonBody).headers['x-trace'], '42')
    const form = await cli.run(['call', `${api.url}/echo`, '--client', 'ci', '-d', 'a=1&b=2', '-X', 'put'])
    assert.equal(json(form).method, 'PUT')
    assert.equal(json(form).headers['content-type'], 'application/x-www-form-urlencoded')

    const file = join(cli.home, 'upload.bin')
    const content = randomBytes(3 * 1024 * 1024)
    writeFileSync(file, content)
    const upload = await cli.run(['call', `${api.url}/upload`, '--client', 'ci', '--data-file', file, '-H', 'Content-Type: image/png'])
    expectExit(upload, 0)
    assert.equal(json(upload).bodySha256, createHash('sha256').update(content).digest('hex'))
    assert.equal(json(upload).contentType, 'image/png')
    const piped = await cli.run(['call', `${api.url}/upload`, '--client', 'ci', '--data-file', '-'], {input: 'from stdin'})
    expectExit(piped, 0)
    assert.equal(json(piped).bodyLength, 10)
    assert.equal(json(piped).contentType, 'application/octet-stream')

    const malformed = await cli.run(['call', `${api.url}/echo`, '--client', 'ci', '-H', 'X-Ok: 1', '-H', 'NoColonHere secret-value'])
    expectExit(malformed, 2)
    assert.match(malformed.stderr, /malformed header #2 \("NoColonHere…"\)/)
    assert.ok(!malformed.stderr.includes('secret-value'))
  })

  it('--timeout bounds the wait for the response headers (exit 6)', async () => {
    const cli = await worker()
    const result = await cli.run(['call', `${api.url}/slow-headers`, '--client', 'ci', '--timeout', '1', '--retries', '0', '--json'])
    expectExit(result, 6)
    assert.equal(json(result).error.code, 'timeout')
    assert.ok(result.durationMs >= 1000, `gave up after ${result.durationMs} ms, before its --timeout 1`)
  })

  it('--verbose shows method, URL, status, timing and headers with Authorization and cookies masked', async () => {
    const cli = await worker()
    const result = await cli.run(['call', `${api.url}/set-cookie`, '--client', 'ci', '--verbose', '-H', `Cookie: ${SESSION_COOKIE}`])
    expectExit(result, 0)
    const token = api.requests[0].authorization!.slice(7)
    assert.ok(!result.stderr.includes(token), 'no whole token')
    assert.ok(!result.stderr.includes(SESSION_COOKIE) && !result.stderr.includes('secret-cookie-value'), 'no cookie')
    assert.match(result.stderr, new RegExp(`GET ${api.url.replaceAll('.', '\\.')}/set-cookie → 200 in \\d+ ms`))
    assert.match(result.stderr, /> authorization: Bearer <\d+ chars, sha256:[\da-f]{8}>/)
    assert.ok(!result.stderr.includes(token.slice(0, 6)), 'not even the start of the token')
    assert.match(result.stderr, /< set-cookie: <redacted>/)
    assert.match(result.stderr, /> cookie: <redacted>/)
  })

  describe('with a proxy configured', () => {
    let proxy: TestProxy
    useProxy((started) => {
      proxy = started
    })

    it('loopback never goes through it, whatever NO_PROXY says: neither the token request nor the call', async () => {
      const cli = await worker()
      for (const env of [{HTTP_PROXY: proxy.url}, {HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com'}]) {
        const result = await cli.run(['call', `${api.url}/echo`, '--client', 'ci'], {env})
        expectExit(result, 0)
        assert.equal(json(result).claims.client_id, 'basic')
      }

      assert.deepEqual(proxy.handled(), [])
      assert.equal(api.requests.length, 2)
      assert.equal(tokenRequests().length, 1)
    })
  })
})
