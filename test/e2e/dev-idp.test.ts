import {strict as assert} from 'node:assert'
import {createHash, randomBytes, X509Certificate} from 'node:crypto'
import {readFileSync, statSync} from 'node:fs'
import {request as httpRequest} from 'node:http'
import {request as httpsRequest} from 'node:https'
import {join} from 'node:path'
import {createServer} from 'node:net'
import type {AddressInfo} from 'node:net'

import {createRemoteJWKSet, decodeJwt, jwtVerify} from 'jose'

import {approveDevice, completeAuthorization} from '../../src/lib/devidp/robot.js'
import type {DevIdpSummary} from '../../src/lib/devidp/summary.js'
import {expectExit, stdoutJson} from '../helpers/assertions.js'
import {cliWithHome, runCli, startCli, type StartedCli, tempHome} from '../helpers/cli.js'

// The server side with plain HTTP and the sign-in robot on purpose: `token user` has its own tests.

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'dev idp test passphrase'}

interface TokenResponse {
  access_token?: string
  refresh_token?: string
  scope?: string
  error?: string
  error_description?: string
}

interface DeviceAuthorization {
  device_code: string
  user_code: string
  verification_uri: string
  verification_uri_complete: string
  expires_in: number
  interval: number
}

/** The first line the child writes on stdout: `dev idp --json` writes its summary there once it listens. */
async function firstLine(child: StartedCli, timeoutMs = 15_000): Promise<string> {
  let text = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line on stdout within ${timeoutMs} ms`)), timeoutMs)
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8')
      if (text.includes('\n')) {
        clearTimeout(timer)
        resolve(text.slice(0, text.indexOf('\n')))
      }
    })
    child.once('close', () => reject(new Error(`dev idp exited before listening; stdout: ${text}`)))
  })
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`
}

async function post(url: string, form: Record<string, string>, authorization?: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: {'content-type': 'application/x-www-form-urlencoded', ...(authorization ? {authorization} : {})},
    body: new URLSearchParams(form).toString(),
  })
  return {status: response.status, body: (await response.json()) as TokenResponse & Partial<DeviceAuthorization>}
}

function pkce(): {verifier: string; challenge: string} {
  const verifier = randomBytes(32).toString('base64url')
  return {verifier, challenge: createHash('sha256').update(verifier).digest('base64url')}
}

interface RawAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** One request with exactly these headers (Host and Origin included, which fetch would set or refuse), to 127.0.0.1. */
async function raw(url: string, {body, headers = {}, method = 'GET'}: {body?: string; headers?: Record<string, string>; method?: string} = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, {agent: false, headers, method, setHost: !('host' in headers)}, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => resolve({status: response.statusCode ?? 0, headers: response.headers, body: text}))
    })
    request.on('error', reject)
    request.end(body)
  })
}

