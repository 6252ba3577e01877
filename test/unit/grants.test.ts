/**
 * Every grant's request and how its answer is read (src/lib/oauth/grants.ts), in the test process
 * against an authorization server of the test's own that records each request and answers what the
 * test tells it: the parameters each grant sends, the scopes a token says when the server leaves
 * them out, retries only on what is worth it, the advice on a refused client assertion, both
 * on-behalf-of flavors and the second request a session start makes for a refresh token.
 * test/unit/sessions.test.ts and test/unit/obo-token.test.ts run the same against oidc-provider.
 */
import {strict as assert} from 'node:assert'
import {createHash, createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {text} from 'node:stream/consumers'

import {calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK} from 'jose'

import {type Connection, toConnection} from '../../src/lib/config/connection.js'
import type {ClientSettings} from '../../src/lib/config/clients.js'
import type {CredentialLocation} from '../../src/lib/config/credentials.js'
import type {ClientCredential} from '../../src/lib/config/secrets.js'
import {AuthorizationError, ConfigError, NetworkError, ReauthenticationRequiredError, TokenctlError} from '../../src/lib/errors.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {
  authorizationRequest,
  openClient,
  pollDeviceToken,
  presentedCertificate,
  redeemAuthorizationCode,
  requestClientCredentials,
  requestDeviceAuthorization,
  requestObo,
  requestOboSession,
  requestParameters,
  requestRefresh,
  revokeRefreshToken,
} from '../../src/lib/oauth/grants.js'
import {ACCESS_TOKEN_TYPE, JWT_BEARER_GRANT, REFRESH_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT} from '../../src/lib/oauth/urns.js'
import type {Runtime} from '../../src/lib/runtime.js'
import {certificateFactory} from '../helpers/certificates.js'

interface Received {
  authorization?: string
  dpop?: string
  form: Record<string, string[]>
  path: string
}

interface Reply {
  body?: Record<string, unknown>
  /** Never answered (a server that hangs), or a body sent as is (not JSON, though labelled so). */
  hang?: boolean
  raw?: string
  headers?: Record<string, string>
  status?: number
}

const token = (fields: Record<string, unknown> = {}): Reply => ({body: {access_token: 'at-1', expires_in: 300, token_type: 'Bearer', ...fields}})
const refused = (error: string, status = 400): Reply => ({body: {error, error_description: `${error} said the server`}, status})

const SECRET_VARIABLE = 'GRANTS_TEST_SECRET'
const progress: unknown[] = []
const runtime: Runtime = {hooks: {progress: (event) => progress.push(event)}, openStore: () => assert.fail('the store was opened')}
/** A command without a progress display (a script's run). */
const quiet: Runtime = {hooks: {}, openStore: runtime.openStore}

