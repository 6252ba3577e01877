/**
 * The strict servers of the sender-constrained tests, driven by hand-made requests: each refuses
 * what RFC 9449 (DPoP) and RFC 8705 (mutual TLS) let a server refuse, or the end-to-end tests that
 * tokenctl passes them prove nothing.
 *  - the token endpoint (oidc-provider behind test/helpers/dpop-strict.ts): a replayed jti, a proof
 *    older than the window, an htu with a query (RFC 9449 §4.2, §4.3, §11.1); a refresh of a public
 *    client's token with another key (§5, "refresh tokens of public clients are bound");
 *  - the API (test/helpers/api-server.ts): a bound token sent as Bearer (§7.2), a proof without ath,
 *    replayed, too old, with a query in htu, without the API's nonce (§7.1, §9);
 *  - mutual TLS (oidc-provider's self_signed_tls_client_auth, RFC 8705 §2.2): a certificate other
 *    than the registered one; a certificate-bound token without its certificate (§3).
 */
import {strict as assert} from 'node:assert'
import {createHash, randomUUID} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT} from 'jose'
import type {CryptoKey, JWK} from 'jose'
import {Agent, fetch as undiciFetch} from 'undici'

import {DEVICE_CODE_GRANT} from '../../src/lib/oauth/urns.js'
import {devPki, type DevPki} from '../../src/lib/devidp/pki.js'
import {approveDevice} from '../../src/lib/devidp/robot.js'
import {type ApiServer, startApiServer} from '../helpers/api-server.js'
import {type AuthServer, startAuthServer} from '../helpers/auth-server.js'
import {certificateFactory, type TestCertificate} from '../helpers/certificates.js'
import {strictDpopFront} from '../helpers/dpop-strict.js'

interface Key {
  jkt: string
  jwk: JWK
  privateKey: CryptoKey
}

async function newKey(): Promise<Key> {
  const {privateKey, publicKey} = await generateKeyPair('ES256')
  const jwk = await exportJWK(publicKey)
  return {jkt: await calculateJwkThumbprint(jwk), jwk, privateKey}
}

interface ProofClaims {
  ath?: string
  htm?: string
  htu: string
  iat?: number
  jti?: string
  nonce?: string
}

async function proof(key: Key, claims: ProofClaims): Promise<string> {
  const payload: Record<string, unknown> = {htm: 'POST', iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ...claims}
  for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name]
  return new SignJWT(payload).setProtectedHeader({alg: 'ES256', jwk: key.jwk, typ: 'dpop+jwt'}).sign(key.privateKey)
}

