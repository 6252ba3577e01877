/**
 * The Keycloak-like test server (test/helpers/keycloak-strict.ts) is as strict as Keycloak 26's
 * standard token exchange (https://www.keycloak.org/securing-apps/token-exchange): a realm issuer,
 * the requester in the subject token's audience, audiences that only narrow, a refresh token only
 * when asked for by type and allowed, never with offline_access, and refresh tokens that rotate.
 */
import {strict as assert} from 'node:assert'

import {decodeJwt} from 'jose'

import {type KeycloakServer, useKeycloakServer} from '../helpers/keycloak-strict.js'

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token'
const REFRESH = 'urn:ietf:params:oauth:token-type:refresh_token'

describe('test server: Keycloak 26 standard token exchange', () => {
  let server: KeycloakServer
  useKeycloakServer(
    (started) => {
      server = started
    },
    {
      clients: [
        {audiences: ['downstream', 'reports'], clientId: 'api', refreshInExchange: 'same-session', scopes: ['read'], secret: 'api-secret'},
        {clientId: 'plain', scopes: ['read'], secret: 'plain-secret'},
        {clientId: 'rfc', refreshInExchange: 'in-access-token', scopes: ['read'], secret: 'rfc-secret'},
        {clientId: 'outsider', refreshInExchange: 'same-session', scopes: ['read'], secret: 'outsider-secret'},
        {clientId: 'frontend'},
        {clientId: 'downstream', secret: 'd'},
        {clientId: 'reports', secret: 'r'},
      ],
    },
  )

  async function post(client: string, secret: string | undefined, form: Record<string, string | string[]>) {
    const body = new URLSearchParams()
    for (const [name, value] of Object.entries(form)) for (const one of [value].flat()) body.append(name, one)
    if (secret === undefined) body.set('client_id', client)
    const response = await fetch(server.tokenEndpoint, {
      body,
      headers: secret === undefined ? {} : {authorization: `Basic ${Buffer.from(`${client}:${secret}`).toString('base64')}`},
      method: 'POST',
    })
    return {body: (await response.json()) as Record<string, string>, status: response.status}
  }

  const userToken = (options: {aud?: string[]; sessionless?: boolean} = {}) => server.mintUserToken({aud: options.aud ?? ['api', 'plain', 'rfc'], sessionless: options.sessionless, sub: 'alice'})
  const exchange = async (client: string, secret: string | undefined, extra: Record<string, string | string[]> = {}, token?: string) =>
    post(client, secret, {grant_type: EXCHANGE, subject_token: token ?? (await userToken()), subject_token_type: ACCESS, ...extra})

  it('has a realm issuer, and names token exchange in its metadata', async () => {
    assert.match(server.issuer, /^http:\/\/127\.0\.0\.1:\d+\/realms\/tokenctl$/)
    const metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>
    assert.equal(metadata.issuer, server.issuer)
    assert.equal(metadata.token_endpoint, `${server.issuer}/protocol/openid-connect/token`)
    assert.ok((metadata.grant_types_supported as string[]).includes(EXCHANGE))
    assert.equal((await fetch(`${new URL(server.issuer).origin}/.well-known/openid-configuration`)).status, 404)
  })

  it('exchanges without a refresh token unless asked for one by type', async () => {
    const plain = await exchange('api', 'api-secret', {scope: 'read offline_access'})
    assert.equal(plain.status, 200)
    assert.equal(plain.body.refresh_token, undefined)
    assert.equal(plain.body.issued_token_type, ACCESS)
    assert.equal(plain.body.scope, 'read offline_access profile email')
    const asked = await exchange('api', 'api-secret', {requested_token_type: REFRESH, scope: 'read'})
    assert.equal(asked.status, 200)
    assert.equal(asked.body.issued_token_type, REFRESH)
    assert.ok(asked.body.refresh_token, 'both fields, as Keycloak sends them')
    assert.equal(decodeJwt(asked.body.access_token).azp, 'api')
  })

  it('refuses offline_access with a refresh token, a client not allowed one, and a subject token without a session', async () => {
    assert.deepEqual(await exchange('api', 'api-secret', {requested_token_type: REFRESH, scope: 'read offline_access'}), {
      body: {error: 'invalid_request', error_description: 'Scope offline_access not allowed for token exchange'},
      status: 400,
    })
    assert.deepEqual(await exchange('plain', 'plain-secret', {requested_token_type: REFRESH}), {
      body: {error: 'invalid_request', error_description: 'requested_token_type unsupported'},
      status: 400,
    })
    const transient = await exchange('api', 'api-secret', {requested_token_type: REFRESH}, await userToken({sessionless: true}))
    assert.equal(transient.status, 400)
    assert.match(transient.body.error_description, /creating a new session is needed/)
  })

  it('answers a refresh token alone in access_token for the RFC 8693 client', async () => {
    const asked = await exchange('rfc', 'rfc-secret', {requested_token_type: REFRESH, scope: 'read'})
    assert.equal(asked.status, 200)
    assert.equal(asked.body.issued_token_type, REFRESH)
    assert.equal(asked.body.token_type, 'N_A')
    assert.equal(asked.body.refresh_token, undefined)
    const refreshed = await post('rfc', 'rfc-secret', {grant_type: 'refresh_token', refresh_token: asked.body.access_token})
    assert.equal(refreshed.status, 200)
    assert.equal(decodeJwt(refreshed.body.access_token).sub, 'alice')
  })

  it("refuses a requester outside the subject token's audience with 403 access_denied, and a public client", async () => {
    assert.deepEqual(await exchange('outsider', 'outsider-secret'), {body: {error: 'access_denied', error_description: 'Client is not within the token audience'}, status: 403})
    const ownToken = await server.mintUserToken({aud: ['api'], azp: 'outsider', sub: 'alice'})
    assert.equal((await exchange('outsider', 'outsider-secret', {}, ownToken)).status, 200, 'the holder of the token (azp) may exchange it')
    assert.deepEqual((await exchange('frontend', undefined)).body, {error: 'invalid_client', error_description: 'Public client is not allowed to exchange token'})
    assert.equal((await exchange('api', 'wrong')).status, 401)
  })

  it('audience repeats and only narrows; an unknown scope is invalid_scope', async () => {
    assert.deepEqual(decodeJwt((await exchange('api', 'api-secret')).body.access_token).aud, ['downstream', 'reports'])
    assert.equal(decodeJwt((await exchange('api', 'api-secret', {audience: 'reports'})).body.access_token).aud, 'reports')
    assert.deepEqual(decodeJwt((await exchange('api', 'api-secret', {audience: ['reports', 'downstream']})).body.access_token).aud, ['reports', 'downstream'])
    assert.deepEqual(await exchange('api', 'api-secret', {audience: 'plain'}), {body: {error: 'invalid_request', error_description: 'Requested audience not available: plain'}, status: 400})
    assert.deepEqual((await exchange('api', 'api-secret', {audience: 'nobody'})).body, {error: 'invalid_client', error_description: 'Audience not found'})
    assert.deepEqual((await exchange('api', 'api-secret', {scope: 'write'})).body, {error: 'invalid_scope', error_description: 'Invalid scopes: write'})
  })

  it("rotates refresh tokens: a reuse is invalid_grant and ends the session; a scope beyond the refresh token's is invalid_scope", async () => {
    const {body} = await exchange('api', 'api-secret', {requested_token_type: REFRESH, scope: 'read'})
    assert.deepEqual((await post('api', 'api-secret', {grant_type: 'refresh_token', refresh_token: body.refresh_token, scope: 'read offline_access'})).body, {
      error: 'invalid_scope',
      error_description: 'Invalid scopes: read offline_access',
    })
    const first = await post('api', 'api-secret', {grant_type: 'refresh_token', refresh_token: body.refresh_token, scope: 'read profile email'})
    assert.equal(first.status, 200)
    assert.equal(first.body.scope, 'read profile email')
    assert.equal((await post('plain', 'plain-secret', {grant_type: 'refresh_token', refresh_token: first.body.refresh_token})).status, 400, "another client's refresh token")
    const reused = await post('api', 'api-secret', {grant_type: 'refresh_token', refresh_token: body.refresh_token})
    assert.equal(reused.body.error, 'invalid_grant')
    assert.equal(server.reuseDetected, 1)
    assert.equal((await post('api', 'api-secret', {grant_type: 'refresh_token', refresh_token: first.body.refresh_token})).body.error, 'invalid_grant', 'the session ended with the reuse')
  })
})