describe('grants: what each token request sends and how its answer is read', () => {
  const received: Received[] = []
  let replies: Reply[] = []
  let metadataExtra: Record<string, unknown> = {}
  let origin = ''
  let home = ''
  const savedHome = process.env.TOKENCTL_HOME

  const answer = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', origin)
    if (url.pathname === '/t/.well-known/openid-configuration') {
      const issuer = `${origin}/t`
      response.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({issuer, token_endpoint: `${issuer}/token`, ...metadataExtra}))
      return
    }

    const form: Record<string, string[]> = {}
    for (const [name, value] of new URLSearchParams(await text(request))) (form[name] ??= []).push(value)
    received.push({authorization: request.headers.authorization, dpop: request.headers.dpop as string | undefined, form, path: url.pathname})
    const reply = replies.shift() ?? refused('no_reply_queued')
    if (reply.hang) return
    response.writeHead(reply.status ?? 200, {'cache-control': 'no-store', 'content-type': 'application/json', ...reply.headers}).end(reply.raw ?? JSON.stringify(reply.body))
  }
  // A client that goes away mid-request only ends that request.
  const server = createServer((request, response) => {
    answer(request, response).catch(() => response.destroy())
  })

  before(async () => {
    origin = `http://127.0.0.1:${await listenOnLoopback(server)}`
  })
  after(() => closeServer(server))
  beforeEach(() => {
    received.length = 0
    progress.length = 0
    replies = []
    metadataExtra = {}
    home = mkdtempSync(join(tmpdir(), 'tokenctl-grants-'))
    process.env.TOKENCTL_HOME = home
    process.env[SECRET_VARIABLE] = 'grantssecret'
  })
  const homes: string[] = []
  afterEach(() => {
    for (const directory of [home, ...homes.splice(0)]) rmSync(directory, {force: true, recursive: true})
    if (savedHome === undefined) delete process.env.TOKENCTL_HOME
    else process.env.TOKENCTL_HOME = savedHome
    delete process.env[SECRET_VARIABLE]
  })

  const secret: CredentialLocation = {kind: 'given', source: {from: {kind: 'env', variable: SECRET_VARIABLE}, kind: 'secret'}}
  /** A connection to the test's token endpoint (no discovery), or to its issuer with `discover`. */
  function connection(settings: Partial<ClientSettings> = {}, options: {credential?: CredentialLocation; discover?: boolean} = {}): Connection {
    const where = options.discover ? {issuer: `${origin}/t`} : {tokenEndpoint: `${origin}/t/token`}
    return toConnection({clientId: 'worker', ...where, ...settings}, {credential: options.credential ?? secret})
  }

  /** Discovery caches the metadata in TOKENCTL_HOME: a test that changes what the server advertises starts a home afresh. */
  function freshHome(): void {
    homes.push(home)
    home = mkdtempSync(join(tmpdir(), 'tokenctl-grants-'))
    process.env.TOKENCTL_HOME = home
  }

  const only = () => {
    assert.equal(received.length, 1, JSON.stringify(received))
    return received[0].form
  }

  it('request parameters: the scopes joined, every resource, audience and extra parameter repeated in order', () => {
    const parameters = requestParameters({
      audience: ['a1', 'a2'],
      params: [
        ['x', '1'],
        ['x', '2'],
      ],
      resources: ['https://r1', 'https://r2'],
      scopes: ['s1', 's2'],
    })
    assert.equal(parameters.toString(), 'scope=s1+s2&resource=https%3A%2F%2Fr1&resource=https%3A%2F%2Fr2&audience=a1&audience=a2&x=1&x=2')
    assert.equal(requestParameters({audience: [], params: [], resources: [], scopes: []}).toString(), '')
  })

  it('client credentials: the grant, the parameters and the secret; a token without scope says the scopes asked for', async () => {
    replies = [token()]
    const result = await requestClientCredentials(connection({audience: ['aud'], params: [['extra', 'v']], resources: ['https://api'], scopes: ['read', 'write']}), runtime)
    assert.deepEqual(only(), {audience: ['aud'], extra: ['v'], grant_type: ['client_credentials'], resource: ['https://api'], scope: ['read write']})
    assert.equal(received[0].authorization, `Basic ${Buffer.from('worker:grantssecret').toString('base64')}`)
    assert.equal(result.access_token, 'at-1')
    assert.equal(result.scope, 'read write')
    assert.deepEqual(progress, [{message: `requesting a token from ${new URL(origin).host}`, state: 'request'}, {state: 'done'}])

    replies = [token({scope: 'read'})]
    assert.equal((await requestClientCredentials(connection({scopes: ['read', 'write']}), runtime)).scope, 'read')
    replies = [token()]
    assert.equal((await requestClientCredentials(connection(), runtime)).scope, undefined)
    assert.equal(received[2].form.scope, undefined)
  })

  it('a token whose type is N_A (not an access token) is kept, whatever the grant', async () => {
    replies = [token({issued_token_type: 'urn:example:other', token_type: 'N_A'})]
    const result = await requestClientCredentials(connection(), runtime)
    assert.equal(result.access_token, 'at-1')
    assert.equal(result.issued_token_type, 'urn:example:other')

    // Only N_A: another token type openid-client does not support stays refused.
    replies = [token({token_type: 'MAC'})]
    await assert.rejects(requestClientCredentials(connection(), runtime), (error: TokenctlError) => {
      assert.ok(error instanceof NetworkError, String(error))
      assert.equal(error.message, `${new URL(origin).host} answered with token_type "mac", which tokenctl cannot use (Bearer, DPoP or N_A)`)
      return true
    })
  })

  it("a 503 is tried again with a fresh request, a 400 never; both refusals in tokenctl's words", async () => {
    replies = [{body: {error: 'temporarily_unavailable'}, headers: {'retry-after': '0'}, status: 503}, token()]
    assert.equal((await requestClientCredentials(connection(), runtime)).access_token, 'at-1')
    assert.equal(received.length, 2)

    received.length = 0
    replies = [refused('invalid_scope'), token()]
    await assert.rejects(requestClientCredentials(connection(), runtime), (error: TokenctlError) => {
      assert.ok(error instanceof AuthorizationError)
      assert.equal(error.code, 'invalid_scope')
      return true
    })
    assert.equal(received.length, 1)
  })

  it('a refused client assertion gets advice about the assertion; a refused secret, or another refusal, the usual one', async () => {
    const keyFile = join(home, 'key.pem')
    writeFileSync(keyFile, generateKeyPairSync('ec', {namedCurve: 'P-256'}).privateKey.export({format: 'pem', type: 'pkcs8'}))
    const key: CredentialLocation = {kind: 'given', source: {file: keyFile, kind: 'private_key'}}

    replies = [refused('invalid_client', 401)]
    await assert.rejects(requestClientCredentials(connection({}, {credential: key}), runtime), (error: TokenctlError) => {
      assert.ok(error instanceof AuthorizationError)
      assert.equal(error.code, 'invalid_client')
      assert.equal(error.message, 'the authorization server refused the request (invalid_client: invalid_client said the server)')
      assert.deepEqual(error.suggestions, [
        "check that the key is registered for client worker; if the server wants the token endpoint as the client assertion's aud (Microsoft Entra, Okta, Google), pass --assertion-audience token-endpoint",
      ])
      assert.equal(error.details.description, 'invalid_client said the server')
      assert.equal(error.details.status, 401)
      return true
    })
    assert.ok(received[0].form.client_assertion)

    replies = [refused('invalid_client', 401)]
    await assert.rejects(requestClientCredentials(connection(), runtime), (error: TokenctlError) => {
      assert.deepEqual(error.suggestions, ['check the client id, the client secret and --auth-method'])
      return true
    })

    replies = [refused('unauthorized_client')]
    await assert.rejects(requestClientCredentials(connection({}, {credential: key}), runtime), (error: TokenctlError) => {
      assert.equal(error.code, 'unauthorized_client')
      assert.doesNotMatch(error.suggestions.join(' '), /assertion/)
      return true
    })
  })

  it("on-behalf-of, Entra's flavor: jwt-bearer with the assertion and requested_token_use, offline_access added once when asked", async () => {
    replies = [token({refresh_token: 'rt-1'})]
    const result = await requestObo(connection({scopes: ['api://x/.default']}), {assertion: 'user.jwt', flavor: 'entra', offline: true}, runtime)
    assert.deepEqual(only(), {
      assertion: ['user.jwt'],
      grant_type: [JWT_BEARER_GRANT],
      requested_token_use: ['on_behalf_of'],
      scope: ['api://x/.default offline_access'],
    })
    assert.equal(result.token.flavor, 'entra')
    assert.equal(result.token.scope, 'api://x/.default offline_access')
    assert.equal(result.refreshToken, 'rt-1')
    assert.equal(result.tokenEndpoint, `${origin}/t/token`)

    replies = [token()]
    const again = await requestObo(connection({scopes: ['offline_access', 'read']}), {assertion: 'user.jwt', flavor: 'entra', offline: true}, runtime)
    assert.equal(received[1].form.scope[0], 'offline_access read')
    assert.equal(again.refreshToken, undefined)
    replies = [token()]
    await requestObo(connection({scopes: ['read']}), {assertion: 'user.jwt', flavor: 'entra'}, runtime)
    assert.equal(received[2].form.scope[0], 'read')
  })

  it('on-behalf-of, RFC 8693: the subject token as an access token, the audience, the requested token type when asked; the flavor from the metadata', async () => {
    metadataExtra = {grant_types_supported: [TOKEN_EXCHANGE_GRANT]}
    replies = [token()]
    const result = await requestObo(connection({audience: ['ledger'], scopes: ['read']}, {discover: true}), {assertion: 'user.jwt', requestedTokenType: ACCESS_TOKEN_TYPE}, runtime)
    assert.deepEqual(only(), {
      audience: ['ledger'],
      grant_type: [TOKEN_EXCHANGE_GRANT],
      requested_token_type: [ACCESS_TOKEN_TYPE],
      scope: ['read'],
      subject_token: ['user.jwt'],
      subject_token_type: [ACCESS_TOKEN_TYPE],
    })
    assert.equal(result.token.flavor, 'rfc8693')

    replies = [token()]
    await requestObo(connection({}, {discover: true}), {assertion: 'user.jwt'}, runtime)
    assert.equal(received[1].form.requested_token_type, undefined)

    // access_denied to an exchange is the server refusing this client, with advice of its own.
    replies = [refused('access_denied')]
    await assert.rejects(requestObo(connection({}, {discover: true}), {assertion: 'user.jwt'}, runtime), (error: TokenctlError) => {
      assert.ok(error instanceof AuthorizationError)
      assert.match(error.suggestions[0], /^the server does not let this client exchange this user's token/)
      return true
    })
  })

  describe('a session start, whose answer must bring a refresh token', () => {
    const asked = (index: number) => received[index].form

    it("Entra's flavor: one request, with offline_access, whatever the answer", async () => {
      replies = [token()]
      const result = await requestOboSession(connection({scopes: ['read']}), {assertion: 'user.jwt', flavor: 'entra'}, runtime)
      assert.equal(received.length, 1)
      assert.equal(asked(0).scope[0], 'read offline_access')
      assert.equal(result.refreshToken, undefined)
      assert.equal(result.refreshTokenRefused, undefined)
    })

    it('RFC 8693 with a refresh token in the first answer: one request', async () => {
      replies = [token({refresh_token: 'rt-1'})]
      const result = await requestOboSession(connection({scopes: ['read']}), {assertion: 'user.jwt', flavor: 'rfc8693'}, runtime)
      assert.equal(received.length, 1)
      assert.equal(result.refreshToken, 'rt-1')
      assert.equal(result.token.flavor, 'rfc8693')
    })

    it('RFC 8693 without one: asked once more by type refresh_token, without offline_access', async () => {
      replies = [token(), token({access_token: 'at-2', refresh_token: 'rt-2'})]
      const result = await requestOboSession(connection({scopes: ['read', 'offline_access']}), {assertion: 'user.jwt', flavor: 'rfc8693'}, runtime)
      assert.equal(received.length, 2)
      assert.equal(asked(0).scope[0], 'read offline_access')
      assert.equal(asked(0).requested_token_type, undefined)
      assert.deepEqual(asked(1).scope, ['read'])
      assert.deepEqual(asked(1).requested_token_type, [REFRESH_TOKEN_TYPE])
      assert.deepEqual(asked(1).subject_token, ['user.jwt'])
      assert.equal(result.token.access_token, 'at-2')
      assert.equal(result.refreshToken, 'rt-2')
    })

    it('a refusal of the second request is kept with the first answer; any other failure is thrown', async () => {
      replies = [token(), refused('invalid_request')]
      const result = await requestOboSession(connection({scopes: ['read']}), {assertion: 'user.jwt', flavor: 'rfc8693'}, runtime)
      assert.equal(result.token.access_token, 'at-1')
      assert.equal(result.token.flavor, 'rfc8693')
      assert.ok(result.refreshTokenRefused instanceof AuthorizationError)
      assert.equal(result.refreshTokenRefused.code, 'invalid_request')

      replies = [token(), {raw: '<html>a login page</html>'}]
      await assert.rejects(requestOboSession(connection({scopes: ['read']}), {assertion: 'user.jwt', flavor: 'rfc8693'}, runtime), NetworkError)
    })

    it('an answer that is a refresh token only (issued_token_type refresh_token) is redeemed once for the access token', async () => {
      replies = [token({access_token: 'issued-refresh-token', issued_token_type: REFRESH_TOKEN_TYPE, scope: 'read  write', token_type: 'N_A'}), token({access_token: 'at-from-refresh'})]
      const result = await requestOboSession(connection({scopes: ['read']}), {assertion: 'user.jwt', flavor: 'rfc8693'}, runtime)
      assert.equal(received.length, 2)
      assert.deepEqual(asked(1), {grant_type: ['refresh_token'], refresh_token: ['issued-refresh-token'], scope: ['read write']})
      assert.equal(result.token.access_token, 'at-from-refresh')
      assert.equal(result.token.flavor, 'rfc8693')
      assert.equal(result.refreshToken, 'issued-refresh-token')

      received.length = 0
      // The same on the second request, without a scope in the answer: the scopes asked for; a rotated refresh token wins.
      replies = [token(), token({access_token: 'issued-2', issued_token_type: REFRESH_TOKEN_TYPE, token_type: 'N_A'}), token({access_token: 'at-3', refresh_token: 'rotated'})]
      const second = await requestOboSession(connection({scopes: ['read']}), {assertion: 'user.jwt', flavor: 'rfc8693'}, runtime)
      assert.equal(received.length, 3)
      assert.deepEqual(asked(2), {grant_type: ['refresh_token'], refresh_token: ['issued-2'], scope: ['read']})
      assert.equal(second.refreshToken, 'rotated')
      assert.equal(second.token.access_token, 'at-3')
    })

    it('a refresh token field next to issued_token_type refresh_token (as Keycloak sends) is taken as it is', async () => {
      replies = [token({issued_token_type: REFRESH_TOKEN_TYPE, refresh_token: 'rt-k'})]
      const result = await requestOboSession(connection({scopes: ['read']}), {assertion: 'user.jwt', flavor: 'rfc8693'}, runtime)
      assert.equal(received.length, 1)
      assert.equal(result.refreshToken, 'rt-k')
      assert.equal(result.token.access_token, 'at-1')
    })
  })

  it('a refresh sends the scopes granted, or none; the answer keeps a rotated refresh token', async () => {
    replies = [token({refresh_token: 'rt-new'})]
    const result = await requestRefresh(connection(), 'rt-old', ['read', 'write'], quiet)
    assert.deepEqual(only(), {grant_type: ['refresh_token'], refresh_token: ['rt-old'], scope: ['read write']})
    assert.equal(result.refreshToken, 'rt-new')
    assert.equal(result.token.scope, 'read write')
    replies = [token()]
    const bare = await requestRefresh(connection(), 'rt-old', [], quiet)
    assert.deepEqual(received[1].form, {grant_type: ['refresh_token'], refresh_token: ['rt-old']})
    // Nothing the answer did not bring: no refresh token, no flavor (strict: not even as undefined).
    const {expires_at: expiresAt, ...rest} = bare.token
    assert.equal(typeof expiresAt, 'number')
    assert.deepEqual({...bare, token: rest}, {token: {access_token: 'at-1', token_type: 'Bearer'}, tokenEndpoint: `${origin}/t/token`})

    // A refresh token refused means the user must sign in again (exit 5), not a refusal of the client.
    replies = [refused('invalid_grant')]
    await assert.rejects(requestRefresh(connection(), 'rt-old', [], quiet), (error: TokenctlError) => error instanceof ReauthenticationRequiredError && error.code === 'invalid_grant')
  })

  it("a token request that gets no answer within --timeout fails as one, in its host's name", async function () {
    this.timeout(20_000)
    replies = [{hang: true}, {hang: true}, {hang: true}, {hang: true}]
    await assert.rejects(requestClientCredentials(connection({timeout: 1}), quiet), (error: TokenctlError) => {
      assert.ok(error instanceof NetworkError, String(error))
      assert.match(error.message, new RegExp(new URL(origin).host.replaceAll('.', '\\.')))
      return true
    })
  })

  it("revocation: not supported without an endpoint (nothing sent), else the refresh token with its hint; a refusal in tokenctl's words", async () => {
    assert.equal(await revokeRefreshToken(connection({}, {discover: true}), 'rt', runtime), 'not_supported')
    assert.equal(received.length, 0)

    freshHome()
    metadataExtra = {revocation_endpoint: `${origin}/t/revoke`}
    replies = [{body: {}}]
    assert.equal(await revokeRefreshToken(connection({}, {discover: true}), 'rt', runtime), 'revoked')
    assert.equal(received[0].path, '/t/revoke')
    assert.deepEqual(received[0].form, {token: ['rt'], token_type_hint: ['refresh_token']})

    replies = [refused('unsupported_token_type')]
    await assert.rejects(revokeRefreshToken(connection({}, {discover: true}), 'rt', runtime), (error: TokenctlError) => {
      assert.ok(error instanceof AuthorizationError)
      assert.equal(error.code, 'unsupported_token_type')
      return true
    })
  })

  it('device flow: no endpoint advertised is a configuration error; the scopes asked; the token polled for', async () => {
    const opened = await openClient(connection({}, {discover: true}), runtime)
    await assert.rejects(requestDeviceAuthorization(opened, ['read']), (error: ConfigError) => {
      assert.ok(error instanceof ConfigError)
      assert.equal(error.message, 'the authorization server advertises no device_authorization_endpoint, so no device flow')
      assert.equal(error.code, 'config_error')
      assert.deepEqual(error.suggestions, ['pass --issuer (discovery finds the endpoint), or use the other sign-in method'])
      return true
    })

    freshHome()
    metadataExtra = {device_authorization_endpoint: `${origin}/t/device`}
    const device = await openClient(connection({}, {discover: true}), runtime)
    const authorization = {device_code: 'dc', expires_in: 600, interval: 1, user_code: 'ABCD', verification_uri: `${origin}/device`}
    replies = [{body: authorization}, token()]
    assert.deepEqual(await requestDeviceAuthorization(device, ['read', 'write']), authorization)
    assert.equal(received[0].path, '/t/device')
    assert.deepEqual(received[0].form.scope, ['read write'])
    const result = await pollDeviceToken(device, authorization, ['read', 'write'], new AbortController().signal)
    assert.equal(received[1].form.grant_type[0], 'urn:ietf:params:oauth:grant-type:device_code')
    assert.equal(received[1].form.device_code[0], 'dc')
    assert.equal(result.token.scope, 'read write')
    assert.equal(result.tokenEndpoint, `${origin}/t/token`)

    replies = [refused('invalid_scope')]
    await assert.rejects(requestDeviceAuthorization(device, ['nope']), (error: TokenctlError) => error instanceof AuthorizationError && error.code === 'invalid_scope')
    replies = [refused('expired_token')]
    await assert.rejects(pollDeviceToken(device, authorization, [], new AbortController().signal), (error: TokenctlError) => error.code === 'expired_token')
    replies = [token({token_type: 'N_A'})]
    assert.equal((await pollDeviceToken(device, authorization, [], new AbortController().signal)).token.access_token, 'at-1')
    // The person refused at the verification page: sign in again (exit 5), not the server refusing the client.
    replies = [refused('access_denied')]
    await assert.rejects(pollDeviceToken(device, authorization, [], new AbortController().signal), ReauthenticationRequiredError)
    replies = [{raw: '<html>not here</html>'}]
    await assert.rejects(
      requestDeviceAuthorization(device, ['read']),
      (error: TokenctlError) => error instanceof NetworkError && error.message.startsWith(`${new URL(origin).host} answered with a body that is not JSON`),
    )

    // Ctrl-C (the signal) ends the polling before anything more is sent.
    const sent = received.length
    const aborted = new AbortController()
    aborted.abort()
    await assert.rejects(pollDeviceToken(device, authorization, [], aborted.signal))
    assert.equal(received.length, sent)
  })

  it('browser sign-in: S256 PKCE, a fresh state, the loopback redirect; the code redeemed with the verifier', async () => {
    const bare = await openClient(connection({}, {discover: true}), runtime)
    await assert.rejects(authorizationRequest(bare, ['openid'], 'http://127.0.0.1:1/cb'), {
      message: 'the authorization server advertises no authorization_endpoint, so no browser sign-in',
    })

    freshHome()
    metadataExtra = {authorization_endpoint: `${origin}/t/auth`}
    const opened = await openClient(connection({}, {discover: true}), runtime)
    const request = await authorizationRequest(opened, ['openid', 'read'], 'http://127.0.0.1:9/cb')
    const {searchParams} = request.url
    assert.equal(request.url.origin + request.url.pathname, `${origin}/t/auth`)
    assert.equal(searchParams.get('response_type'), 'code')
    assert.equal(searchParams.get('code_challenge_method'), 'S256')
    assert.equal(searchParams.get('code_challenge'), createHash('sha256').update(request.codeVerifier).digest('base64url'))
    assert.equal(searchParams.get('redirect_uri'), 'http://127.0.0.1:9/cb')
    assert.equal(searchParams.get('scope'), 'openid read')
    assert.equal(searchParams.get('state'), request.state)
    assert.equal(searchParams.get('client_id'), 'worker')
    assert.deepEqual(request.scopes, ['openid', 'read'])
    const other = await authorizationRequest(opened, ['openid'], 'http://127.0.0.1:9/cb')
    assert.notEqual(other.state, request.state)
    assert.notEqual(other.codeVerifier, request.codeVerifier)

    replies = [token({refresh_token: 'rt-user'})]
    const result = await redeemAuthorizationCode(opened, request, new URL(`http://127.0.0.1:9/cb?code=the-code&state=${request.state}`))
    assert.deepEqual(only(), {code: ['the-code'], code_verifier: [request.codeVerifier], grant_type: ['authorization_code'], redirect_uri: ['http://127.0.0.1:9/cb']})
    assert.equal(result.refreshToken, 'rt-user')
    assert.equal(result.token.scope, 'openid read')
    await assert.rejects(redeemAuthorizationCode(opened, request, new URL('http://127.0.0.1:9/cb?code=c&state=forged')))
    assert.equal(received.length, 1)
  })

  it("--dpop: a proof of the key on every token request; a DPoP answer keeps the key's thumbprint, a Bearer one is kept with a warning naming the host, N_A without", async () => {
    const {privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
    const keyFile = join(home, 'dpop.pem')
    writeFileSync(keyFile, privateKey.export({format: 'pem', type: 'pkcs8'}))
    const jkt = await calculateJwkThumbprint(createPublicKey(privateKey).export({format: 'jwk'}))
    const warnings: string[] = []
    const warned: Runtime = {hooks: {warning: (message) => warnings.push(message)}, openStore: runtime.openStore}
    const dpop = connection({dpop: true, dpopKeyFile: keyFile})

    replies = [token({token_type: 'DPoP'})]
    const bound = await requestClientCredentials(dpop, warned)
    assert.equal(bound.dpop_jkt, jkt)
    const proof = received[0].dpop
    assert.ok(proof, 'no DPoP header')
    assert.equal(decodeProtectedHeader(proof).typ, 'dpop+jwt')
    assert.equal(await calculateJwkThumbprint(decodeProtectedHeader(proof).jwk as JWK), jkt)
    assert.deepEqual({htm: decodeJwt(proof).htm, htu: decodeJwt(proof).htu}, {htm: 'POST', htu: `${origin}/t/token`})
    assert.deepEqual(warnings, [])

    replies = [token()]
    const bearer = await requestClientCredentials(dpop, warned)
    assert.equal(bearer.dpop_jkt, undefined)
    assert.ok(received[1].dpop)
    assert.deepEqual(warnings, [`${new URL(origin).host} answered --dpop with a Bearer token: it did not bind the token to the DPoP key, so whoever holds it can use it`])

    replies = [token()]
    assert.equal((await requestClientCredentials(dpop, quiet)).access_token, 'at-1', 'a runtime without a warning hook (a library use) still gets the token')

    replies = [token({issued_token_type: 'urn:example:other', token_type: 'N_A'})]
    assert.equal((await requestClientCredentials(dpop, warned)).dpop_jkt, undefined)
    assert.equal(warnings.length, 1)

    replies = [token({token_type: 'DPoP'})]
    await requestClientCredentials(connection(), warned)
    assert.equal(received[4].dpop, undefined)

    freshHome()
    metadataExtra = {authorization_endpoint: `${origin}/t/auth`}
    const signIn = await authorizationRequest(await openClient(connection({dpop: true, dpopKeyFile: keyFile}, {discover: true}), warned), ['openid'], 'http://127.0.0.1:9/cb')
    assert.equal(signIn.url.searchParams.get('dpop_jkt'), jkt, 'RFC 9449 section 10: the code is bound to the key')
    const plain = await authorizationRequest(await openClient(connection({}, {discover: true}), warned), ['openid'], 'http://127.0.0.1:9/cb')
    assert.equal(plain.url.searchParams.has('dpop_jkt'), false)
  })

  it('mutual TLS: the certificate is presented for tls_client_auth and self_signed_tls_client_auth only, and only a certificate', async () => {
    const {privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
    const factory = certificateFactory()
    try {
      const files = await factory.certificate({type: 'ec'})
      const leaf = new X509Certificate(files.certificatePem)
      const credential: ClientCredential = {certificate: {chain: [leaf], key: createPrivateKey(readFileSync(files.keyPath))}, kind: 'certificate', label: 'cert.pem'}
      for (const authMethod of ['tls_client_auth', 'self_signed_tls_client_auth'] as const) {
        const presented = presentedCertificate({...connection(), authMethod}, credential)
        assert.equal(presented?.x5tS256, createHash('sha256').update(leaf.raw).digest('base64url'), authMethod)
        assert.equal(presented?.cert, leaf.toString())
      }

      assert.equal(presentedCertificate({...connection(), authMethod: 'private_key_jwt'}, credential), undefined)
      const key: ClientCredential = {keyText: privateKey.export({format: 'pem', type: 'pkcs8'}) as string, kind: 'private_key', label: 'key.pem'}
      assert.equal(presentedCertificate({...connection(), authMethod: 'tls_client_auth'}, key), undefined)
    } finally {
      rmSync(factory.directory, {force: true, recursive: true})
    }
  })

  it('no server at all is a network failure, not an authorization one', async () => {
    const closed = toConnection({clientId: 'worker', timeout: 5, tokenEndpoint: 'http://127.0.0.1:1/token'}, {credential: secret})
    await assert.rejects(requestClientCredentials(closed, runtime), (error: TokenctlError) => error instanceof NetworkError && error.message.includes('127.0.0.1:1'))

    freshHome()
    metadataExtra = {revocation_endpoint: 'http://127.0.0.1:1/revoke'}
    await assert.rejects(revokeRefreshToken(connection({}, {discover: true}), 'rt', quiet), (error: TokenctlError) => error instanceof NetworkError && error.message.includes('127.0.0.1:1'))
  })
})
