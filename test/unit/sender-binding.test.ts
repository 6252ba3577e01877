/**
 * Sender-constrained tokens as an API checks them: the proof check shared by `token verify
 * --dpop-proof` and dev idp's API (src/lib/verify/binding.ts), the `cnf` line of token verify, the
 * API's rules (src/lib/devidp/sender-constraints.ts: its nonce, replays, the scheme, the certificate
 * of the connection), the challenges `call` reads (src/lib/http/call.ts) and the client certificate
 * every connection presents (src/lib/http/mtls.ts). Every failure's wording is compared whole: it is
 * what a person reads to find out why an API said 401.
 */
import {strict as assert} from 'node:assert'
import {randomBytes, X509Certificate} from 'node:crypto'
import type {IncomingMessage} from 'node:http'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT} from 'jose'

import {loadCertificateMaterial} from '../../src/lib/config/certificates.js'
import {serverChallenge} from '../../src/lib/devidp/oidc.js'
import {devPki, type DevPki} from '../../src/lib/devidp/pki.js'
import {senderVerifier} from '../../src/lib/devidp/sender-constraints.js'
import {challengeOf, refusalOf} from '../../src/lib/http/call.js'
import {clientCertificateOf, presenting} from '../../src/lib/http/mtls.js'
import {ConfigError, UsageError} from '../../src/lib/errors.js'
import {accessTokenHash, checkBinding, checkDpopProof, DPOP_ALGORITHMS} from '../../src/lib/verify/binding.js'
import {bindingEvidenceOf} from '../../src/lib/verify/binding-input.js'
import {certificateFactory} from '../helpers/certificates.js'

interface Key {
  jkt: string
  jwk: JWK
  privateKey: CryptoKey
}

type CryptoKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

async function newKey(): Promise<Key> {
  const {privateKey, publicKey} = await generateKeyPair('ES256')
  const jwk = await exportJWK(publicKey)
  return {jkt: await calculateJwkThumbprint(jwk), jwk, privateKey}
}

const NOW = 1_900_000_000
const URL_ = 'https://api.example/things'
const TOKEN = 'the.access.token'

async function proof(key: Key, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload: Record<string, unknown> = {ath: accessTokenHash(TOKEN), htm: 'GET', htu: URL_, iat: NOW, jti: 'jti-1', ...claims}
  for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name]
  return new SignJWT(payload).setProtectedHeader({alg: 'ES256', jwk: key.jwk, typ: 'dpop+jwt', ...header}).sign(key.privateKey)
}

const expected = (key: Key, more: Partial<Parameters<typeof checkDpopProof>[1]> = {}) => ({accessToken: TOKEN, jkt: key.jkt, method: 'GET', now: NOW, skewSeconds: 60, url: URL_, ...more})

async function problems(made: Promise<string> | string, expectations: Parameters<typeof checkDpopProof>[1]): Promise<string[]> {
  const verdict = await checkDpopProof(await made, expectations)
  return 'problems' in verdict ? verdict.problems : []
}

