/**
 * The RFC 8414-only test server (test/helpers/rfc8414-server.ts) is as strict as the servers it
 * stands for: RFC 8414 §3.1's inserted location has the document, the OpenID Connect location does
 * not, and behind it a real token endpoint under the issuer's path.
 */
import {strict as assert} from 'node:assert'

import {REFUSALS, type Rfc8414Server, startRfc8414Server} from '../helpers/rfc8414-server.js'

describe('test server: an RFC 8414-only authorization server on a path issuer', () => {
  let server: Rfc8414Server

  before(async () => {
    server = await startRfc8414Server()
  })

  after(async () => {
    await server?.stop()
  })

  beforeEach(() => {
    server.behave({})
    server.resetCounters()
  })

  const origin = () => new URL(server.issuer).origin

  it('has a path issuer and serves its metadata only at the inserted location (RFC 8414 §3.1)', async () => {
    assert.match(server.issuer, /^http:\/\/127\.0\.0\.1:\d+\/tenant1$/)
    const response = await fetch(`${origin()}/.well-known/oauth-authorization-server/tenant1`)
    assert.equal(response.status, 200)
    const metadata = (await response.json()) as Record<string, unknown>
    assert.equal(metadata.issuer, server.issuer)
    assert.equal(metadata.token_endpoint, `${server.issuer}/token`)
    assert.equal(metadata.token_endpoint, server.tokenEndpoint)

    for (const path of ['/tenant1/.well-known/openid-configuration', '/tenant1/.well-known/oauth-authorization-server']) {
      const refused = await fetch(`${origin()}${path}`)
      assert.equal(refused.status, 404, path)
      assert.deepEqual(await refused.json(), {error: 'not_found'}, path)
    }

    assert.deepEqual(server.requests, [], 'discovery never reaches the provider')
    assert.equal(server.discoveryRequests.length, 3)
  })

  it('answers the OpenID Connect location with each refusal as given', async () => {
    for (const refusal of Object.values(REFUSALS)) {
      server.behave({refusal})
      const response = await fetch(`${server.issuer}/.well-known/openid-configuration`)
      assert.equal(response.status, refusal.status)
      assert.equal(response.headers.get('content-type'), refusal.contentType)
      assert.equal(await response.text(), refusal.body)
    }
  })

  it('serves only the appended location, or none, or an outage, when told', async () => {
    server.behave({metadataAt: 'appended'})
    assert.equal((await fetch(`${server.issuer}/.well-known/oauth-authorization-server`)).status, 200)
    assert.equal((await fetch(`${origin()}/.well-known/oauth-authorization-server/tenant1`)).status, 404)
    server.behave({metadataAt: 'nowhere'})
    assert.equal((await fetch(`${server.issuer}/.well-known/oauth-authorization-server`)).status, 404)
    server.behave({outage: 503})
    assert.equal((await fetch(`${origin()}/.well-known/oauth-authorization-server/tenant1`)).status, 503)
  })

  it('issues tokens at its token endpoint under the path; paths outside the issuer are 404', async () => {
    const {clientId, clientSecret} = server.clients.basic
    const response = await fetch(server.tokenEndpoint, {
      body: new URLSearchParams({grant_type: 'client_credentials'}),
      headers: {authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`},
      method: 'POST',
    })
    assert.equal(response.status, 200)
    assert.equal(((await response.json()) as {token_type: string}).token_type, 'Bearer')
    assert.equal(server.tokenRequests.length, 1)
    assert.equal((await fetch(`${origin()}/token`, {method: 'POST'})).status, 404)
  })

  it('an issuer without a path: the two RFC 8414 forms are one URL, which serves the document', async () => {
    const root = await startRfc8414Server({issuerPath: ''})
    try {
      assert.match(root.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
      const response = await fetch(`${root.issuer}/.well-known/oauth-authorization-server`)
      assert.equal(((await response.json()) as {issuer: string}).issuer, root.issuer)
      assert.equal((await fetch(`${root.issuer}/.well-known/openid-configuration`)).status, 404)
    } finally {
      await root.stop()
    }
  })
})