const ath = (token: string) => createHash('sha256').update(token).digest('base64url')
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`

async function post(url: string, form: Record<string, string>, headers: Record<string, string>) {
  const response = await fetch(url, {body: new URLSearchParams(form), headers, method: 'POST'})
  return {body: (await response.json()) as Record<string, string>, nonce: response.headers.get('dpop-nonce') ?? undefined, status: response.status}
}

describe('harness: the strict servers refuse what RFC 9449 and RFC 8705 let a server refuse', function () {
  this.timeout(60_000)
  const front = strictDpopFront()
  let server: AuthServer
  let api: ApiServer
  let key: Key
  /** The token endpoint's current nonce (oidc-provider wants one in every proof). */
  let nonce: string | undefined

  before(async () => {
    server = await startAuthServer({deviceInterval: 1, inspectTokenRequest: front.inspect})
    api = await startApiServer({audience: server.resources.api, issuer: server.issuer, jwksUri: server.jwksUri})
    key = await newKey()
  })

  after(async () => {
    await api?.stop()
    await server?.stop()
  })

  /** A client-credentials request of the `dpop` client with this proof (made with the current nonce unless told). */
  async function dpopClientCredentials(claims: Partial<ProofClaims> = {}, with_: Key = key) {
    const made = await proof(with_, {htu: server.tokenEndpoint, nonce, ...claims})
    const answer = await post(server.tokenEndpoint, {grant_type: 'client_credentials'}, {authorization: basic('dpop', 'dpop-secret'), dpop: made})
    if (answer.nonce) nonce = answer.nonce
    return answer
  }

  /** A DPoP-bound token of the `dpop` client, with the nonce dance done. */
  async function boundToken(): Promise<string> {
    let answer = await dpopClientCredentials()
    if (answer.body.error === 'use_dpop_nonce') answer = await dpopClientCredentials()
    assert.equal(answer.status, 200, JSON.stringify(answer.body))
    return answer.body.access_token
  }

  describe('the token endpoint', () => {
    it('answers a proof without its nonce with use_dpop_nonce, then binds the token (token_type DPoP, cnf.jkt)', async () => {
      const first = await dpopClientCredentials({nonce: undefined})
      assert.equal(first.body.error, 'use_dpop_nonce')
      assert.ok(first.nonce)
      const second = await dpopClientCredentials()
      assert.equal(second.status, 200)
      assert.equal(second.body.token_type, 'DPoP')
      assert.deepEqual(decodeJwt(second.body.access_token).cnf, {jkt: key.jkt})
    })

    it('refuses the dpop client without a proof: it must use DPoP', async () => {
      const answer = await post(server.tokenEndpoint, {grant_type: 'client_credentials'}, {authorization: basic('dpop', 'dpop-secret')})
      assert.equal(answer.status, 400)
      assert.equal(answer.body.error, 'invalid_grant')
    })

    it('refuses a replayed jti (RFC 9449 §11.1)', async () => {
      await boundToken()
      const jti = randomUUID()
      assert.equal((await dpopClientCredentials({jti})).status, 200)
      const again = await dpopClientCredentials({jti})
      assert.equal(again.status, 400)
      assert.equal(again.body.error, 'invalid_dpop_proof')
    })

    it('refuses a proof older than its window, nonce or not (RFC 9449 §11.1)', async () => {
      await boundToken()
      const old = await dpopClientCredentials({iat: Math.floor(Date.now() / 1000) - 120})
      assert.equal(old.status, 400)
      assert.match(old.body.error_description, /iat outside the 60 s window/)
    })

    it('refuses an htu with a query string (RFC 9449 §4.2), which oidc-provider alone accepts', async () => {
      await boundToken()
      const queried = await dpopClientCredentials({htu: `${server.tokenEndpoint}?x=1`})
      assert.equal(queried.status, 400)
      assert.match(queried.body.error_description, /query/)
    })

    it("refuses to refresh a public client's token with another key than the one it is bound to (RFC 9449 §5)", async () => {
      const deviceAuthorization = await post(server.deviceAuthorizationEndpoint, {client_id: 'cli', scope: 'access_as_user offline_access'}, {})
      await approveDevice(deviceAuthorization.body.verification_uri_complete, {login: 'erin'})
      await new Promise((resolve) => setTimeout(resolve, 1100))
      const form = {client_id: 'cli', device_code: deviceAuthorization.body.device_code, grant_type: DEVICE_CODE_GRANT}
      const poll = async () => {
        const made = await proof(key, {htu: server.tokenEndpoint, nonce})
        const answer = await post(server.tokenEndpoint, form, {dpop: made})
        if (answer.nonce) nonce = answer.nonce
        return answer
      }

      let issued = await poll()
      if (issued.body.error === 'use_dpop_nonce') issued = await poll()
      assert.equal(issued.status, 200, JSON.stringify(issued.body))
      assert.equal(issued.body.token_type, 'DPoP')
      const refresh = async (with_: Key) => {
        const made = await proof(with_, {htu: server.tokenEndpoint, nonce})
        return post(server.tokenEndpoint, {client_id: 'cli', grant_type: 'refresh_token', refresh_token: issued.body.refresh_token}, {dpop: made})
      }

      const other = await refresh(await newKey())
      assert.equal(other.status, 400)
      assert.equal(other.body.error, 'invalid_grant')
      const same = await refresh(key)
      assert.equal(same.status, 200, JSON.stringify(same.body))
    })
  })

  describe('the API', () => {
    /** A request to the API's /echo with a DPoP-bound token and this proof (the API's nonce unless told). */
    let apiNonce: string | undefined
    async function callEcho(token: string, claims: Partial<ProofClaims> & {scheme?: string; noProof?: boolean} = {}) {
      const url = `${api.url}/echo`
      const headers: Record<string, string> = {authorization: `${claims.scheme ?? 'DPoP'} ${token}`}
      if (!claims.noProof) headers.dpop = await proof(key, {ath: ath(token), htm: 'GET', htu: url, nonce: apiNonce, ...claims})
      const response = await fetch(url, {headers})
      const nonceHeader = response.headers.get('dpop-nonce')
      if (nonceHeader) apiNonce = nonceHeader
      return {challenge: response.headers.get('www-authenticate') ?? '', status: response.status}
    }

    it('asks for its own nonce, then answers a good proof', async () => {
      const token = await boundToken()
      apiNonce = undefined
      const first = await callEcho(token)
      assert.equal(first.status, 401)
      assert.match(first.challenge, /^DPoP error="use_dpop_nonce"/)
      assert.ok(apiNonce)
      assert.equal((await callEcho(token)).status, 200)
    })

    it('refuses a DPoP-bound token sent as a bearer token (RFC 9449 §7.2)', async () => {
      const token = await boundToken()
      const answer = await callEcho(token, {noProof: true, scheme: 'Bearer'})
      assert.equal(answer.status, 401)
      assert.match(answer.challenge, /error="invalid_token", error_description="a DPoP-bound token sent as a bearer token"/)
    })

    it('refuses a proof without ath, a replayed one, an old one, one with a query in htu', async () => {
      const token = await boundToken()
      await callEcho(token) // the API's nonce
      const cases: Array<[string, Partial<ProofClaims>, RegExp]> = [
        ['no ath', {ath: undefined}, /no ath/],
        ['too old', {iat: Math.floor(Date.now() / 1000) - 120}, /beyond the 60 s allowed/],
        ['a query in htu', {htu: `${api.url}/echo?x=1`}, /carries a query/],
      ]
      for (const [what, claims, reason] of cases) {
        const answer = await callEcho(token, claims)
        assert.equal(answer.status, 401, what)
        assert.match(answer.challenge, /error="invalid_dpop_proof"/, what)
        assert.match(answer.challenge, reason, what)
      }

      const jti = randomUUID()
      assert.equal((await callEcho(token, {jti})).status, 200)
      const replayed = await callEcho(token, {jti})
      assert.equal(replayed.status, 401)
      assert.match(replayed.challenge, /used before/)
    })
  })

  describe('mutual TLS', () => {
    const certificates = certificateFactory()
    let pki: DevPki
    let directory: string
    let tls: AuthServer
    let other: TestCertificate

    before(async () => {
      directory = mkdtempSync(join(tmpdir(), 'tokenctl-mtls-'))
      pki = await devPki(directory)
      other = await certificates.certificate({subject: 'mtls'})
      tls = await startAuthServer({mtlsClientCertificate: pki.clientCertificateOnly, tls: {ca: pki.caCertificate, cert: pki.serverCertificate, key: pki.serverKey}})
    })

    after(async () => {
      await tls?.stop()
      certificates.remove()
      rmSync(directory, {force: true, recursive: true})
    })

    function presenting(cert: string | undefined, keyPem: string | undefined) {
      return new Agent({connect: {ca: pki.caCertificate, ...(cert ? {cert, key: keyPem} : {})}})
    }

    async function mtlsTokenRequest(agent: Agent) {
      const response = await undiciFetch(tls.mtls!.tokenEndpoint, {body: new URLSearchParams({client_id: 'mtls', grant_type: 'client_credentials'}), dispatcher: agent, method: 'POST'})
      return {body: (await response.json()) as Record<string, string>, status: response.status}
    }

    it('announces its mtls_endpoint_aliases and issues certificate-bound tokens to the registered certificate', async () => {
      const metadata = (await (await undiciFetch(`${tls.issuer}/.well-known/openid-configuration`, {dispatcher: presenting(undefined, undefined)})).json()) as Record<string, unknown>
      assert.equal((metadata.mtls_endpoint_aliases as Record<string, string>).token_endpoint, tls.mtls!.tokenEndpoint)
      const answer = await mtlsTokenRequest(presenting(pki.clientCertificate, pki.clientCertificate))
      assert.equal(answer.status, 200, JSON.stringify(answer.body))
      const thumbprint = createHash('sha256')
        .update(Buffer.from(pki.clientCertificateOnly.replaceAll(/-----[A-Z ]+-----|\s/g, ''), 'base64'))
        .digest('base64url')
      assert.deepEqual(decodeJwt(answer.body.access_token).cnf, {'x5t#S256': thumbprint})
    })

    it('refuses a certificate other than the registered one, and none at all (RFC 8705 §2.2)', async () => {
      const otherPem = readFileSync(other.pemPath, 'utf8')
      const wrong = await mtlsTokenRequest(presenting(otherPem, otherPem))
      assert.equal(wrong.status, 401)
      assert.equal(wrong.body.error, 'invalid_client')
      const none = await mtlsTokenRequest(presenting(undefined, undefined))
      assert.equal(none.body.error, 'invalid_client')
    })

    it('its API refuses a certificate-bound token over a connection without that certificate (RFC 8705 §3)', async () => {
      const {access_token: token} = (await mtlsTokenRequest(presenting(pki.clientCertificate, pki.clientCertificate))).body
      const echo = (agent: Agent, url = `${tls.mtls!.apiUrl}/echo`) => undiciFetch(url, {dispatcher: agent, headers: {authorization: `Bearer ${token}`}})
      assert.equal((await echo(presenting(pki.clientCertificate, pki.clientCertificate))).status, 200)
      const otherPem = readFileSync(other.pemPath, 'utf8')
      const refused = await echo(presenting(otherPem, otherPem))
      assert.equal(refused.status, 401)
      assert.match(refused.headers.get('www-authenticate') ?? '', /bound to another certificate/)
      const plain = await echo(presenting(undefined, undefined), `${tls.apiUrl}/echo`)
      assert.equal(plain.status, 401)
      assert.match(plain.headers.get('www-authenticate') ?? '', /without a client certificate/)
    })
  })
})