describe('sender-constrained tokens, as an API checks them', () => {
  let key: Key
  let other: Key
  before(async () => {
    key = await newKey()
    other = await newKey()
  })

  describe('a DPoP proof (RFC 9449 §4.3)', () => {
    it("a good one: its key's thumbprint, jti, iat and nonce", async () => {
      const verdict = await checkDpopProof(await proof(key, {htu: URL_, nonce: 'n'}), expected(key, {url: `${URL_}?page=2#x`}))
      assert.deepEqual(verdict, {proof: {iat: NOW, jkt: key.jkt, jti: 'jti-1', nonce: 'n'}})
      assert.deepEqual(await checkDpopProof(await proof(key), expected(key, {method: 'get'})), {proof: {iat: NOW, jkt: key.jkt, jti: 'jti-1', nonce: undefined}})
      const noToken = await checkDpopProof(await proof(key, {ath: undefined}), {method: 'GET', now: NOW, skewSeconds: 60, url: URL_})
      assert.ok('proof' in noToken, 'no token, no ath needed (a token endpoint)')
    })

    it('what is not a proof: not a JWT, another typ, no jwk, a private jwk, a signature by another key, a symmetric alg', async () => {
      assert.deepEqual(await problems('not-a-jwt', expected(key)), ['not a JWT'])
      assert.deepEqual(await problems(proof(key, {}, {typ: 'JWT'}), expected(key)), ['typ "JWT", a proof\'s is dpop+jwt'])
      const unsigned = await new SignJWT({}).setProtectedHeader({alg: 'ES256', typ: 'dpop+jwt'}).sign(key.privateKey)
      assert.deepEqual(await problems(unsigned, expected(key)), ['no jwk in the header: a proof carries the public key it is signed with'])
      assert.deepEqual(await problems(proof(key, {}, {jwk: {...key.jwk, d: 'x'}}), expected(key)), ["the header's jwk holds a private key"])
      const stringJwk = await new SignJWT({}).setProtectedHeader({alg: 'ES256', jwk: 'not-a-key' as unknown as JWK, typ: 'dpop+jwt'}).sign(key.privateKey)
      assert.deepEqual(await problems(stringJwk, expected(key)), ['no jwk in the header: a proof carries the public key it is signed with'])
      const forged = await problems(proof(key, {}, {jwk: other.jwk}), expected(key))
      assert.equal(forged.length, 1)
      assert.match(forged[0], /^its signature does not verify with the jwk of its header \(/)
      const hmac = await new SignJWT({}).setProtectedHeader({alg: 'HS256', jwk: key.jwk, typ: 'dpop+jwt'}).sign(randomBytes(32))
      assert.deepEqual(await problems(hmac, expected(key)), [`alg "HS256": a proof is signed with an asymmetric algorithm (${DPOP_ALGORITHMS.join(', ')})`])
      assert.ok(!DPOP_ALGORITHMS.some((alg) => alg.startsWith('HS')) && !DPOP_ALGORITHMS.includes('none'))
    })

    it('every claim problem named, not only the first', async () => {
      const all = await problems(proof(key, {ath: 'wrong', htm: 'POST', htu: 'https://api.example/other', iat: NOW - 61, jti: ''}), expected(other))
      assert.deepEqual(all, [
        'no jti (a proof is unique: servers refuse one they saw before)',
        'htm "POST", the request\'s method is GET',
        "htu https://api.example/other, the request's URL is https://api.example/things",
        'iat 61 s ago, beyond the 60 s allowed (a proof is made for its request, then; check the clocks)',
        'ath is not the SHA-256 of this token: the proof was made for another token',
        `signed with the key ${key.jkt}, the token is bound to ${other.jkt} (cnf.jkt)`,
      ])
    })

    it('each claim at its boundary: iat 60 s either way passes, 61 ahead fails; htu with a query or fragment, or none; ath missing; no iat', async () => {
      assert.deepEqual(await problems(proof(key, {iat: NOW - 60}), expected(key)), [])
      assert.deepEqual(await problems(proof(key, {iat: NOW + 60}), expected(key)), [])
      assert.deepEqual(await problems(proof(key, {iat: NOW + 61}), expected(key)), ['iat 61 s ahead, beyond the 60 s allowed (a proof is made for its request, then; check the clocks)'])
      assert.deepEqual(await problems(proof(key, {iat: undefined}), expected(key)), ['no iat'])
      assert.deepEqual(await problems(proof(key, {iat: '1900000000'}), expected(key)), ['its iat claim: "iat" claim must be a number'])
      assert.deepEqual(await problems(proof(key, {htu: `${URL_}?page=2`}), expected(key)), ['htu https://api.example/things?page=2 carries a query or a fragment, which a proof leaves out'])
      assert.deepEqual(await problems(proof(key, {htu: `${URL_}#top`}), expected(key)), ['htu https://api.example/things#top carries a query or a fragment, which a proof leaves out'])
      assert.deepEqual(await problems(proof(key, {htu: 'things'}), expected(key)), ['htu "things" is not a URL'])
      assert.deepEqual(await problems(proof(key, {htu: undefined}), expected(key)), ['htu undefined is not a URL'])
      assert.deepEqual(await problems(proof(key, {ath: undefined}), expected(key)), ['no ath: a proof sent with an access token carries its SHA-256'])
      assert.deepEqual(await problems(proof(key, {jti: 7}), expected(key)), ['no jti (a proof is unique: servers refuse one they saw before)'])
      assert.deepEqual(await problems(proof(key), expected(key, {jkt: undefined})), [], 'no token bound: any key')
    })

    it('ath is base64url(SHA-256(the ASCII token))', () => {
      assert.equal(accessTokenHash('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0')
    })
  })

  describe("token verify's cnf line", () => {
    const evidence = (more: Partial<Parameters<typeof checkBinding>[1]> = {}) => ({clockSkewSeconds: 60, now: NOW, token: TOKEN, ...more})

    it('a bearer token nobody asked about: no line; a proof or a certificate for an unbound token: failed', async () => {
      assert.equal(await checkBinding({}, evidence()), undefined)
      assert.deepEqual(await checkBinding({}, evidence({dpop: {method: 'GET', proof: 'p', url: URL_}})), {
        detail: 'the token has no cnf: it is not bound to a DPoP key, and an API refuses a DPoP proof with an unbound token',
        name: 'cnf',
        status: 'failed',
      })
      assert.deepEqual(await checkBinding({}, evidence({certificateX5t: 'x'})), {detail: 'the token has no cnf: it is not bound to a certificate', name: 'cnf', status: 'failed'})
    })

    it('a DPoP-bound token: without its proof failed (an API refuses it as a bearer token), with a good one passed, with a bad one failed with why', async () => {
      const claims = {cnf: {jkt: key.jkt}}
      assert.deepEqual(await checkBinding(claims, evidence()), {
        detail: `bound to a DPoP key (cnf.jkt ${key.jkt}): an API refuses it as a bearer token; pass --dpop-proof PROOF --method M --url URL to check the proof it is sent with`,
        name: 'cnf',
        status: 'failed',
      })
      const good = await checkBinding(claims, evidence({dpop: {method: 'GET', proof: await proof(key, {iat: NOW - 3}), url: URL_}}))
      assert.deepEqual(good, {detail: `DPoP proof for GET ${URL_} signed by the bound key (jkt ${key.jkt}), iat 3 s ago, ath matches`, name: 'cnf', status: 'passed'})
      const wrongMethod = await checkBinding(claims, evidence({dpop: {method: 'post', proof: await proof(key), url: URL_}}))
      assert.deepEqual(wrongMethod, {detail: `the DPoP proof for POST ${URL_} fails: htm "GET", the request's method is POST`, name: 'cnf', status: 'failed'})
      const twoWrong = await checkBinding(claims, evidence({dpop: {method: 'POST', proof: await proof(key), url: 'https://api.example/other'}}))
      assert.equal(
        twoWrong!.detail,
        'the DPoP proof for POST https://api.example/other fails: htm "GET", the request\'s method is POST; htu https://api.example/things, the request\'s URL is https://api.example/other',
      )
      assert.deepEqual(await checkBinding({cnf: {jkt: 5}}, evidence()), {detail: 'cnf.jkt 5 is not a thumbprint', name: 'cnf', status: 'failed'})
    })

    it('a certificate-bound token: compared with --certificate-file, failed without it', async () => {
      const claims = {cnf: {'x5t#S256': 'abc'}}
      assert.deepEqual(await checkBinding(claims, evidence({certificateX5t: 'abc'})), {detail: 'bound to the certificate of --certificate-file (x5t#S256 abc)', name: 'cnf', status: 'passed'})
      assert.deepEqual(await checkBinding(claims, evidence({certificateX5t: 'def'})), {detail: 'bound to the certificate abc (cnf.x5t#S256), --certificate-file is def', name: 'cnf', status: 'failed'})
      assert.deepEqual(await checkBinding(claims, evidence()), {
        detail: 'bound to a certificate (cnf.x5t#S256 abc): an API refuses it as a bearer token, or over a connection without that certificate; pass --certificate-file to compare',
        name: 'cnf',
        status: 'failed',
      })
      assert.deepEqual(await checkBinding({cnf: {'x5t#S256': ['abc']}}, evidence({certificateX5t: 'abc'})), {detail: 'cnf.x5t#S256 ["abc"] is not a thumbprint', name: 'cnf', status: 'failed'})
    })

    it('both bindings: both checked, each failure said; a cnf with neither, or not an object, is skipped', async () => {
      const both = await checkBinding({cnf: {jkt: key.jkt, 'x5t#S256': 'abc'}}, evidence({certificateX5t: 'def'}))
      assert.equal(both!.status, 'failed')
      assert.equal(
        both!.detail,
        `bound to a DPoP key (cnf.jkt ${key.jkt}): an API refuses it as a bearer token; pass --dpop-proof PROOF --method M --url URL to check the proof it is sent with; bound to the certificate abc (cnf.x5t#S256), --certificate-file is def`,
      )
      const passedBoth = await checkBinding({cnf: {jkt: key.jkt, 'x5t#S256': 'abc'}}, evidence({certificateX5t: 'abc', dpop: {method: 'GET', proof: await proof(key), url: URL_}}))
      assert.equal(passedBoth!.status, 'passed')
      assert.match(passedBoth!.detail, /^DPoP proof for GET .*; bound to the certificate of --certificate-file \(x5t#S256 abc\)$/)
      for (const cnf of [{jwk: {}}, 'jkt', null, ['x']]) {
        assert.deepEqual(await checkBinding({cnf}, evidence()), {detail: 'cnf names no binding tokenctl checks (jkt, x5t#S256)', name: 'cnf', status: 'skipped'})
      }
    })
  })

  describe("the API's rules", () => {
    const secret = randomBytes(32)
    const request = (headers: Record<string, string>, socket: Record<string, unknown> = {}): IncomingMessage =>
      ({headers: {host: 'api.example', ...headers}, method: 'GET', socket, url: '/things?page=1'}) as unknown as IncomingMessage
    const https = {encrypted: true}

    const ALGS = 'ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519'
    const refusalOf_ = (error: string, description: string, scheme = 'DPoP', nonce?: string) => ({refusal: {algs: ALGS, description, error, nonce, scheme}})

    it('a DPoP-bound token: sent as Bearer refused; without a proof, with a bad one, without the nonce, replayed: refused, each with its error', async () => {
      const nonces = serverChallenge(secret, 'test')
      const verifier = senderVerifier({nonces, windowSeconds: 60})
      const bound = {cnf: {jkt: key.jkt}}
      for (const dpopHeader of ['', ['a', 'b']]) {
        assert.deepEqual(
          await verifier.check(request({dpop: dpopHeader as string}, https), {scheme: 'dpop', token: TOKEN}, bound),
          refusalOf_('invalid_dpop_proof', 'no DPoP proof (the DPoP header) with a DPoP-bound token'),
        )
      }

      const twoProblems = await proof(key, {htm: 'POST', htu: 'https://elsewhere.example/things', iat: Math.floor(Date.now() / 1000), jti: 'two'})
      assert.deepEqual(
        await verifier.check(request({dpop: twoProblems}, https), {scheme: 'dpop', token: TOKEN}, bound),
        refusalOf_('invalid_dpop_proof', 'the DPoP proof fails: htm "POST", the request\'s method is GET; htu https://elsewhere.example/things, the request\'s URL is https://api.example/things'),
      )
      const bare = {
        headers: {dpop: await proof(key, {htu: 'https://api.example/', iat: Math.floor(Date.now() / 1000), jti: 'bare', nonce: nonces.nextChallenge()}), host: 'api.example'},
        socket: https,
      } as unknown as IncomingMessage
      assert.deepEqual(await verifier.check(bare, {scheme: 'dpop', token: TOKEN}, bound), {}, 'no method: GET; no URL: /')
      const old = await proof(key, {iat: Math.floor(Date.now() / 1000) - 90, jti: 'old', nonce: nonces.nextChallenge()})
      assert.equal(
        ((await verifier.check(request({dpop: old}, https), {scheme: 'dpop', token: TOKEN}, bound)) as {refusal: {error: string}}).refusal.error,
        'invalid_dpop_proof',
        'the window given, not the default',
      )
      assert.deepEqual(
        await verifier.check(request({}, https), {scheme: 'dpop', token: TOKEN}, {cnf: null}),
        refusalOf_('invalid_token', 'the token is not bound to a DPoP key, yet sent with the DPoP scheme'),
      )
      const claims = {cnf: {jkt: key.jkt}}
      const dpop = {scheme: 'dpop' as const, token: TOKEN}
      const fresh = (more: Record<string, unknown> = {}) => proof(key, {iat: Math.floor(Date.now() / 1000), jti: randomBytes(8).toString('hex'), ...more})
      const refusal = async (verdict: Promise<unknown>) => ((await verdict) as {refusal?: {description: string; error: string; nonce?: string; scheme: string}}).refusal
      assert.deepEqual(await refusal(verifier.check(request({}, https), {scheme: 'bearer', token: TOKEN}, claims)), {
        algs: 'ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519',
        description: 'a DPoP-bound token sent as a bearer token',
        error: 'invalid_token',
        nonce: undefined,
        scheme: 'DPoP',
      })
      assert.equal((await refusal(verifier.check(request({}, https), dpop, claims)))!.description, 'no DPoP proof (the DPoP header) with a DPoP-bound token')
      const wrongHtu = await refusal(verifier.check(request({dpop: await fresh()}, {}), dpop, claims))
      assert.equal(wrongHtu!.error, 'invalid_dpop_proof')
      assert.equal(wrongHtu!.description, "the DPoP proof fails: htu https://api.example/things, the request's URL is http://api.example/things")
      const noNonce = await refusal(verifier.check(request({dpop: await fresh()}, https), dpop, claims))
      assert.deepEqual(noNonce, refusalOf_('use_dpop_nonce', 'this API wants its nonce in the proof', 'DPoP', nonces.nextChallenge()).refusal)
      const stale = await refusal(verifier.check(request({dpop: await fresh({nonce: 'made-up'})}, https), dpop, claims))
      assert.equal(stale!.error, 'use_dpop_nonce')
      assert.equal(stale!.description, 'the nonce is not one this API gave, or it is too old')
      assert.equal(stale!.nonce, nonces.nextChallenge())

      const good = await fresh({nonce: nonces.nextChallenge()})
      assert.deepEqual(await verifier.check(request({dpop: good}, https), dpop, claims), {})
      assert.deepEqual(await verifier.check(request({dpop: good}, https), dpop, claims), refusalOf_('invalid_dpop_proof', 'the DPoP proof was used before (its jti): a proof is for one request'))
      const older = await fresh({nonce: 'x'.repeat(43)})
      assert.equal((await refusal(verifier.check(request({dpop: older}, https), dpop, claims)))!.error, 'use_dpop_nonce')
    })

    it("a good proof with an older nonce of the API's: accepted, and the next nonce handed out", async () => {
      let step = 0
      const nonces = {checkChallenge: (nonce: string) => nonce === 'old' || nonce === 'new', nextChallenge: () => (step++ === 0 ? 'new' : 'new')}
      const verifier = senderVerifier({nonces, windowSeconds: 60})
      const made = await proof(key, {iat: Math.floor(Date.now() / 1000), jti: 'a', nonce: 'old'})
      assert.deepEqual(await verifier.check(request({dpop: made}, https), {scheme: 'dpop', token: TOKEN}, {cnf: {jkt: key.jkt}}), {nonce: 'new'})
      const current = await proof(key, {iat: Math.floor(Date.now() / 1000), jti: 'b', nonce: 'new'})
      assert.deepEqual(await verifier.check(request({dpop: current}, https), {scheme: 'dpop', token: TOKEN}, {cnf: {jkt: key.jkt}}), {})
      const lax = senderVerifier({requireNonce: false})
      const without = await proof(key, {iat: Math.floor(Date.now() / 1000), jti: 'c'})
      assert.ok(!('refusal' in (await lax.check(request({dpop: without}, https), {scheme: 'dpop', token: TOKEN}, {cnf: {jkt: key.jkt}}))))
    })

    it('an unbound token with the DPoP scheme is refused; a bearer token goes through', async () => {
      const verifier = senderVerifier()
      assert.deepEqual(await verifier.check(request({}, https), {scheme: 'dpop', token: TOKEN}, {}), refusalOf_('invalid_token', 'the token is not bound to a DPoP key, yet sent with the DPoP scheme'))
      assert.deepEqual(await verifier.check(request({}, https), {scheme: 'bearer', token: TOKEN}, {cnf: 'junk'}), {})
    })

    it('a certificate-bound token: the connection must present that certificate', async () => {
      const directory = mkdtempSync(join(tmpdir(), 'tokenctl-binding-'))
      try {
        const pki: DevPki = await devPki(directory)
        const certificate = new X509Certificate(pki.clientCertificateOnly)
        const x5t = clientCertificateOf(
          loadCertificateMaterial({certificates: [pki.clientCertificateOnly], key: pki.clientCertificate.slice(pki.clientCertificate.indexOf('-----BEGIN PRIVATE KEY'))}, 'test'),
        ).x5tS256
        const verifier = senderVerifier()
        const bearer = {scheme: 'bearer' as const, token: TOKEN}
        const peer = (cert?: X509Certificate) => ({encrypted: true, getPeerCertificate: () => (cert ? {raw: cert.raw} : {})})
        assert.deepEqual(await verifier.check(request({}, peer(certificate)), bearer, {cnf: {'x5t#S256': x5t}}), {})
        assert.deepEqual(
          await verifier.check(request({}, peer()), bearer, {cnf: {'x5t#S256': x5t}}),
          refusalOf_('invalid_token', 'a certificate-bound token without a client certificate on the connection', 'Bearer'),
        )
        assert.deepEqual(
          await verifier.check(request({}, {}), bearer, {cnf: {'x5t#S256': x5t}}),
          refusalOf_('invalid_token', 'a certificate-bound token without a client certificate on the connection', 'Bearer'),
        )
        const server = new X509Certificate(pki.serverCertificate)
        assert.deepEqual(
          await verifier.check(request({}, peer(server)), bearer, {cnf: {'x5t#S256': x5t}}),
          refusalOf_('invalid_token', 'the token is bound to another certificate than the one this connection presents', 'Bearer'),
        )
      } finally {
        rmSync(directory, {force: true, recursive: true})
      }
    })
  })

  describe('the challenges call reads, and the certificate it presents', () => {
    const response = (status: number, ...challenges: string[]) => ({headers: challenges.map((value): [string, string] => ['WWW-Authenticate', value]), status})

    it("a challenge's parameters, quoted or not, from any of several headers or schemes", () => {
      assert.deepEqual(challengeOf(response(401, 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"'), 'dpop'), {
        error: 'use_dpop_nonce',
        error_description: 'Resource server requires nonce in DPoP proof',
      })
      assert.deepEqual(challengeOf(response(401, 'Bearer realm="x", DPoP algs="ES256 PS256", error=invalid_token'), 'DPoP'), {algs: 'ES256 PS256', error: 'invalid_token'})
      assert.deepEqual(challengeOf(response(401, 'Bearer realm="x"', 'DPoP error="invalid_dpop_proof", error_description="a \\"quoted\\" reason"'), 'DPoP'), {
        error: 'invalid_dpop_proof',
        error_description: 'a "quoted" reason',
      })
      assert.deepEqual(challengeOf(response(401, 'DPoP'), 'DPoP'), {})
      assert.deepEqual(challengeOf(response(401, 'DPoP, Bearer realm="r"'), 'DPoP'), {})
      assert.equal(challengeOf(response(401, 'Bearer error="invalid_token"'), 'DPoP'), undefined)
      assert.equal(challengeOf(response(401, 'NotDPoP error="x"'), 'DPoP'), undefined)
      assert.equal(challengeOf(response(401), 'DPoP'), undefined)
    })

    it('what exit 8 says of a refused proof or a nonce asked for again; nothing for other answers', () => {
      assert.deepEqual(refusalOf(response(401, 'DPoP error="invalid_dpop_proof", error_description="iat too old"')), {
        message: 'the API refused the DPoP proof (invalid_dpop_proof: iat too old)',
        suggestion: "check that the API expects this URL and method (htu and htm: the URL without query and fragment), and this machine's clock (iat)",
      })
      assert.equal(refusalOf(response(403, 'DPoP error="invalid_dpop_proof"'))!.message, 'the API refused the DPoP proof (invalid_dpop_proof)')
      assert.equal(refusalOf(response(401, 'DPoP error="use_dpop_nonce"'))!.message, 'the API asked again for a DPoP nonce (use_dpop_nonce)')
      assert.equal(refusalOf(response(400, 'DPoP error="invalid_dpop_proof"')), undefined)
      assert.equal(refusalOf(response(401, 'Bearer error="invalid_token"')), undefined)
      assert.equal(refusalOf(response(401, 'DPoP error="invalid_token"')), undefined)
    })

    it("the certificate presented: the chain and key as PEM, its x5t#S256 the leaf's", async () => {
      const directory = mkdtempSync(join(tmpdir(), 'tokenctl-mtls-unit-'))
      try {
        const pki = await devPki(directory)
        const loaded = loadCertificateMaterial(
          {certificates: [pki.clientCertificateOnly, pki.caCertificate], key: pki.clientCertificate.slice(pki.clientCertificate.indexOf('-----BEGIN PRIVATE KEY'))},
          'test',
        )
        const certificate = clientCertificateOf(loaded)
        assert.equal(
          certificate.x5tS256,
          new X509Certificate(pki.clientCertificateOnly).fingerprint256.replaceAll(':', '') &&
            Buffer.from(new X509Certificate(pki.clientCertificateOnly).fingerprint256.replaceAll(':', ''), 'hex').toString('base64url'),
        )
        assert.equal(certificate.cert, `${new X509Certificate(pki.clientCertificateOnly).toString()}${new X509Certificate(pki.caCertificate).toString()}`)
        assert.match(certificate.key, /^-----BEGIN PRIVATE KEY-----/)
        assert.deepEqual(presenting(certificate), {cert: certificate.cert, key: certificate.key})
        assert.deepEqual(presenting(undefined), {})
      } finally {
        rmSync(directory, {force: true, recursive: true})
      }
    })
  })

  describe('what token verify is given', () => {
    it('--dpop-proof with its request (the method upper-cased, GET by default); without a URL exit 2', async () => {
      assert.deepEqual(await bindingEvidenceOf({}), {})
      assert.deepEqual(await bindingEvidenceOf({'dpop-proof': ' p \n', url: URL_}), {dpop: {method: 'GET', proof: 'p', url: URL_}})
      assert.deepEqual(await bindingEvidenceOf({'dpop-proof': 'p', method: 'put', url: URL_}), {dpop: {method: 'PUT', proof: 'p', url: URL_}})
      for (const url of [undefined, 'not a url']) {
        await assert.rejects(bindingEvidenceOf({'dpop-proof': 'p', url}), (error: unknown) => error instanceof UsageError && /--dpop-proof needs --url/.test(error.message))
      }
    })

    it('--certificate-file: a certificate alone (PEM) or with its key, or PKCS#12 with its password; its x5t#S256', async () => {
      const directory = mkdtempSync(join(tmpdir(), 'tokenctl-verify-cert-'))
      try {
        const pki = await devPki(directory)
        const x5t = Buffer.from(new X509Certificate(pki.clientCertificateOnly).fingerprint256.replaceAll(':', ''), 'hex').toString('base64url')
        const alone = join(directory, 'alone.pem')
        writeFileSync(alone, `leading text\n${pki.clientCertificateOnly}`)
        assert.deepEqual(await bindingEvidenceOf({'certificate-file': alone}), {certificateX5t: x5t})
        assert.deepEqual(await bindingEvidenceOf({'certificate-file': pki.clientFile}), {certificateX5t: x5t})
        const broken = join(directory, 'broken.pem')
        writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
        await assert.rejects(
          bindingEvidenceOf({'certificate-file': broken}),
          (error: unknown) => error instanceof ConfigError && error.code === 'certificate_unreadable' && error.message.startsWith(`the certificate in ${broken} cannot be parsed`),
        )
        const certificates = certificateFactory()
        try {
          const pfx = await certificates.certificate({subject: 'verify'})
          process.env.TOKENCTL_TEST_PFX_PASSWORD = pfx.password
          const pfxX5t = Buffer.from(new X509Certificate(pfx.certificatePem).fingerprint256.replaceAll(':', ''), 'hex').toString('base64url')
          assert.deepEqual(await bindingEvidenceOf({'certificate-file': pfx.pfxPath, 'certificate-password-env': 'TOKENCTL_TEST_PFX_PASSWORD'}), {certificateX5t: pfxX5t})
        } finally {
          delete process.env.TOKENCTL_TEST_PFX_PASSWORD
          certificates.remove()
        }
        await assert.rejects(
          bindingEvidenceOf({'certificate-file': join(directory, 'missing.pem')}),
          (error: unknown) => error instanceof ConfigError && /cannot read the certificate file .*missing\.pem/.test(error.message),
        )
        const neither = join(directory, 'neither.bin')
        writeFileSync(neither, 'just bytes')
        await assert.rejects(bindingEvidenceOf({'certificate-file': neither}), /neither PEM nor PKCS#12/)
      } finally {
        rmSync(directory, {force: true, recursive: true})
      }
    })
  })
})