/** A port nothing listens on (the loopback redirect is never called: the robot stops before it). */
async function unusedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('tokenctl dev idp (end to end)', function () {
  this.timeout(60_000)
  let idp: StartedCli
  let summary: DevIdpSummary
  const client = (id: string) => {
    const found = summary.clients.find((candidate) => candidate.client_id === id)
    assert.ok(found, `client ${id} is listed`)
    return found
  }

  const poll = (deviceCode: string) => post(summary.token_endpoint, {grant_type: DEVICE_CODE_GRANT, device_code: deviceCode, client_id: 'cli'})

  const startDeviceFlow = async (scope = 'access_as_user offline_access') => {
    const {status, body} = await post(summary.device_authorization_endpoint, {client_id: 'cli', scope})
    assert.equal(status, 200)
    return body as DeviceAuthorization
  }

  before(async () => {
    idp = startCli(['dev', 'idp', '--port', '0', '--json'], {timeoutMs: 120_000})
    summary = JSON.parse(await firstLine(idp)) as DevIdpSummary
  })

  after(() => {
    if (idp.exitCode === null && idp.signalCode === null) idp.kill('SIGKILL')
  })

  it('prints its issuer, endpoints and the five clients, and serves discovery on 127.0.0.1', async () => {
    assert.match(summary.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.deepEqual(
      summary.clients.map((entry) => entry.client_id),
      ['worker', 'api', 'cli', 'workload', 'dpop'],
    )
    assert.equal(client('dpop').dpop_bound, true)
    assert.equal(summary.tls, undefined, 'no CA without --tls')
    assert.equal(client('workload').auth_method, 'federated')
    assert.deepEqual(client('workload').federated_credentials, [{issuer: `${summary.issuer}/github-actions`, subject: summary.github_actions.subject, audience: 'api://AzureADTokenExchange'}])
    assert.equal(summary.github_actions.request_url, `${summary.issuer}/github-actions/idtoken?api-version=2.0`)
    assert.ok(summary.examples.some((line) => line.includes('--federated-token-github')))
    assert.deepEqual(client('worker'), {client_id: 'worker', auth_method: 'client_secret_basic', client_secret: 'worker-secret', grant_types: ['client_credentials']})
    assert.equal(client('api').client_secret, 'api-secret')
    assert.ok(client('api').grant_types.includes(JWT_BEARER_GRANT))
    assert.deepEqual(client('cli').redirect_uris, ['http://127.0.0.1/callback'])
    assert.equal(client('cli').client_secret, undefined)
    // What to paste: the named clients first (the OBO pipeline needs `api` and `cli`), then the flows with them.
    for (const name of ['worker', 'api', 'cli', 'dpop']) {
      assert.ok(
        summary.examples.some((line) => line.includes(`client add ${name} --issuer ${summary.issuer}`)),
        `a client add line for ${name}`,
      )
    }
    assert.ok(summary.examples.some((line) => line.includes(`call ${summary.issuer}/api/echo`)))
    assert.equal(summary.api_url, `${summary.issuer}/api`)

    const metadata = (await (await fetch(`${summary.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>
    assert.equal(metadata.issuer, summary.issuer)
    assert.equal(metadata.device_authorization_endpoint, summary.device_authorization_endpoint)
    assert.equal(metadata.authorization_endpoint, summary.authorization_endpoint)
    for (const grant of ['client_credentials', 'authorization_code', 'refresh_token', DEVICE_CODE_GRANT, JWT_BEARER_GRANT]) {
      assert.ok((metadata.grant_types_supported as string[]).includes(grant), grant)
    }
  })

  it('gives the worker a client-credentials JWT for the downstream API', async () => {
    const {status, body} = await post(summary.token_endpoint, {grant_type: 'client_credentials'}, basic('worker', 'worker-secret'))
    assert.equal(status, 200)
    const {payload} = await jwtVerify(body.access_token ?? '', createRemoteJWKSet(new URL(summary.jwks_uri)), {
      issuer: summary.issuer,
      audience: 'urn:tokenctl:api',
    })
    assert.equal(payload.client_id, 'worker')
  })

  describe('the protected API beside it', () => {
    const workerToken = async () => (await post(summary.token_endpoint, {grant_type: 'client_credentials'}, basic('worker', 'worker-secret'))).body.access_token ?? ''
    const get = async (path: string, token?: string) => {
      const response = await fetch(`${summary.api_url}${path}`, {headers: token ? {authorization: `Bearer ${token}`} : {}})
      return {status: response.status, challenge: response.headers.get('www-authenticate'), body: (await response.json()) as Record<string, any>}
    }

    it('echoes the verified claims of a token for the downstream API, and refuses no token, a forged one and one for another audience (RFC 6750 §3)', async () => {
      const token = await workerToken()
      const echo = await get('/echo', token)
      assert.equal(echo.status, 200)
      assert.equal(echo.body.claims.client_id, 'worker')
      assert.equal(echo.body.claims.aud, 'urn:tokenctl:api')
      assert.equal(echo.body.path, '/api/echo')

      const none = await get('/echo')
      assert.equal(none.status, 401)
      assert.match(none.challenge ?? '', /^Bearer/)
      const [header, payload] = token.split('.')
      assert.equal((await get('/echo', `${header}.${payload}.${'A'.repeat(86)}`)).body.error, 'invalid_token')
      const authorization = await startDeviceFlow('access_as_user')
      await approveDevice(authorization.verification_uri_complete, {login: 'alice'})
      const userToken = (await poll(authorization.device_code)).body.access_token
      const wrongAudience = await get('/echo', userToken)
      assert.equal(wrongAudience.status, 401)
      assert.match(String(wrongAudience.body.error_description), /aud/)
    })

    it('answers 401 to the first token per id on reject-first, and the echo to any other', async () => {
      const first = await workerToken()
      const second = await workerToken()
      assert.equal((await get('/reject-first/a', first)).status, 401)
      assert.equal((await get('/reject-first/a', second)).status, 200)
      assert.equal((await get('/reject-first/a', first)).status, 401, 'still the revoked one')
      assert.equal((await get('/reject-first/b', second)).status, 401, 'each id has its own first token')
    })

    it('lets tokenctl call renew the token once on a 401 and print the echo, saying so in one line on stderr', async () => {
      const cli = cliWithHome({env: FILE_STORE})
      expectExit(await cli.run(['client', 'add', 'worker', '--issuer', summary.issuer, '--client-id', 'worker', '--client-secret-stdin'], {input: 'worker-secret'}), 0)
      expectExit(await cli.run(['token', 'client', 'worker']), 0) // cached: the token the API will reject first
      const called = await cli.run(['call', `${summary.api_url}/reject-first/renewal`, '--client', 'worker'])
      expectExit(called, 0)
      assert.equal(stdoutJson(called).claims.client_id, 'worker')
      assert.equal(called.stderr, 'the API refused the token (401 Unauthorized, invalid_token): got a new one (--client worker) and sent the request again\n')
      const quiet = await cli.run(['call', `${summary.api_url}/reject-first/renewal`, '--client', 'worker'])
      expectExit(quiet, 0)
      assert.equal(quiet.stderr, '', 'no renewal, nothing said')
    })

    it('echoes what was sent: the method, the body as text (data) and as JSON when it parses, bounded', async () => {
      const cli = cliWithHome({env: FILE_STORE})
      expectExit(await cli.run(['client', 'add', 'worker', '--issuer', summary.issuer, '--client-id', 'worker', '--client-secret-stdin'], {input: 'worker-secret'}), 0)
      const posted = await cli.run(['call', `${summary.api_url}/echo`, '--client', 'worker', '-X', 'POST', '-d', '{"name":"x","quote":"\\"é\\""}'])
      expectExit(posted, 0)
      const echo = stdoutJson(posted)
      assert.deepEqual([echo.method, echo.content_type, echo.data, echo.json], ['POST', 'application/json', '{"name":"x","quote":"\\"é\\""}', {name: 'x', quote: '"é"'}])
      assert.ok(posted.stdout.includes('"data": "{\\"name\\":\\"x\\",\\"quote\\":\\"\\\\\\"é\\\\\\"\\"}"'), `JSON's own escapes and nothing more:\n${posted.stdout}`)
      const form = await cli.run(['call', `${summary.api_url}/echo`, '--client', 'worker', '-X', 'PUT', '-d', 'a=1&b=2'])
      assert.deepEqual(
        Object.entries(stdoutJson(form)).filter(([field]) => ['method', 'content_type', 'data', 'json'].includes(field)),
        [
          ['method', 'PUT'],
          ['content_type', 'application/x-www-form-urlencoded'],
          ['data', 'a=1&b=2'],
        ],
      )
      const bare = stdoutJson(await cli.run(['call', `${summary.api_url}/echo`, '--client', 'worker']))
      assert.deepEqual(Object.keys(bare), ['method', 'path', 'claims'], 'no body, no body fields')

      const token = await workerToken()
      const big = await fetch(`${summary.api_url}/echo`, {body: 'y'.repeat(100_000), headers: {authorization: `Bearer ${token}`, 'content-type': 'text/plain'}, method: 'POST'})
      const bigEcho = (await big.json()) as Record<string, unknown>
      assert.equal(String(bigEcho.data).length, 16 * 1024)
      assert.deepEqual([bigEcho.data_truncated, bigEcho.body_bytes, bigEcho.json], [true, 100_000, undefined])
    })
  })

  describe('this machine only: a foreign Host (DNS rebinding) or Origin is refused; CORS only for its own origin (Fetch standard, CORS protocol)', () => {
    const port = () => new URL(summary.issuer).port
    const form = new URLSearchParams({grant_type: 'client_credentials'}).toString()
    const tokenRequest = (headers: Record<string, string>) =>
      raw(summary.token_endpoint, {method: 'POST', body: form, headers: {'content-type': 'application/x-www-form-urlencoded', authorization: basic('worker', 'worker-secret'), ...headers}})
    const paths = () => ['/.well-known/openid-configuration', '/jwks', '/api/echo', '/github-actions/.well-known/openid-configuration', '/device']

    it('refuses a Host that is not a loopback name with 421 and one short line, on every route, and issues no token', async () => {
      for (const host of [`evil.example:${port()}`, `127.0.0.1.nip.io:${port()}`, `localhost.evil.example:${port()}`, 'evil.example', `user@127.0.0.1:${port()}`, '']) {
        for (const path of paths()) {
          const answer = await raw(`${summary.issuer}${path}`, {headers: {host}})
          assert.equal(answer.status, 421, `${host} ${path}`)
          assert.equal(answer.body, 'dev idp answers only requests addressed to this machine: Host must be localhost, 127.0.0.1 or [::1]\n')
          assert.equal(answer.headers['access-control-allow-origin'], undefined)
        }

        const token = await tokenRequest({host, origin: `http://${host}`})
        assert.equal(token.status, 421, host)
        assert.doesNotMatch(token.body, /access_token/)
      }
    })

    it('answers every loopback name, with the port or without', async () => {
      for (const host of [`localhost:${port()}`, `127.0.0.1:${port()}`, `[::1]:${port()}`, `127.1.2.3:${port()}`, 'localhost', `LOCALHOST:${port()}`]) {
        const answer = await raw(`${summary.issuer}/.well-known/openid-configuration`, {headers: {host}})
        assert.equal(answer.status, 200, host)
      }

      assert.ok(JSON.parse((await tokenRequest({host: `localhost:${port()}`})).body).access_token)
    })

    it('refuses another Origin with 403 and no CORS header: discovery, the JWKS, the token endpoint, its preflight, the API', async () => {
      const origins = ['https://evil.example', `http://localhost:${port()}`, `http://127.0.0.1:${Number(port()) + 1}`, `https://127.0.0.1:${port()}`, 'null']
      for (const origin of origins) {
        for (const path of paths()) {
          const answer = await raw(`${summary.issuer}${path}`, {headers: {origin}})
          assert.equal(answer.status, 403, `${origin} ${path}`)
          assert.equal(answer.body, 'dev idp answers no other origin: only its own pages may call it from a browser\n')
          assert.equal(answer.headers['access-control-allow-origin'], undefined)
        }

        const preflight = await raw(summary.token_endpoint, {method: 'OPTIONS', headers: {origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization'}})
        assert.equal(preflight.status, 403, origin)
        assert.equal(preflight.headers['access-control-allow-origin'], undefined)
        const token = await tokenRequest({origin})
        assert.equal(token.status, 403, origin)
        assert.equal(token.headers['access-control-allow-origin'], undefined)
      }
    })

    it('its own origin (the scheme and Host the request went to) is answered, with CORS for that origin alone', async () => {
      const own = summary.issuer
      const discovery = await raw(`${summary.issuer}/.well-known/openid-configuration`, {headers: {origin: own}})
      assert.equal(discovery.status, 200)
      assert.equal(discovery.headers['access-control-allow-origin'], own)
      const token = await tokenRequest({origin: own})
      assert.equal(token.status, 200, token.body)
      assert.equal(token.headers['access-control-allow-origin'], own)
      const byName = await tokenRequest({host: `localhost:${port()}`, origin: `http://localhost:${port()}`})
      assert.equal(byName.status, 200, byName.body)
      assert.equal(byName.headers['access-control-allow-origin'], `http://localhost:${port()}`)
    })
  })

  describe('unknown scopes: invalid_scope, as real servers answer (RFC 6749 §5.2)', () => {
    it('refuses them for client credentials, and tokenctl exits 4 with the code; known scopes are granted', async () => {
      const refused = await post(summary.token_endpoint, {grant_type: 'client_credentials', scope: 'read nonsense'}, basic('worker', 'worker-secret'))
      assert.equal(refused.status, 400)
      assert.equal(refused.body.error, 'invalid_scope')
      assert.match(refused.body.error_description ?? '', /unknown scope: nonsense/)
      assert.equal((await post(summary.token_endpoint, {grant_type: 'client_credentials', scope: 'read'}, basic('worker', 'worker-secret'))).body.scope, 'read')

      const cli = cliWithHome({env: {...FILE_STORE, WORKER_SECRET: 'worker-secret'}})
      const result = await cli.run(['token', 'client', '--issuer', summary.issuer, '--client-id', 'worker', '--client-secret-env', 'WORKER_SECRET', '--scope', 'nonsense', '--json'])
      expectExit(result, 4)
      assert.equal(stdoutJson(result).error.code, 'invalid_scope')
    })

    it('refuses them at the device and authorization endpoints, for both OBO grants and for a refresh', async () => {
      const device = await post(summary.device_authorization_endpoint, {client_id: 'cli', scope: 'access_as_user nonsense'})
      assert.equal(device.status, 400)
      assert.equal(device.body.error, 'invalid_scope')

      const {challenge} = pkce()
      const url = new URL(summary.authorization_endpoint)
      const redirectUri = `http://127.0.0.1:${await unusedPort()}/callback`
      url.search = new URLSearchParams({
        client_id: 'cli',
        response_type: 'code',
        redirect_uri: redirectUri,
        scope: 'nonsense',
        state: 's',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }).toString()
      const redirect = await fetch(url, {redirect: 'manual'})
      const location = new URL(redirect.headers.get('location') ?? '')
      assert.equal(location.origin + location.pathname, redirectUri)
      assert.equal(location.searchParams.get('error'), 'invalid_scope')

      const authorization = await startDeviceFlow()
      await approveDevice(authorization.verification_uri_complete, {login: 'alice'})
      const signedIn = await poll(authorization.device_code)
      const userToken = signedIn.body.access_token ?? ''
      const api = basic('api', 'api-secret')
      const jwtBearer = await post(summary.token_endpoint, {grant_type: JWT_BEARER_GRANT, assertion: userToken, requested_token_use: 'on_behalf_of', scope: 'read nonsense'}, api)
      assert.equal(jwtBearer.body.error, 'invalid_scope', JSON.stringify(jwtBearer.body))
      const exchange = await post(
        summary.token_endpoint,
        {
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: userToken,
          subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          scope: 'nonsense',
        },
        api,
      )
      assert.equal(exchange.body.error, 'invalid_scope', JSON.stringify(exchange.body))
      assert.equal((await post(summary.token_endpoint, {grant_type: JWT_BEARER_GRANT, assertion: userToken, requested_token_use: 'on_behalf_of', scope: 'read'}, api)).status, 200)

      const refresh = await post(summary.token_endpoint, {grant_type: 'refresh_token', refresh_token: signedIn.body.refresh_token ?? '', client_id: 'cli', scope: 'nonsense'})
      assert.equal(refresh.body.error, 'invalid_scope', JSON.stringify(refresh.body))
    })
  })

  describe('device flow', () => {
    it('announces the interval, answers authorization_pending, and issues the user token for the web API once the robot approved', async () => {
      const authorization = await startDeviceFlow()
      assert.equal(authorization.interval, 5)
      assert.match(authorization.verification_uri_complete, /\/device\?user_code=/)
      assert.equal((await poll(authorization.device_code)).body.error, 'authorization_pending')

      await approveDevice(authorization.verification_uri_complete, {login: 'alice'})
      const {status, body} = await poll(authorization.device_code)
      assert.equal(status, 200, JSON.stringify(body))
      const claims = decodeJwt(body.access_token ?? '')
      assert.equal(claims.aud, 'api')
      assert.equal(claims.sub, 'alice')
      assert.equal(claims.client_id, 'cli')
      assert.equal(claims.scope, 'access_as_user')
      assert.ok(body.refresh_token, 'offline_access gives a refresh token')
    })

    it('takes the user code typed in at the verification URI', async () => {
      const authorization = await startDeviceFlow(`api://api/access_as_user`)
      await approveDevice(authorization.verification_uri, {login: 'carol', userCode: authorization.user_code})
      const {status, body} = await poll(authorization.device_code)
      assert.equal(status, 200)
      assert.equal(decodeJwt(body.access_token ?? '').aud, 'api')
      assert.equal(body.refresh_token, undefined)
    })

    it('answers slow_down to a poll sooner than the interval, and keeps answering it while the client does not slow down', async () => {
      const authorization = await startDeviceFlow()
      assert.equal((await poll(authorization.device_code)).body.error, 'authorization_pending')
      const second = await poll(authorization.device_code)
      assert.equal(second.status, 400)
      assert.equal(second.body.error, 'slow_down')
      assert.match(second.body.error_description ?? '', /10 s/)
      assert.equal((await poll(authorization.device_code)).body.error, 'slow_down')
      // Only waiting is slowed down: a fast poll after the approval still gets the tokens.
      await approveDevice(authorization.verification_uri_complete, {login: 'alice'})
      assert.equal((await poll(authorization.device_code)).status, 200)
    })

    it('ends in access_denied when the person denies', async () => {
      const authorization = await startDeviceFlow()
      await approveDevice(authorization.verification_uri_complete, {login: 'mallory', deny: true})
      const {status, body} = await poll(authorization.device_code)
      assert.equal(status, 400)
      assert.equal(body.error, 'access_denied')
    })

    it('refuses an unknown user code', async () => {
      const authorization = await startDeviceFlow()
      await assert.rejects(approveDevice(authorization.verification_uri, {login: 'alice', userCode: 'BCDF-GHJK'}), /code was not found/)
    })
  })

  describe('authorization code with PKCE through a loopback redirect', () => {
    async function authorize(options: {scope?: string; redirectUri: string; state: string; deny?: boolean}) {
      const {verifier, challenge} = pkce()
      const url = new URL(summary.authorization_endpoint)
      url.search = new URLSearchParams({
        client_id: 'cli',
        response_type: 'code',
        redirect_uri: options.redirectUri,
        scope: options.scope ?? 'access_as_user offline_access',
        state: options.state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }).toString()
      const callback = await completeAuthorization(url, {login: 'bob', deny: options.deny})
      return {callback, verifier}
    }

    it('signs in through the login and consent pages, and the code gives a user token that works as an OBO assertion for api', async () => {
      const redirectUri = `http://127.0.0.1:${await unusedPort()}/callback`
      const {callback, verifier} = await authorize({redirectUri, state: 'state-1'})
      assert.equal(`${callback.origin}${callback.pathname}`, redirectUri)
      assert.equal(callback.searchParams.get('state'), 'state-1')
      assert.equal(callback.searchParams.get('iss'), summary.issuer)
      const code = callback.searchParams.get('code')
      assert.ok(code)

      const redeemed = await post(summary.token_endpoint, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        code_verifier: verifier,
        client_id: 'cli',
      })
      assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body))
      const userToken = redeemed.body.access_token ?? ''
      assert.equal(decodeJwt(userToken).aud, 'api')
      assert.equal(decodeJwt(userToken).sub, 'bob')
      assert.ok(redeemed.body.refresh_token, 'offline_access gives a refresh token without prompt=consent')

      // The web API exchanges it on behalf of bob (Entra's jwt-bearer flavor)…
      const obo = await post(summary.token_endpoint, {grant_type: JWT_BEARER_GRANT, assertion: userToken, requested_token_use: 'on_behalf_of', scope: 'read'}, basic('api', 'api-secret'))
      assert.equal(obo.status, 200, JSON.stringify(obo.body))
      assert.equal(decodeJwt(obo.body.access_token ?? '').sub, 'bob')
      assert.equal(decodeJwt(obo.body.access_token ?? '').aud, 'urn:tokenctl:api')

      // …and so does tokenctl, with the dev idp's printed settings.
      const cli = cliWithHome({env: {...FILE_STORE, API_SECRET: 'api-secret', USER_TOKEN: userToken}})
      const exchanged = await cli.run([
        'token',
        'obo',
        '--issuer',
        summary.issuer,
        '--client-id',
        'api',
        '--client-secret-env',
        'API_SECRET',
        '--assertion-env',
        'USER_TOKEN',
        '--scope',
        'read',
        '--flavor',
        'entra',
        '--json',
      ])
      expectExit(exchanged, 0)
      assert.equal(decodeJwt(stdoutJson(exchanged).access_token).sub, 'bob')

      // The user's refresh token rotates.
      const refreshed = await post(summary.token_endpoint, {grant_type: 'refresh_token', refresh_token: redeemed.body.refresh_token ?? '', client_id: 'cli'})
      assert.equal(refreshed.status, 200)
      assert.notEqual(refreshed.body.refresh_token, redeemed.body.refresh_token)
    })

    it('redirects access_denied with the state when the person cancels', async () => {
      const redirectUri = `http://127.0.0.1:${await unusedPort()}/callback`
      const {callback} = await authorize({redirectUri, state: 'state-2', deny: true})
      assert.equal(callback.searchParams.get('error'), 'access_denied')
      assert.equal(callback.searchParams.get('state'), 'state-2')
    })

    it('refuses a redirect URI that is not the loopback one', async () => {
      await assert.rejects(authorize({redirectUri: 'http://attacker.example/callback', state: 's'}), /redirect_uri/)
    })
  })

  it('refuses a port in use with exit 3 and one clear line', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const {port} = blocker.address() as AddressInfo
    try {
      const result = await runCli(['dev', 'idp', '--port', String(port)])
      expectExit(result, 3)
      assert.equal(result.stdout, '')
      const lines = result.stderr.trim().split('\n')
      assert.equal(lines.length, 1, result.stderr)
      assert.match(lines[0], new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`))

      const json = await runCli(['dev', 'idp', '--port', String(port), '--json'])
      expectExit(json, 3)
      assert.equal(stdoutJson(json).error.code, 'port_in_use')
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  // Last: mocha runs a suite's own tests before its nested suites, so this one is a suite too.
  describe('Ctrl-C', () => {
    it('stops on SIGINT with exit 0, having written nothing on stdout but its one JSON line', async () => {
      idp.kill('SIGINT')
      const result = await idp.result
      expectExit(result, 0)
      assert.equal(result.stdout.trim().split('\n').length, 1, result.stdout)
      assert.doesNotMatch(result.stderr, /oidc-provider|server error/, result.stderr)
    })
  })
})

describe('tokenctl dev idp --tls (end to end)', function () {
  this.timeout(60_000)

  /** dev idp --tls in a home of its own, until it prints its summary. */
  async function startTls(home: string): Promise<{idp: StartedCli; summary: DevIdpSummary}> {
    const idp = startCli(['dev', 'idp', '--port', '0', '--tls', '--json'], {home, timeoutMs: 60_000})
    return {idp, summary: JSON.parse(await firstLine(idp)) as DevIdpSummary}
  }

  it('serves https with a CA of its own, written where the summary says (0600), an mtls client registered by the certificate beside it, the same files on the next start', async () => {
    const home = tempHome()
    const first = await startTls(home)
    try {
      const {summary} = first
      assert.match(summary.issuer, /^https:\/\/127\.0\.0\.1:\d+$/)
      assert.equal(summary.tls!.ca_file, join(home, 'dev-idp', 'ca.pem'))
      const ca = readFileSync(summary.tls!.ca_file, 'utf8')
      assert.equal(summary.tls!.ca_sha256, new X509Certificate(ca).fingerprint256)
      const mtls = summary.clients.find((client) => client.client_id === 'mtls')!
      assert.equal(mtls.auth_method, 'self_signed_tls_client_auth')
      assert.equal(mtls.certificate_file, join(home, 'dev-idp', 'mtls-client.pem'))
      for (const file of [summary.tls!.ca_file, mtls.certificate_file]) assert.equal(statSync(file).mode & 0o777, 0o600, file)
      assert.notEqual(summary.tls!.mtls_origin, summary.issuer)
      const metadata = await new Promise<Record<string, unknown>>((resolve, reject) => {
        httpsRequest(`${summary.issuer}/.well-known/openid-configuration`, {ca}, (response) => {
          let body = ''
          response.on('data', (chunk) => (body += chunk))
          response.on('end', () => resolve(JSON.parse(body)))
        })
          .on('error', reject)
          .end()
      })
      assert.equal((metadata.mtls_endpoint_aliases as Record<string, string>).token_endpoint, `${summary.tls!.mtls_origin}/token`)
      assert.equal(metadata.tls_client_certificate_bound_access_tokens, true)
      assert.ok(summary.examples.some((line) => line.includes(`--certificate-file ${mtls.certificate_file}`)))
    } finally {
      first.idp.kill('SIGINT')
      await first.idp.result
    }

    const again = await startTls(home)
    try {
      assert.equal(again.summary.tls!.ca_sha256, first.summary.tls!.ca_sha256, 'the same CA: a client added with its certificate keeps working')
    } finally {
      again.idp.kill('SIGINT')
      await again.idp.result
    }
  })
})
