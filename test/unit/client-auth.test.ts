/**
 * Client authentication (src/lib/oauth/client-auth.ts): openid-client's authentication is run on a
 * request of the test's own, and what it put in the body and headers is read back — the algorithm a
 * key signs with, the assertion's audience, lifetime and header, a certificate named by its
 * thumbprint — and the advice given when a server refuses the assertion.
 */
import {strict as assert} from 'node:assert'
import {generateKeyPairSync, type KeyObject, X509Certificate, createPrivateKey, createHash} from 'node:crypto'

import {decodeJwt, decodeProtectedHeader, importSPKI, jwtVerify, exportJWK} from 'jose'

import type {Connection} from '../../src/lib/config/connection.js'
import type {ClientCredential} from '../../src/lib/config/secrets.js'
import {ConfigError} from '../../src/lib/errors.js'
import {httpContext} from '../../src/lib/http/context.js'
import {assertionAdvice, assertionAudience, clientAuthentication, refusalAdvice} from '../../src/lib/oauth/client-auth.js'
import type {ServerMetadata} from '../../src/lib/oauth/metadata.js'
import {certificateFactory} from '../helpers/certificates.js'

const ISSUER = 'https://idp.example.test/tenant'
const TOKEN_ENDPOINT = 'https://idp.example.test/tenant/token'
const METADATA: ServerMetadata = {issuer: ISSUER, token_endpoint: TOKEN_ENDPOINT}

function connectionWith(fields: Partial<Connection> = {}): Connection {
  return {
    audience: [],
    authMethod: 'private_key_jwt',
    clientId: 'worker',
    credential: {kind: 'none'} as unknown as Connection['credential'],
    params: [],
    resources: [],
    scopes: [],
    timeoutSeconds: 30,
    ...fields,
  }
}

const http = httpContext({timeoutSeconds: 30}, {})

interface Sent {
  body: URLSearchParams
  headers: Headers
}

async function authenticate(credential: ClientCredential, connection = connectionWith(), metadata = METADATA): Promise<Sent> {
  const auth = await clientAuthentication(connection, credential, metadata, http)
  const body = new URLSearchParams()
  const headers = new Headers()
  // eslint-disable-next-line @typescript-eslint/await-thenable -- openid-client declares ClientAuth as returning void, yet awaits it: the federated one is async
  await auth(metadata as never, {client_id: connection.clientId}, body, headers)
  return {body, headers}
}

