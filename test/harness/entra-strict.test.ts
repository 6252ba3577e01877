/**
 * The Entra-strict test server itself (test/helpers/entra-strict.ts), driven by hand-made requests:
 * it must refuse what Microsoft Entra refuses, or the end-to-end tests against it prove nothing.
 * Microsoft's "certificate credentials" document: https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials
 */
import {strict as assert} from 'node:assert'
import {createHash, createPrivateKey, randomUUID} from 'node:crypto'
import {readFileSync} from 'node:fs'

import {importPKCS8, SignJWT} from 'jose'

import {certificateFactory, type TestCertificate} from '../helpers/certificates.js'
import {type EntraStrictServer, startEntraStrictServer} from '../helpers/entra-strict.js'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

describe('harness: the Entra-strict authorization server refuses what Entra refuses', function () {
  this.timeout(60_000)
  const certificates = certificateFactory()
  let server: EntraStrictServer
  let registered: TestCertificate
  let other: TestCertificate

  before(async () => {
    registered = await certificates.certificate({subject: 'strict-app'})
    other = await certificates.certificate({subject: 'strict-app'})
    server = await startEntraStrictServer([{certificatePem: registered.certificatePem, clientId: 'cert-app'}])
  })

  after(async () => {
    await server?.stop()
    certificates.remove()
  })

  async function assertion(options: {alg: string; aud?: string; header?: Record<string, unknown>; key: string; sub?: string; iss?: string; lifetime?: number}) {
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({})
      .setProtectedHeader({alg: options.alg, ...options.header})
      .setIssuer(options.iss ?? 'cert-app')
      .setSubject(options.sub ?? 'cert-app')
      .setAudience(options.aud ?? server.tokenEndpoint)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + (options.lifetime ?? 300))
      .sign(await importPKCS8(createPrivateKey(readFileSync(options.key)).export({format: 'pem', type: 'pkcs8'}) as string, options.alg))
  }

  async function clientCredentials(clientId: string, clientAssertion: string) {
    const body = new URLSearchParams({client_assertion: clientAssertion, client_assertion_type: ASSERTION_TYPE, client_id: clientId, grant_type: 'client_credentials', scope: 'read'})
    const response = await fetch(server.tokenEndpoint, {body, method: 'POST'})
    return {body: (await response.json()) as Record<string, string>, status: response.status}
  }

  const thumb = (algorithm: string, certificate: TestCertificate) =>
    createHash(algorithm)
      .update(Buffer.from(certificate.certificatePem.replaceAll(/-----[A-Z ]+-----|\s/g, ''), 'base64'))
      .digest('base64url')

  it("serves its token endpoint at Entra's path", () => {
    assert.match(server.tokenEndpoint, /\/oauth2\/v2\.0\/token$/)
  })

  it('accepts PS256 with x5t#S256, RS256 with x5t, and a matching x5c, all with aud = the token endpoint', async () => {
    const der = Buffer.from(registered.certificatePem.replaceAll(/-----[A-Z ]+-----|\s/g, ''), 'base64').toString('base64')
    for (const [alg, header] of [
      ['PS256', {'x5t#S256': thumb('sha256', registered)}],
      ['RS256', {x5t: thumb('sha1', registered)}],
      ['PS256', {'x5t#S256': thumb('sha256', registered), x5c: [der]}],
    ] as const) {
      const result = await clientCredentials('cert-app', await assertion({alg, header, key: registered.keyPath}))
      assert.equal(result.status, 200, `${alg} ${JSON.stringify(Object.keys(header))}: ${JSON.stringify(result.body)} ${server.refusals.at(-1)}`)
    }
  })

  it('refuses with invalid_client: the issuer as aud, another certificate, no thumbprint, the wrong alg, a long lifetime', async () => {
    const cases: Array<[string, Parameters<typeof assertion>[0], RegExp]> = [
      ['issuer aud', {alg: 'PS256', aud: server.issuer, header: {'x5t#S256': thumb('sha256', registered)}, key: registered.keyPath}, /aud must be the token endpoint/],
      ['other certificate', {alg: 'PS256', header: {'x5t#S256': thumb('sha256', other)}, key: registered.keyPath}, /does not name the registered certificate/],
      ['no thumbprint', {alg: 'PS256', key: registered.keyPath}, /names no certificate/],
      ['RS256 with x5t#S256', {alg: 'RS256', header: {'x5t#S256': thumb('sha256', registered)}, key: registered.keyPath}, /goes with PS256/],
      ['20 minutes', {alg: 'PS256', header: {'x5t#S256': thumb('sha256', registered)}, key: registered.keyPath, lifetime: 1200}, /10 minutes/],
    ]
    for (const [name, options, reason] of cases) {
      const result = await clientCredentials('cert-app', await assertion(options))
      assert.equal(result.status, 401, name)
      assert.equal(result.body.error, 'invalid_client', name)
      assert.match(server.refusals.at(-1) ?? '', reason, name)
    }

    // Signed by another key than the registered certificate's: oidc-provider's own signature check.
    const forged = await clientCredentials('cert-app', await assertion({alg: 'PS256', header: {'x5t#S256': thumb('sha256', registered)}, key: other.keyPath}))
    assert.equal(forged.body.error, 'invalid_client')
  })

  it('a refresh asking for a scope the token response did not grant is invalid_scope (RFC 6749 section 6)', async () => {
    const user = await server.mintUserToken({aud: 'api', sub: 'alice'})
    const basic = `Basic ${Buffer.from('api:api-secret').toString('base64')}`
    const post = async (form: Record<string, string>) => {
      const response = await fetch(server.tokenEndpoint, {body: new URLSearchParams(form), headers: {authorization: basic}, method: 'POST'})
      return {body: (await response.json()) as Record<string, string>, status: response.status}
    }

    const obo = await post({assertion: user, grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', requested_token_use: 'on_behalf_of', scope: 'read offline_access'})
    assert.equal(obo.status, 200)
    assert.equal(obo.body.scope, 'read', 'offline_access is not in the granted scope')
    const greedy = await post({grant_type: 'refresh_token', refresh_token: obo.body.refresh_token, scope: 'read offline_access'})
    assert.equal(greedy.status, 400)
    assert.equal(greedy.body.error, 'invalid_scope')
    const modest = await post({grant_type: 'refresh_token', refresh_token: obo.body.refresh_token, scope: 'read'})
    assert.equal(modest.status, 200, JSON.stringify(modest.body))
  })
})
