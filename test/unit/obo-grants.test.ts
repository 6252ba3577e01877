import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {createRemoteJWKSet, decodeJwt, decodeProtectedHeader, generateKeyPair, jwtVerify, SignJWT} from 'jose'
import {API_RESOURCE, OTHER_RESOURCE, startAuthServer, useAuthServer} from '../helpers/auth-server.js'
import type {AuthServer, TestClient} from '../helpers/auth-server.js'
import {ACCESS_TOKEN_TYPE, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT} from '../../src/lib/oauth/urns.js'

// Plain fetch on purpose: these tests prove the OBO grants of `tokenctl dev idp` (src/lib/devidp/obo-grants.ts),
// which the end-to-end tests' authorization server runs too.

type Form = Record<string, string>

interface TokenResponse {
  access_token: string
  token_type: string
  expires_in: number
  scope?: string
  refresh_token?: string
  issued_token_type?: string
}

interface ErrorResponse {
  error: string
  error_description?: string
}

function basicAuth(client: TestClient): string {
  const encode = (value: string) => encodeURIComponent(value).replaceAll('%20', '+')
  return `Basic ${Buffer.from(`${encode(client.clientId)}:${encode(client.clientSecret ?? '')}`).toString('base64')}`
}

async function postForm(url: string, form: Form, client: TestClient) {
  return fetch(url, {
    method: 'POST',
    headers: {'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(client)},
    body: new URLSearchParams(form).toString(),
  })
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

describe('test authorization server: OBO grants', () => {
  let server: AuthServer

  const obo = (assertion: string, form: Form = {}, client: TestClient = server.clients.api) =>
    postForm(server.tokenEndpoint, {grant_type: JWT_BEARER_GRANT, assertion, requested_token_use: 'on_behalf_of', scope: 'read', ...form}, client)

  const exchange = (subjectToken: string, form: Form = {}) =>
    postForm(server.tokenEndpoint, {grant_type: TOKEN_EXCHANGE_GRANT, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, ...form}, server.clients.api)

  const refresh = (refreshToken: string) => postForm(server.tokenEndpoint, {grant_type: 'refresh_token', refresh_token: refreshToken}, server.clients.api)

  const userToken = (sub = 'alice', expiresIn?: number) => server.mintUserToken({sub, aud: server.clients.api.clientId, scope: 'access_as_user', expiresIn})

  /** An OBO session: the first refresh token, with offline_access. */
  async function startSession(sub = 'alice'): Promise<string> {
    const response = await obo(await userToken(sub), {scope: 'read offline_access'})
    assert.equal(response.status, 200)
    const {refresh_token} = (await response.json()) as TokenResponse
    assert.ok(refresh_token)
    return refresh_token
  }

  async function verify(accessToken: string, audience: string) {
    const {payload} = await jwtVerify(accessToken, createRemoteJWKSet(new URL(server.jwksUri)), {
      issuer: server.issuer,
      audience,
    })
    return payload
  }

  async function assertError(response: Response, status: number, error: string, description?: RegExp) {
    assert.equal(response.status, status)
    const body = (await response.json()) as ErrorResponse
    assert.equal(body.error, error)
    if (description) assert.match(body.error_description ?? '', description)
  }

  useAuthServer((started) => {
    server = started
  })

  describe('jwt-bearer OBO (Entra flavor)', () => {
    it('exchanges a user token for a token for the user and the requested resource, without refresh token', async () => {
      const response = await obo(await userToken('alice'), {scope: 'read write', resource: OTHER_RESOURCE})
      assert.equal(response.status, 200)
      const body = (await response.json()) as TokenResponse
      assert.equal(body.token_type, 'Bearer')
      assert.equal(body.scope, 'read write')
      assert.equal(body.refresh_token, undefined)
      assert.equal(body.issued_token_type, undefined)
      const claims = await verify(body.access_token, OTHER_RESOURCE)
      assert.equal(claims.sub, 'alice')
      assert.equal(claims.client_id, 'api')
      assert.equal(claims.scope, 'read write')
    })

    it('defaults to the API resource', async () => {
      const body = (await (await obo(await userToken('alice'))).json()) as TokenResponse
      assert.equal(decodeJwt(body.access_token).aud, API_RESOURCE)
    })

    it('returns a refresh token when offline_access is requested', async () => {
      const response = await obo(await userToken('alice'), {scope: 'read offline_access'})
      const body = (await response.json()) as TokenResponse
      assert.equal(response.status, 200)
      assert.equal(typeof body.refresh_token, 'string')
      assert.equal(body.scope, 'read')
    })

    it('refuses an assertion addressed to another audience with invalid_grant', async () => {
      const assertion = await server.mintUserToken({sub: 'alice', aud: 'some-other-api'})
      await assertError(await obo(assertion), 400, 'invalid_grant', /assertion is not addressed to the client/)
    })

    it('refuses an expired assertion with invalid_grant', async () => {
      await assertError(await obo(await userToken('alice', -30)), 400, 'invalid_grant', /assertion is expired/)
    })

    it('refuses an assertion not signed by the server', async () => {
      // Same kid as the server's key, another key: only the signature gives it away.
      const {kid} = decodeProtectedHeader(await userToken())
      const {privateKey} = await generateKeyPair('RS256')
      const forged = await new SignJWT({})
        .setProtectedHeader({alg: 'RS256', kid})
        .setIssuer(server.issuer)
        .setSubject('alice')
        .setAudience('api')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey)
      await assertError(await obo(forged), 400, 'invalid_grant', /not signed by this server/)
    })

    it('requires requested_token_use=on_behalf_of', async () => {
      await assertError(await obo(await userToken(), {requested_token_use: 'other'}), 400, 'invalid_request')
    })

    it('authenticates the client before the grant, and only lets clients registered for it use it', async () => {
      const assertion = await userToken()
      await assertError(await obo(assertion, {}, {...server.clients.api, clientSecret: 'wrong'}), 401, 'invalid_client')
      await assertError(await obo(assertion, {}, server.clients.basic), 400, 'invalid_request', /not allowed/)
    })
  })

  describe('refresh tokens: rotation and reuse detection', () => {
    it('refreshes once, rotating the refresh token, for the same user and resource', async () => {
      const first = await startSession('alice')
      const response = await refresh(first)
      assert.equal(response.status, 200)
      const body = (await response.json()) as TokenResponse
      assert.ok(body.refresh_token)
      assert.notEqual(body.refresh_token, first)
      const claims = await verify(body.access_token, API_RESOURCE)
      assert.equal(claims.sub, 'alice')
      assert.equal(claims.scope, 'read')
      assert.equal((await refresh(body.refresh_token)).status, 200)
      assert.equal(server.reuseDetected, 0)
    })

    it('treats a used refresh token as theft: invalid_grant, and the newer refresh token dies too', async () => {
      const first = await startSession('alice')
      const {refresh_token: second} = (await (await refresh(first)).json()) as TokenResponse
      assert.ok(second)

      await assertError(await refresh(first), 400, 'invalid_grant')
      await assertError(await refresh(second), 400, 'invalid_grant')

      assert.equal(server.reuseDetected, 1)
      assert.deepEqual(
        server.refreshTokenUses.map(({sha256: hash, alreadyUsed, status, client_id}) => ({hash, alreadyUsed, status, client_id})),
        [
          {hash: sha256(first), alreadyUsed: false, status: 200, client_id: 'api'},
          {hash: sha256(first), alreadyUsed: true, status: 400, client_id: 'api'},
          {hash: sha256(second), alreadyUsed: false, status: 400, client_id: 'api'},
        ],
      )
    })
  })

  describe('RFC 8693 token exchange', () => {
    it('exchanges an access token and says what it issued', async () => {
      const response = await exchange(await userToken('bob'), {audience: OTHER_RESOURCE, scope: 'write'})
      assert.equal(response.status, 200)
      const body = (await response.json()) as TokenResponse
      assert.equal(body.issued_token_type, ACCESS_TOKEN_TYPE)
      assert.equal(body.token_type, 'Bearer')
      assert.equal(body.refresh_token, undefined)
      const claims = await verify(body.access_token, OTHER_RESOURCE)
      assert.equal(claims.sub, 'bob')
      assert.equal(claims.scope, 'write')
    })

    it('returns a refresh token that works with offline_access', async () => {
      const response = await exchange(await userToken('bob'), {scope: 'read offline_access', resource: API_RESOURCE})
      const {refresh_token} = (await response.json()) as TokenResponse
      assert.ok(refresh_token)
      const refreshed = (await (await refresh(refresh_token)).json()) as TokenResponse
      assert.equal(decodeJwt(refreshed.access_token).sub, 'bob')
    })

    it('refuses a subject token whose audience is not the requester (invalid_request, RFC 8693 §2.2.2)', async () => {
      const subjectToken = await server.mintUserToken({sub: 'bob', aud: 'some-other-api'})
      await assertError(await exchange(subjectToken), 400, 'invalid_request', /subject_token is not addressed/)
    })

    it('only takes access tokens as subject tokens', async () => {
      const response = await exchange(await userToken('bob'), {
        subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      })
      await assertError(response, 400, 'invalid_request', /subject_token_type/)
    })
  })

  describe('discovery', () => {
    async function grantTypes(target: AuthServer): Promise<string[]> {
      const metadata = (await (await fetch(`${target.issuer}/.well-known/openid-configuration`)).json()) as {
        grant_types_supported: string[]
      }
      return metadata.grant_types_supported
    }

    it('lists both OBO grants by default', async () => {
      const types = await grantTypes(server)
      assert.ok(types.includes(JWT_BEARER_GRANT))
      assert.ok(types.includes(TOKEN_EXCHANGE_GRANT))
    })

    it('neither lists nor accepts token exchange when it is disabled; jwt-bearer stays', async () => {
      const entraLike = await startAuthServer({tokenExchange: false})
      try {
        const types = await grantTypes(entraLike)
        assert.ok(types.includes(JWT_BEARER_GRANT))
        assert.ok(!types.includes(TOKEN_EXCHANGE_GRANT))
        const subjectToken = await entraLike.mintUserToken({sub: 'bob', aud: 'api'})
        const form = {grant_type: TOKEN_EXCHANGE_GRANT, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE}
        await assertError(await postForm(entraLike.tokenEndpoint, form, entraLike.clients.api), 400, 'unsupported_grant_type')
        const oboForm = {grant_type: JWT_BEARER_GRANT, assertion: subjectToken, requested_token_use: 'on_behalf_of', scope: 'read'}
        assert.equal((await postForm(entraLike.tokenEndpoint, oboForm, entraLike.clients.api)).status, 200)
      } finally {
        await entraLike.stop()
      }
    })
  })

  describe('revocation', () => {
    it('revokes a refresh token at the revocation endpoint (RFC 7009), and records the request', async () => {
      const refreshToken = await startSession('alice')
      const response = await postForm(server.revocationEndpoint, {token: refreshToken, token_type_hint: 'refresh_token'}, server.clients.api)
      assert.equal(response.status, 200)
      await assertError(await refresh(refreshToken), 400, 'invalid_grant')
      assert.deepEqual(
        server.revocations.map(({sha256: hash, token_type_hint, client_id, status}) => ({hash, token_type_hint, client_id, status})),
        [{hash: sha256(refreshToken), token_type_hint: 'refresh_token', client_id: 'api', status: 200}],
      )
      assert.equal(server.reuseDetected, 0)
    })
  })
})