async function assertionOf(credential: ClientCredential, connection = connectionWith(), metadata = METADATA) {
  const {body, headers} = await authenticate(credential, connection, metadata)
  assert.equal(headers.get('authorization'), null)
  assert.equal(body.get('client_id'), connection.clientId)
  assert.equal(body.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
  const jwt = body.get('client_assertion')
  assert.ok(jwt)
  return {header: decodeProtectedHeader(jwt), jwt, payload: decodeJwt(jwt)}
}

function pem(key: KeyObject): string {
  return key.export({format: 'pem', type: 'pkcs8'}) as string
}

const keyCredential = (keyText: string): ClientCredential => ({keyText, kind: 'private_key', label: 'key.pem'})

describe('client authentication: what openid-client is told to send', () => {
  it('a secret goes in the Basic header, or in the body with client_secret_post; none sends only the client id', async () => {
    const basic = await authenticate({kind: 'secret', secret: 's3cret'}, connectionWith({authMethod: 'client_secret_basic'}))
    assert.equal(basic.headers.get('authorization'), `Basic ${Buffer.from('worker:s3cret').toString('base64')}`)
    assert.equal(basic.body.get('client_secret'), null)

    const post = await authenticate({kind: 'secret', secret: 's3cret'}, connectionWith({authMethod: 'client_secret_post'}))
    assert.equal(post.headers.get('authorization'), null)
    assert.equal(post.body.get('client_secret'), 's3cret')

    const none = await authenticate({kind: 'none'}, connectionWith({authMethod: 'none'}))
    assert.equal(none.headers.get('authorization'), null)
    assert.deepEqual([...none.body], [['client_id', 'worker']])
  })

  it('a private key signs with the algorithm its type and curve imply, verifiable with its public key', async () => {
    const cases: Array<[string, ReturnType<typeof generateKeyPairSync>]> = [
      ['RS256', generateKeyPairSync('rsa', {modulusLength: 2048})],
      ['ES256', generateKeyPairSync('ec', {namedCurve: 'P-256'})],
      ['ES384', generateKeyPairSync('ec', {namedCurve: 'P-384'})],
      ['ES512', generateKeyPairSync('ec', {namedCurve: 'P-521'})],
      // An Ed25519 key: the fully-specified name, as openid-client gives it.
      ['Ed25519', generateKeyPairSync('ed25519')],
    ]
    for (const [alg, {privateKey, publicKey}] of cases) {
      const {header, jwt} = await assertionOf(keyCredential(pem(privateKey)))
      assert.equal(header.alg, alg)
      assert.equal(header.typ, 'JWT')
      assert.equal(header.kid, undefined, alg)
      await jwtVerify(jwt, await importSPKI(publicKey.export({format: 'pem', type: 'spki'}) as string, alg))
    }

    // --alg EdDSA means what it says: RFC 8037's name, for a server that knows no other (same signature).
    const ed = generateKeyPairSync('ed25519')
    const named = await assertionOf(keyCredential(pem(ed.privateKey)), connectionWith({alg: 'EdDSA'}))
    assert.equal(named.header.alg, 'EdDSA')
    await jwtVerify(named.jwt, await importSPKI(ed.publicKey.export({format: 'pem', type: 'spki'}) as string, 'EdDSA'))

    // WebCrypto (through jose) imports no RSASSA-PSS PKCS#8 key for any algorithm: refused as such, with
    // the key that works (an ordinary RSA key signs PS256), not "pass --alg" that no --alg satisfies.
    const pss = generateKeyPairSync('rsa-pss', {modulusLength: 2048})
    for (const alg of [undefined, 'PS256', 'RS256']) {
      await assert.rejects(authenticate(keyCredential(pem(pss.privateKey)), connectionWith(alg === undefined ? {} : {alg})), (error: ConfigError) => {
        assert.equal(error.message, 'key.pem is an RSASSA-PSS key, which cannot sign a client assertion here')
        assert.equal(error.code, 'config_error')
        assert.deepEqual(error.suggestions, ['use an ordinary RSA key (openssl genpkey -algorithm RSA): it signs PS256 as well as RS256'])
        return true
      })
    }
  })

  it('the assertion: iss = sub = client id, aud the issuer (elsewhere than Entra), five minutes of life, a fresh jti', async () => {
    const {privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
    const first = await assertionOf(keyCredential(pem(privateKey)))
    assert.equal(first.payload.iss, 'worker')
    assert.equal(first.payload.sub, 'worker')
    assert.equal(first.payload.aud, ISSUER)
    assert.equal(Number(first.payload.exp) - Number(first.payload.iat), 300)
    const second = await assertionOf(keyCredential(pem(privateKey)))
    assert.notEqual(second.payload.jti, first.payload.jti)

    const tokenEndpoint = await assertionOf(keyCredential(pem(privateKey)), connectionWith({assertionAudience: 'token-endpoint'}))
    assert.equal(tokenEndpoint.payload.aud, TOKEN_ENDPOINT)
  })

  it('a JWK keeps its own alg and kid unless --alg and --key-id say otherwise', async () => {
    const {privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
    const jwk = JSON.stringify({...(await exportJWK(privateKey)), alg: 'ES256', kid: 'jwk-kid'})
    const own = await assertionOf(keyCredential(`  ${jwk}\n`))
    assert.equal(own.header.kid, 'jwk-kid')
    assert.equal(own.header.alg, 'ES256')

    const rsa = generateKeyPairSync('rsa', {modulusLength: 2048})
    const rsaJwk = JSON.stringify({...(await exportJWK(rsa.privateKey)), kid: 'rsa-kid'})
    const flagged = await assertionOf(keyCredential(rsaJwk), connectionWith({alg: 'PS384', keyId: 'flag-kid'}))
    assert.equal(flagged.header.kid, 'flag-kid')
    assert.equal(flagged.header.alg, 'PS384')
    const pemFlagged = await assertionOf(keyCredential(pem(rsa.privateKey)), connectionWith({alg: 'RS512', keyId: 'pem-kid'}))
    assert.equal(pemFlagged.header.alg, 'RS512')
    assert.equal(pemFlagged.header.kid, 'pem-kid')
  })

  it('what is not a private key, or does not sign with --alg, is a configuration error naming the file', async () => {
    const {publicKey, privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
    const publicJwk = JSON.stringify(await exportJWK(publicKey))
    for (const text of ['not a key', publicJwk, '{not json', publicKey.export({format: 'pem', type: 'spki'}) as string]) {
      await assert.rejects(authenticate(keyCredential(text)), (error: Error) => {
        assert.ok(error instanceof ConfigError, text)
        assert.equal(error.message, 'key.pem is not a private key (PEM or JWK)')
        assert.equal(error.code, 'config_error')
        return true
      })
    }

    await assert.rejects(authenticate(keyCredential(pem(privateKey)), connectionWith({alg: 'RS256'})), (error: ConfigError) => {
      assert.ok(error instanceof ConfigError)
      assert.equal(error.message, 'key.pem cannot sign with RS256')
      assert.equal(error.code, 'config_error')
      assert.match(error.suggestions?.[0] ?? '', /^pass --alg matching the key/)
      return true
    })
  })
})

describe('client authentication with a certificate', () => {
  const factory = certificateFactory()
  let rsa: {certificate: X509Certificate; key: KeyObject}
  let ec: {certificate: X509Certificate; key: KeyObject}
  let chainCa: X509Certificate

  before(async function () {
    this.timeout(60_000)
    const ca = await factory.ca()
    chainCa = new X509Certificate(ca.certificatePem)
    const [rsaFiles, ecFiles] = await Promise.all([factory.certificate({ca}), factory.certificate({type: 'ec'})])
    const {readFileSync} = await import('node:fs')
    rsa = {certificate: new X509Certificate(rsaFiles.certificatePem), key: createPrivateKey(readFileSync(rsaFiles.keyPath))}
    ec = {certificate: new X509Certificate(ecFiles.certificatePem), key: createPrivateKey(readFileSync(ecFiles.keyPath))}
  })

  after(async () => {
    const {rmSync} = await import('node:fs')
    rmSync(factory.directory, {force: true, recursive: true})
  })

  const certificateCredential = (loaded: {certificate: X509Certificate; key: KeyObject}, chain: X509Certificate[] = []): ClientCredential => ({
    certificate: {chain: [loaded.certificate, ...chain], key: loaded.key},
    kind: 'certificate',
    label: 'cert.pem',
  })
  const digest = (certificate: X509Certificate, algorithm: string) => createHash(algorithm).update(certificate.raw).digest('base64url')

  it('names the certificate by its SHA-256 thumbprint and signs PS256 (RSA), without kid or x5c', async () => {
    const {header, jwt} = await assertionOf(certificateCredential(rsa), connectionWith({keyId: 'ignored'}))
    assert.deepEqual(header, {alg: 'PS256', typ: 'JWT', 'x5t#S256': digest(rsa.certificate, 'sha256')})
    await jwtVerify(jwt, rsa.certificate.publicKey)
  })

  it('the older SHA-1 x5t signs RS256; --send-x5c adds the chain, leaf first; an EC key signs ES256', async () => {
    const sha1 = await assertionOf(certificateCredential(rsa, [chainCa]), connectionWith({sendX5c: true, thumbprint: 'sha1'}))
    assert.equal(sha1.header.alg, 'RS256')
    assert.equal(sha1.header.x5t, digest(rsa.certificate, 'sha1'))
    assert.equal(sha1.header['x5t#S256'], undefined)
    assert.deepEqual(sha1.header.x5c, [rsa.certificate.raw.toString('base64'), chainCa.raw.toString('base64')])

    const explicit = await assertionOf(certificateCredential(rsa), connectionWith({alg: 'RS384', thumbprint: 'sha256'}))
    assert.equal(explicit.header.alg, 'RS384')

    const ecAssertion = await assertionOf(certificateCredential(ec))
    assert.equal(ecAssertion.header.alg, 'ES256')
    assert.equal(ecAssertion.header['x5t#S256'], digest(ec.certificate, 'sha256'))
  })

  it('the advice on a refused certificate names its SHA-256 fingerprint and the client', () => {
    const advice = assertionAdvice(connectionWith(), certificateCredential(rsa), METADATA)
    assert.equal(
      advice,
      `check that the certificate (SHA-256 thumbprint ${rsa.certificate.fingerprint256}) is registered for client worker; if the server wants the token endpoint as the client assertion's aud (Microsoft Entra, Okta, Google), pass --assertion-audience token-endpoint`,
    )
  })

  it('with mutual TLS the advice names the certificate and the method, not an audience; without mtls_endpoint_aliases, the token endpoint itself must ask for the certificate', () => {
    const registered = `check that the certificate (SHA-256 thumbprint ${rsa.certificate.fingerprint256}) is registered for client worker with tls_client_auth`
    const mtls = connectionWith({authMethod: 'tls_client_auth'})
    const aliases = {...METADATA, mtls_endpoint_aliases: {token_endpoint: 'https://mtls.idp.example.test/tenant/token'}}
    assert.equal(assertionAdvice(mtls, certificateCredential(rsa), aliases), registered)
    assert.equal(assertionAdvice(mtls, certificateCredential(rsa), METADATA), `${registered} (the server lists no mtls_endpoint_aliases: its token endpoint itself must ask for a client certificate)`)
    assert.equal(
      assertionAdvice(connectionWith({authMethod: 'self_signed_tls_client_auth'}), certificateCredential(ec), aliases),
      `check that the certificate (SHA-256 thumbprint ${ec.certificate.fingerprint256}) is registered for client worker with self_signed_tls_client_auth`,
    )
  })
})

describe("the client assertion's audience, and the advice when a server refuses it", () => {
  const key = keyCredential('unused')

  it('the token endpoint for Entra (by its host, its token path, or its issuer), the issuer elsewhere, the flag over both', () => {
    const entraHost: ServerMetadata = {issuer: 'https://login.microsoftonline.com/t/v2.0', token_endpoint: 'https://login.microsoftonline.com/t/oauth2/v2.0/token'}
    assert.deepEqual(assertionAudience(connectionWith(), entraHost), {audience: entraHost.token_endpoint, by: 'entra', which: 'token-endpoint'})
    const entraPath: ServerMetadata = {issuer: 'https://proxy.example.test/t', token_endpoint: 'https://proxy.example.test/t/oauth2/token'}
    assert.equal(assertionAudience(connectionWith(), entraPath).by, 'entra')
    // An Entra issuer whose token endpoint is served elsewhere (behind a proxy).
    const entraIssuer: ServerMetadata = {issuer: 'https://login.microsoftonline.us/t/v2.0', token_endpoint: 'https://proxy.example.test/token'}
    assert.deepEqual(assertionAudience(connectionWith(), entraIssuer), {audience: 'https://proxy.example.test/token', by: 'entra', which: 'token-endpoint'})
    // The issuer the command line named, when the metadata's says otherwise.
    const named = connectionWith({issuer: new URL('https://sts.windows.net/t/')})
    assert.equal(assertionAudience(named, METADATA).by, 'entra')
    assert.deepEqual(assertionAudience(connectionWith(), METADATA), {audience: ISSUER, by: 'default', which: 'issuer'})
    assert.deepEqual(assertionAudience(connectionWith({assertionAudience: 'issuer'}), entraHost), {audience: entraHost.issuer, by: 'flag', which: 'issuer'})
    assert.deepEqual(assertionAudience(connectionWith({assertionAudience: 'token-endpoint'}), METADATA), {audience: TOKEN_ENDPOINT, by: 'flag', which: 'token-endpoint'})
  })

  it('advice names the flag that changes the audience, by how it was chosen', () => {
    const registered = 'check that the key is registered for client worker'
    assert.equal(
      assertionAdvice(connectionWith(), key, METADATA),
      `${registered}; if the server wants the token endpoint as the client assertion's aud (Microsoft Entra, Okta, Google), pass --assertion-audience token-endpoint`,
    )
    assert.equal(
      assertionAdvice(connectionWith({assertionAudience: 'issuer'}), key, METADATA),
      `the client assertion's aud was the issuer (--assertion-audience issuer): Microsoft Entra, Okta and Google want the token endpoint, so pass --assertion-audience token-endpoint; ${registered}`,
    )
    const expected = `${registered}; if the server wants the issuer as the client assertion's aud, pass --assertion-audience issuer`
    assert.equal(assertionAdvice(connectionWith({assertionAudience: 'token-endpoint'}), key, METADATA), expected)
    assert.equal(assertionAdvice(connectionWith(), key, {issuer: 'https://login.microsoftonline.com/t/v2.0', token_endpoint: 'https://login.microsoftonline.com/t/oauth2/v2.0/token'}), expected)
  })

  it('a federated token is read when the request is made and sent as the assertion; the advice on a refusal names what it presented', async () => {
    const payload = {aud: 'api://AzureADTokenExchange', exp: Math.floor(Date.now() / 1000) + 600, iss: 'https://issuer.example.test', sub: 'system:serviceaccount:ns:worker'}
    const token = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.c2ln`
    const variable = 'TOKENCTL_CLIENT_AUTH_TEST_FEDERATED'
    process.env[variable] = token
    try {
      const credential: ClientCredential = {kind: 'federated', label: `$${variable}`, source: {kind: 'env', variable}}
      const connection = connectionWith({authMethod: 'federated'})
      assert.equal(await refusalAdvice(connection, credential, METADATA)(), undefined)
      const {body} = await authenticate(credential, connection)
      assert.equal(body.get('client_assertion'), token)
      assert.equal(body.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      const advice = await refusalAdvice(connection, credential, METADATA)()
      assert.match(advice?.suggestion ?? '', /^the federated token presented iss "?https:\/\/issuer\.example\.test/)
      assert.deepEqual(advice?.details, {presented_claims: payload})
    } finally {
      delete process.env[variable]
    }
  })

  it('a secret or no credential gets no assertion advice; refusalAdvice wraps it, computed when asked', async () => {
    assert.equal(assertionAdvice(connectionWith(), {kind: 'secret', secret: 's'}, METADATA), undefined)
    assert.equal(assertionAdvice(connectionWith(), {kind: 'none'}, METADATA), undefined)
    assert.equal(await refusalAdvice(connectionWith(), {kind: 'secret', secret: 's'}, METADATA)(), undefined)
    assert.deepEqual(await refusalAdvice(connectionWith(), key, METADATA)(), {suggestion: assertionAdvice(connectionWith(), key, METADATA)})
  })
})
