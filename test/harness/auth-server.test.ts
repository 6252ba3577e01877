import {strict as assert} from 'node:assert'
import {randomUUID} from 'node:crypto'
import {existsSync} from 'node:fs'
import {createRemoteJWKSet, decodeJwt, importJWK, importPKCS8, jwtVerify, SignJWT} from 'jose'
import type {CryptoKey} from 'jose'
import {DEVICE_CODE_GRANT, JWT_BEARER_GRANT} from '../../src/lib/oauth/urns.js'
import {approveDevice} from '../../src/lib/devidp/robot.js'
import {API_RESOURCE, OTHER_RESOURCE, startAuthServer, useAuthServer} from '../helpers/auth-server.js'
import type {AuthServer, TestClient} from '../helpers/auth-server.js'
import {runNode, startNode, tempHome} from '../helpers/cli.js'

// Plain fetch on purpose: these tests prove the test server, not tokenctl.

type Form = Record<string, string>

function basicAuth(client: TestClient): string {
  const encode = (value: string) => encodeURIComponent(value).replaceAll('%20', '+')
  return `Basic ${Buffer.from(`${encode(client.clientId)}:${encode(client.clientSecret ?? '')}`).toString('base64')}`
}

async function postForm(url: string, form: Form, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return fetch(url, {
    method: 'POST',
    headers: {'content-type': 'application/x-www-form-urlencoded', ...headers},
    body: new URLSearchParams(form).toString(),
    signal,
  })
}

async function clientCredentials(server: AuthServer, client: TestClient, form: Form = {}, signal?: AbortSignal) {
  return postForm(server.tokenEndpoint, {grant_type: 'client_credentials', ...form}, {authorization: basicAuth(client)}, signal)
}

async function clientAssertion(server: AuthServer, key: CryptoKey | Uint8Array, audience: string): Promise<string> {
  const {clientId, kid, alg} = server.clients.jwt
  return new SignJWT({}).setProtectedHeader({alg, kid}).setIssuer(clientId).setSubject(clientId).setAudience(audience).setJti(randomUUID()).setIssuedAt().setExpirationTime('1m').sign(key)
}

async function privateKeyJwtRequest(server: AuthServer, assertion: string) {
  return postForm(server.tokenEndpoint, {
    grant_type: 'client_credentials',
    client_id: server.clients.jwt.clientId,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  })
}

function lifetime(accessToken: string): number {
  const {exp, iat} = decodeJwt(accessToken)
  assert.ok(exp !== undefined && iat !== undefined)
  return exp - iat
}

describe('test authorization server (oidc-provider)', () => {
  let server: AuthServer

  useAuthServer((started) => {
    server = started
  })

  it('publishes discovery whose issuer is the server URL', async () => {
    const response = await fetch(`${server.issuer}/.well-known/openid-configuration`)
    assert.equal(response.status, 200)
    const metadata = (await response.json()) as Record<string, unknown>
    assert.equal(metadata.issuer, server.issuer)
    assert.equal(metadata.token_endpoint, server.tokenEndpoint)
    assert.equal(metadata.revocation_endpoint, server.revocationEndpoint)
    assert.equal(metadata.jwks_uri, server.jwksUri)
    assert.ok((metadata.grant_types_supported as string[]).includes('client_credentials'))
    assert.deepEqual(
      server.requests.map(({method, path}) => `${method} ${path}`),
      ['GET /.well-known/openid-configuration'],
    )
  })

  it('issues a JWT for the default API resource to a client_secret_basic client', async () => {
    const response = await clientCredentials(server, server.clients.basic)
    assert.equal(response.status, 200)
    const body = (await response.json()) as {access_token: string; token_type: string; expires_in: number}
    assert.equal(body.token_type, 'Bearer')
    assert.equal(body.expires_in, 3600)

    const {payload} = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(server.jwksUri)), {
      issuer: server.issuer,
      audience: API_RESOURCE,
    })
    assert.equal(payload.client_id, 'basic')
    assert.equal(lifetime(body.access_token), 3600)
  })

  it('grants the requested scopes', async () => {
    for (const scope of ['api', 'read', 'read write']) {
      const body = (await (await clientCredentials(server, server.clients.basic, {scope})).json()) as {
        access_token: string
        scope: string
      }
      assert.equal(body.scope, scope)
      assert.equal(decodeJwt(body.access_token).scope, scope)
    }
  })

  it('authenticates a client_secret_post client', async () => {
    const {clientId, clientSecret} = server.clients.post
    const response = await postForm(server.tokenEndpoint, {
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret ?? '',
    })
    assert.equal(response.status, 200)
    const {access_token} = (await response.json()) as {access_token: string}
    assert.equal(decodeJwt(access_token).client_id, 'post')
  })

  it('authenticates a private_key_jwt client with the PEM key, aud = issuer', async () => {
    const key = await importPKCS8(server.clients.jwt.privateKeyPem, server.clients.jwt.alg)
    const response = await privateKeyJwtRequest(server, await clientAssertion(server, key, server.issuer))
    assert.equal(response.status, 200)
    const {access_token} = (await response.json()) as {access_token: string}
    assert.equal(decodeJwt(access_token).client_id, 'jwt')
  })

  it('authenticates a private_key_jwt client with the JWK, aud = token endpoint', async () => {
    assert.equal(server.clients.jwt.privateJwk.kid, server.clients.jwt.kid)
    const key = await importJWK(server.clients.jwt.privateJwk, server.clients.jwt.alg)
    const response = await privateKeyJwtRequest(server, await clientAssertion(server, key, server.tokenEndpoint))
    assert.equal(response.status, 200)
  })

  it('gives the short client tokens that live 5 seconds', async () => {
    const body = (await (await clientCredentials(server, server.clients.short)).json()) as {
      access_token: string
      expires_in: number
    }
    assert.equal(body.expires_in, 5)
    assert.equal(lifetime(body.access_token), 5)
  })

  it('issues a token for a second resource with that audience', async () => {
    const response = await clientCredentials(server, server.clients.basic, {resource: OTHER_RESOURCE})
    const {access_token} = (await response.json()) as {access_token: string}
    assert.equal(decodeJwt(access_token).aud, OTHER_RESOURCE)
  })

  it('refuses an unknown resource with invalid_target', async () => {
    const response = await clientCredentials(server, server.clients.basic, {resource: 'urn:tokenctl:unknown'})
    assert.equal(response.status, 400)
    assert.equal(((await response.json()) as {error: string}).error, 'invalid_target')
  })

  it('answers a wrong secret with 401 invalid_client', async () => {
    const response = await clientCredentials(server, {...server.clients.basic, clientSecret: 'wrong'})
    assert.equal(response.status, 401)
    assert.equal(((await response.json()) as {error: string}).error, 'invalid_client')
  })

  it('refuses client credentials to the public client', async () => {
    const response = await postForm(server.tokenEndpoint, {grant_type: 'client_credentials', client_id: 'public'})
    assert.equal(response.status, 400)
    assert.equal(((await response.json()) as {error: string}).error, 'invalid_request')
  })

  it('records every token request exactly, with the raw parameters', async () => {
    await clientCredentials(server, server.clients.basic, {scope: 'read', resource: API_RESOURCE})
    const {clientId, clientSecret} = server.clients.post
    await postForm(server.tokenEndpoint, {
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret ?? '',
    })
    const key = await importPKCS8(server.clients.jwt.privateKeyPem, server.clients.jwt.alg)
    const assertion = await clientAssertion(server, key, server.issuer)
    await privateKeyJwtRequest(server, assertion)
    await fetch(server.jwksUri)

    assert.equal(server.tokenRequests.length, 3)
    const [basic, post, jwt] = server.tokenRequests
    assert.equal(basic.grant_type, 'client_credentials')
    assert.equal(basic.client_id, 'basic')
    assert.deepEqual(basic.params, {grant_type: 'client_credentials', scope: 'read', resource: API_RESOURCE})
    assert.match(String(basic.headers.authorization), /^Basic /)
    assert.equal(post.client_id, 'post')
    assert.equal(post.params.client_secret, 'post-secret')
    assert.equal(jwt.client_id, 'jwt')
    assert.equal(jwt.params.client_assertion, assertion)
    assert.ok(server.tokenRequests.every((request) => request.fault === undefined))
    assert.equal(server.requests.length, 4)
  })

  describe('fault injection', () => {
    it('answers a bare 503, then lets the next request through', async () => {
      server.injectTokenFaults({status: 503})
      const faulted = await clientCredentials(server, server.clients.basic)
      assert.equal(faulted.status, 503)
      assert.match(faulted.headers.get('content-type') ?? '', /^text\/plain/)
      await assert.rejects(faulted.json(), SyntaxError)
      assert.equal((await clientCredentials(server, server.clients.basic)).status, 200)
      assert.deepEqual(
        server.tokenRequests.map((request) => request.fault),
        [{status: 503}, undefined],
      )
    })

    it('consumes faults in order', async () => {
      server.injectTokenFaults({status: 429, retryAfter: 1}, {status: 503})
      const first = await clientCredentials(server, server.clients.basic)
      assert.equal(first.status, 429)
      assert.equal(first.headers.get('retry-after'), '1')
      assert.equal((await clientCredentials(server, server.clients.basic)).status, 503)
      assert.equal((await clientCredentials(server, server.clients.basic)).status, 200)
      assert.equal(server.tokenRequests.length, 3)
    })

    it('answers 200 with an HTML page', async () => {
      server.injectTokenFaults({html: true})
      const response = await clientCredentials(server, server.clients.basic)
      assert.equal(response.status, 200)
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/)
      await assert.rejects(response.json(), SyntaxError)
    })

    it('answers 200 with truncated JSON', async () => {
      server.injectTokenFaults({malformedJson: true})
      const response = await clientCredentials(server, server.clients.basic)
      assert.equal(response.status, 200)
      assert.equal(response.headers.get('content-type'), 'application/json')
      await assert.rejects(response.json(), SyntaxError)
    })

    it('answers an arbitrary JSON error body', async () => {
      const body = {
        error: 'invalid_grant',
        error_description: 'AADSTS50076: Due to a configuration change made by your administrator…',
        error_codes: [50076],
        correlation_id: 'c0ffee',
        trace_id: 'beef',
        claims: '{"access_token":{"capolids":{"essential":true,"values":["1"]}}}',
      }
      server.injectTokenFaults({status: 400, body})
      const response = await clientCredentials(server, server.clients.basic)
      assert.equal(response.status, 400)
      assert.deepEqual(await response.json(), body)
      assert.deepEqual(server.tokenRequests[0].fault, {status: 400, body})
    })

    it('hangs until the client gives up', async () => {
      server.injectTokenFaults({hang: true})
      await assert.rejects(clientCredentials(server, server.clients.basic, {}, AbortSignal.timeout(300)), {
        name: 'TimeoutError',
      })
      assert.deepEqual(server.tokenRequests[0].fault, {hang: true})
    })

    it('delays a request and then lets the provider answer', async () => {
      server.injectTokenFaults({delayMs: 300})
      const started = Date.now()
      const response = await clientCredentials(server, server.clients.basic)
      assert.equal(response.status, 200)
      assert.ok(Date.now() - started >= 290)
    })
  })

  it('runs the device flow with the sign-in robot, at the polling interval it was started with', async () => {
    const quick = await startAuthServer({deviceInterval: 1})
    try {
      const started = await postForm(quick.deviceAuthorizationEndpoint, {client_id: quick.clients.cli.clientId, scope: 'access_as_user'})
      assert.equal(started.status, 200)
      const authorization = (await started.json()) as {device_code: string; interval: number; verification_uri_complete: string}
      assert.equal(authorization.interval, 1)
      const poll = () => postForm(quick.tokenEndpoint, {grant_type: DEVICE_CODE_GRANT, device_code: authorization.device_code, client_id: 'cli'})
      assert.equal(((await (await poll()).json()) as {error: string}).error, 'authorization_pending')
      await approveDevice(authorization.verification_uri_complete, {login: 'dave'})
      await new Promise((resolve) => setTimeout(resolve, 1000)) // one interval: a sooner poll is slow_down
      const issued = await poll()
      assert.equal(issued.status, 200)
      const {access_token} = (await issued.json()) as {access_token: string}
      assert.equal(decodeJwt(access_token).aud, quick.clients.api.clientId)
      assert.equal(decodeJwt(access_token).sub, 'dave')
    } finally {
      await quick.stop()
    }
  })

  it('stops while a request hangs, closing its socket', async () => {
    const hanging = await startAuthServer()
    hanging.injectTokenFaults({hang: true})
    const request = clientCredentials(hanging, hanging.clients.basic)
    while (hanging.tokenRequests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    await hanging.stop() // how long it takes is a row of `npm run bench`
    await assert.rejects(request, TypeError)
  })
})

// The spawn helpers, checked with `node -e` so they need no build.
describe('cli spawn helpers', () => {
  const printEnvironment = `
    const names = ['TOKENCTL_HOME', 'NO_COLOR', 'TOKENCTL_STORE', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'EXTRA']
    console.log(JSON.stringify(Object.fromEntries(names.map((name) => [name, process.env[name] ?? null]))))`

  it('runs in a clean environment with a fresh TOKENCTL_HOME', async () => {
    const added = {TOKENCTL_STORE: 'file', HTTPS_PROXY: 'http://proxy:1', https_proxy: 'http://p:2', NO_PROXY: '*'}
    const saved = Object.fromEntries(Object.keys(added).map((name) => [name, process.env[name]]))
    Object.assign(process.env, added)
    try {
      const result = await runNode(['-e', printEnvironment], {env: {EXTRA: 'yes'}})
      assert.equal(result.code, 0, result.stderr)
      const env = JSON.parse(result.stdout) as Record<string, string | null>
      assert.equal(env.TOKENCTL_HOME, result.home)
      assert.ok(existsSync(result.home))
      assert.deepEqual({...env, TOKENCTL_HOME: undefined}, {TOKENCTL_HOME: undefined, NO_COLOR: '1', TOKENCTL_STORE: null, HTTPS_PROXY: null, https_proxy: null, NO_PROXY: null, EXTRA: 'yes'})
      const again = await runNode(['-e', printEnvironment])
      assert.notEqual(again.home, result.home)
    } finally {
      // Never replace process.env itself: a plain object would cut it off from the real environment
      // that native code (libdbus) reads.
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }
  })

  it('uses the home it is given and lets env remove a variable', async () => {
    const home = tempHome()
    const result = await runNode(['-e', printEnvironment], {home, env: {NO_COLOR: undefined}})
    const env = JSON.parse(result.stdout) as Record<string, string | null>
    assert.equal(env.TOKENCTL_HOME, home)
    assert.equal(env.NO_COLOR, null)
  })

  it('writes input to stdin and closes it, or closes it at once', async () => {
    const echo = `let data = ''; process.stdin.on('data', (c) => data += c).on('end', () => process.stdout.write('[' + data + ']'))`
    assert.equal((await runNode(['-e', echo], {input: 's3cret\n'})).stdout, '[s3cret\n]')
    assert.equal((await runNode(['-e', echo], {timeoutMs: 5000})).stdout, '[]')
  })

  it('reports exit code, stderr and duration', async () => {
    const result = await runNode(['-e', 'setTimeout(() => { console.error("bad"); process.exit(4) }, 300)'])
    assert.equal(result.code, 4)
    assert.equal(result.stderr, 'bad\n')
    assert.equal(result.timedOut, false)
    assert.ok(result.durationMs >= 300, `durationMs ${result.durationMs} covers the 300 ms the child waited`)
  })

  it('kills a process that outlives its timeout', async () => {
    const result = await runNode(['-e', 'setTimeout(() => {}, 60_000)'], {timeoutMs: 300})
    assert.equal(result.timedOut, true)
    assert.equal(result.code, null)
    assert.equal(result.signal, 'SIGKILL')
  })

  it('starts a process that can be signalled, and collects its result', async () => {
    const child = startNode(['-e', 'console.log("ready"); setInterval(() => {}, 1000)'])
    await new Promise((resolve) => child.stdout.once('data', resolve))
    child.kill('SIGTERM')
    const result = await child.result
    assert.equal(result.signal, 'SIGTERM')
    assert.equal(result.stdout, 'ready\n')
    assert.equal(result.home, child.home)
  })
})

// The records and the administrator's actions the helper adds around the provider.
describe('test authorization server: refresh-token records and grant revocation', () => {
  let server: AuthServer
  useAuthServer((started) => {
    server = started
  })

  const refresh = (refreshToken: string) => postForm(server.tokenEndpoint, {grant_type: 'refresh_token', refresh_token: refreshToken}, {authorization: basicAuth(server.clients.api)})

  async function assertError(response: Response, status: number, error: string): Promise<void> {
    assert.equal(response.status, status)
    assert.equal(((await response.json()) as {error: string}).error, error)
  }

  /** An OBO session's first refresh token (jwt-bearer with offline_access). */
  async function startSession(sub: string): Promise<string> {
    const assertion = await server.mintUserToken({sub, aud: server.clients.api.clientId, scope: 'access_as_user'})
    const form = {grant_type: JWT_BEARER_GRANT, assertion, requested_token_use: 'on_behalf_of', scope: 'read offline_access'}
    const response = await postForm(server.tokenEndpoint, form, {authorization: basicAuth(server.clients.api)})
    assert.equal(response.status, 200)
    const {refresh_token} = (await response.json()) as {refresh_token?: string}
    assert.ok(refresh_token)
    return refresh_token
  }

  it('records no refresh-token use for a request a fault answered, and still counts reuse after resetCounters', async () => {
    const first = await startSession('alice')
    server.injectTokenFaults({status: 503})
    assert.equal((await refresh(first)).status, 503)
    assert.equal(server.refreshTokenUses.length, 0)
    assert.equal((await refresh(first)).status, 200)
    server.resetCounters()
    assert.equal((await refresh(first)).status, 400)
    assert.equal(server.reuseDetected, 1)
  })

  it('revokes the grant of a refresh token, rotated ones included (revokeGrantOf)', async () => {
    const first = await startSession('alice')
    const {refresh_token: second} = (await (await refresh(first)).json()) as {refresh_token?: string}
    assert.ok(second)
    assert.equal(await server.revokeGrantOf(first), true)
    await assertError(await refresh(second), 400, 'invalid_grant')
    assert.equal(await server.revokeGrantOf('not-a-refresh-token'), false)
  })

  it("revokes every grant of a user and no one else's (revokeAllGrants)", async () => {
    const carolOne = await startSession('carol')
    const carolTwo = await startSession('carol')
    const dave = await startSession('dave')
    assert.equal(await server.revokeAllGrants('carol'), 2)
    await assertError(await refresh(carolOne), 400, 'invalid_grant')
    await assertError(await refresh(carolTwo), 400, 'invalid_grant')
    assert.equal((await refresh(dave)).status, 200)
    assert.equal(await server.revokeAllGrants('carol'), 0)
  })
})
