/**
 * token verify's keys and its signature line (src/lib/verify/jwks.ts, src/lib/verify/signature.ts),
 * against a key set served in the test process that each test sets: what is fetched and when (the
 * cache in TOKENCTL_HOME, the one fetch again for a key rotated since), what is refused before any
 * key is fetched, and what the signature line says in each case. test/unit/token-verify.test.ts runs
 * the whole of verifyJwt against purpose-made issuers; the end-to-end tests run it through the CLI.
 */
import {strict as assert} from 'node:assert'
import {createSign, generateKeyPairSync} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {createServer, type IncomingHttpHeaders} from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT} from 'jose'

import {documentPath, DOCUMENT_TTL_MS, writeDocument} from '../../src/lib/document-cache.js'
import {ExitCode} from '../../src/lib/errors.js'
import {httpContext, type Progress} from '../../src/lib/http/context.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {GRAPH_TOKEN_EXPLANATION} from '../../src/lib/verify/entra.js'
import {isJwkSet, loadJwks} from '../../src/lib/verify/jwks.js'
import {ALLOWED_ALGORITHMS, checkSignature, refusedByHeader} from '../../src/lib/verify/signature.js'
import {closedLoopbackPort} from '../helpers/proxy.js'

interface SigningKey {
  jwk: JWK
  privateKey: CryptoKey
}

async function newKey(alg: 'ES256' | 'PS256' | 'RS256', kid: string | undefined, jwkAlg: string | undefined = alg): Promise<SigningKey> {
  const {privateKey, publicKey} = await generateKeyPair(alg, {extractable: true})
  const jwk: JWK = {...(await exportJWK(publicKey)), use: 'sig'}
  if (kid !== undefined) jwk.kid = kid
  if (jwkAlg !== undefined) jwk.alg = jwkAlg
  return {jwk, privateKey}
}

const sign = (key: SigningKey, header: Record<string, unknown> = {}) =>
  new SignJWT({aud: 'api', sub: 'alice'}).setProtectedHeader({alg: key.jwk.alg ?? 'RS256', ...(key.jwk.kid ? {kid: key.jwk.kid} : {}), ...header}).sign(key.privateKey)

const headerOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')) as Record<string, unknown>

describe("the signature check with the issuer's key set", function () {
  this.timeout(20_000)
  let rsa: SigningKey
  let rotated: SigningKey
  let ec: SigningKey
  let origin = ''
  const served: {body: string; status: number; headers: Record<string, string>} = {body: '', headers: {}, status: 200}
  const requests: IncomingHttpHeaders[] = []
  const server = createServer((req, res) => {
    requests.push(req.headers)
    res.writeHead(served.status, {'content-type': 'application/json', ...served.headers}).end(served.body)
  })
  const serve = (...keys: Array<JWK | SigningKey>) => {
    served.status = 200
    served.headers = {}
    served.body = JSON.stringify({keys: keys.map((key) => ('jwk' in key ? key.jwk : key))})
  }

  let home: string
  const savedHome = process.env.TOKENCTL_HOME
  let progress: Progress[]
  const http = (timeoutSeconds = 5, retries = 0) => httpContext({retries, timeoutSeconds}, {progress: (event) => progress.push(event)})
  const uri = () => new URL(`${origin}/keys`)
  const keysAt = (at = uri(), timeoutSeconds?: number) => ({load: () => loadJwks(at, http(timeoutSeconds))})
  const check = async (token: string, at?: URL) => checkSignature(token, headerOf(token), keysAt(at))

  before(async () => {
    ;[rsa, rotated, ec] = await Promise.all([newKey('RS256', 'k1'), newKey('RS256', 'k2'), newKey('ES256', 'e1')])
    origin = `http://127.0.0.1:${await listenOnLoopback(server)}`
  })
  after(async () => {
    await closeServer(server)
  })
  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'tokenctl-verify-keys-'))
    process.env.TOKENCTL_HOME = home
    requests.length = 0
    progress = []
    serve(rsa)
  })
  afterEach(() => {
    if (savedHome === undefined) delete process.env.TOKENCTL_HOME
    else process.env.TOKENCTL_HOME = savedHome
    rmSync(home, {force: true, recursive: true})
  })

  describe('refused by the header alone, before any key is fetched', () => {
    it('no alg, none in any case, HMAC in any case, an alg off the list', () => {
      assert.equal(refusedByHeader({alg: ''})?.detail, 'no alg in the header')
      assert.equal(refusedByHeader({alg: 7})?.detail, 'no alg in the header')
      assert.equal(refusedByHeader({alg: 'None'})?.detail, 'alg none: an unsigned token, which no web API accepts')
      assert.equal(
        refusedByHeader({alg: 'hs256'})?.detail,
        "alg hs256 is symmetric (HMAC): an issuer's tokens are verified with its public keys, and accepting HMAC keyed with a public key lets anyone forge tokens; refused",
      )
      assert.equal(refusedByHeader({alg: 'xHS256'})?.detail, `alg xHS256 is not allowed (allowed: ${ALLOWED_ALGORITHMS.join(' ')})`)
      assert.equal(refusedByHeader({alg: 'HS256x'})?.detail, `alg HS256x is not allowed (allowed: ${ALLOWED_ALGORITHMS.join(' ')})`)
      assert.equal(refusedByHeader({alg: 'rs256'})?.status, 'failed', 'the list is exact')
    })

    it("a Graph token's nonce, an unencoded payload; every allowed alg passes the header check", () => {
      assert.deepEqual(refusedByHeader({alg: 'RS256', nonce: 'n'}), {detail: GRAPH_TOKEN_EXPLANATION, name: 'signature', status: 'failed'})
      assert.equal(refusedByHeader({alg: 'RS256', b64: true}), undefined)
      assert.deepEqual(ALLOWED_ALGORITHMS, ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'])
      for (const alg of ALLOWED_ALGORITHMS) assert.equal(refusedByHeader({alg}), undefined, alg)
    })

    it('every refusal by the header is the signature line, failed', () => {
      for (const header of [{}, {alg: ''}, {alg: 'none'}, {alg: 'HS256'}, {alg: 'XS256'}, {alg: 'RS256', b64: false}]) {
        const check = refusedByHeader(header)
        assert.equal(check?.name, 'signature', JSON.stringify(header))
        assert.equal(check?.status, 'failed', JSON.stringify(header))
      }
    })

    it('nothing is fetched for a token refused by its header', async () => {
      const token = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`
      const result = await checkSignature(token, headerOf(token), {load: () => assert.fail('the keys were loaded')})
      assert.equal(result.status, 'failed')
    })
  })

  describe('what the signature line says', () => {
    it('passed: the alg, the key and where the key set came from', async () => {
      const token = await sign(rsa)
      assert.deepEqual(await check(token), {detail: `RS256, kid k1, from the JWKS at ${origin}/keys (fetched)`, name: 'signature', status: 'passed'})
      assert.deepEqual(await check(token), {detail: `RS256, kid k1, from the JWKS at ${origin}/keys (cache)`, name: 'signature', status: 'passed'})
      assert.equal(requests.length, 1)
    })

    it('a bad signature: the token was altered, or signed by someone else', async () => {
      const token = await sign(rsa)
      const [header, , signature] = token.split('.')
      const altered = `${header}.${Buffer.from('{"aud":"api","sub":"mallory"}').toString('base64url')}.${signature}`
      assert.deepEqual(await check(altered), {
        detail: `bad signature: RS256 with kid k1 from the JWKS at ${origin}/keys (fetched) does not verify — the token was altered, or signed by someone else`,
        name: 'signature',
        status: 'failed',
      })
    })

    it("no key with its kid: not this issuer's token, or a key it no longer publishes", async () => {
      const token = await sign(rotated)
      assert.equal((await check(token)).detail, `no key with kid k2 in the JWKS at ${origin}/keys (fetched): the token was not issued by this issuer, or signed with a key it no longer publishes`)
    })

    it('no kid and no key for its alg: said by the alg', async () => {
      const token = await sign({...ec, jwk: {...ec.jwk, kid: undefined}})
      assert.equal((await check(token)).detail, `no key with alg ES256 in the JWKS at ${origin}/keys (fetched): the token was not issued by this issuer, or signed with a key it no longer publishes`)
    })

    it("a key with the token's kid but for another alg: the header's alg does not fit the key", async () => {
      const pss = await newKey('PS256', 'k1')
      const token = await sign(pss)
      assert.equal((await check(token)).detail, `the key kid k1 in the JWKS at ${origin}/keys (fetched) is for alg RS256, not PS256: the header's alg does not fit the key`)
      serve({...ec.jwk, alg: undefined, kid: 'k1'})
      rmSync(home, {force: true, recursive: true})
      assert.equal((await check(token)).detail, `the key kid k1 in the JWKS at ${origin}/keys (fetched) is for kty EC, not PS256: the header's alg does not fit the key`)
    })

    it('several keys without kids: each is tried, the one that verifies passes; none verifying is a bad signature', async () => {
      const [first, second] = await Promise.all([newKey('RS256', undefined), newKey('RS256', undefined)])
      serve(first, second)
      const token = await sign(second)
      assert.deepEqual(await check(token), {detail: `RS256, no kid, from the JWKS at ${origin}/keys (fetched)`, name: 'signature', status: 'passed'})
      const stranger = await newKey('RS256', undefined)
      assert.equal(
        (await check(await sign(stranger))).detail,
        `bad signature: RS256 with no kid from the JWKS at ${origin}/keys (cache) does not verify — the token was altered, or signed by someone else`,
      )
    })

    it('a key jose will not use (an RSA modulus under 2048 bits): cannot verify, said as jose says it', async () => {
      const {privateKey, publicKey} = generateKeyPairSync('rsa', {modulusLength: 1024})
      serve({...(publicKey.export({format: 'jwk'}) as JWK), alg: 'RS256', kid: 'weak'})
      const input = `${Buffer.from('{"alg":"RS256","kid":"weak"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}`
      const token = `${input}.${createSign('sha256').update(input).sign(privateKey).toString('base64url')}`
      const result = await check(token)
      assert.equal(result.status, 'failed')
      assert.match(result.detail, /^cannot verify: .*2048/)
    })

    it('a key set that cannot be fetched is not a verdict: exit 6, said as the fetch failed', async () => {
      served.status = 404
      served.body = '{"error":"not_found"}'
      await assert.rejects(check(await sign(rsa)), {
        code: 'invalid_response',
        exitCode: ExitCode.network,
        message: `the JWKS at ${origin}/keys answered HTTP 404, not a key set`,
        suggestions: ["check the jwks_uri of the issuer's discovery document"],
      })
    })
  })

  describe('the key set: fetched through tokenctl, kept 24 h, fetched again for a rotated key', () => {
    it('asks for a JWK set, with progress, and caches it for the next run', async () => {
      const loaded = await loadJwks(uri(), http())
      assert.equal(loaded.origin(), 'cache', 'nothing fetched before a key is asked for')
      assert.deepEqual(loaded.jwks(), {keys: []})
      await loaded.getKey({alg: 'RS256', kid: 'k1'}, {payload: '', signature: ''})
      assert.equal(loaded.origin(), 'fetched')
      assert.deepEqual(loaded.jwks(), {keys: [rsa.jwk]})
      assert.equal(requests[0].accept, 'application/jwk-set+json, application/json')
      assert.deepEqual(progress, [{message: `fetching the signing keys from ${uri().host}`, state: 'request'}, {state: 'done'}])

      const next = await loadJwks(uri(), http())
      await next.getKey({alg: 'RS256', kid: 'k1'}, {payload: '', signature: ''})
      assert.equal(next.origin(), 'cache')
      assert.deepEqual(next.jwks(), {keys: [rsa.jwk]})
      assert.equal(requests.length, 1)
    })

    it('a kid the cached set does not hold: fetched again once, the new set cached', async () => {
      assert.equal((await check(await sign(rsa))).status, 'passed')
      serve(rotated)
      const token = await sign(rotated)
      assert.deepEqual(await check(token), {
        detail: `RS256, kid k2, from the JWKS at ${origin}/keys (fetched again: the key was not in the cached set)`,
        name: 'signature',
        status: 'passed',
      })
      assert.equal(requests.length, 2)
      assert.equal((await check(token)).detail, `RS256, kid k2, from the JWKS at ${origin}/keys (cache)`)
      assert.equal(requests.length, 2, 'the set fetched again was cached')
    })

    it('a kid still unknown after the fetch again: no key, and no third fetch', async () => {
      await check(await sign(rsa))
      const result = await check(await sign(rotated))
      assert.equal(
        result.detail,
        `no key with kid k2 in the JWKS at ${origin}/keys (fetched again: the key was not in the cached set): the token was not issued by this issuer, or signed with a key it no longer publishes`,
      )
      assert.equal(requests.length, 2)
    })

    it('a set fetched in this run is not fetched again for an unknown kid', async () => {
      const loaded = await loadJwks(uri(), http())
      await loaded.getKey({alg: 'RS256', kid: 'k1'}, {payload: '', signature: ''})
      await assert.rejects(loaded.getKey({alg: 'RS256', kid: 'k2'}, {payload: '', signature: ''}), {code: 'ERR_JWKS_NO_MATCHING_KEY'})
      assert.equal(requests.length, 1)
    })

    it('a cached set older than 24 h, for another URL, or not a key set, is fetched again', async () => {
      const file = documentPath('jwks', uri().href)
      const cached = (entry: Record<string, unknown>) => writeDocument(file, {fetchedAt: Date.now(), jwks: {keys: [rsa.jwk]}, uri: uri().href, ...entry})
      const fetchedAgain = async () => {
        requests.length = 0
        const loaded = await loadJwks(uri(), http())
        await loaded.getKey({alg: 'RS256', kid: 'k1'}, {payload: '', signature: ''})
        return [loaded.origin(), requests.length]
      }

      await cached({})
      assert.deepEqual(await fetchedAgain(), ['cache', 0])
      await cached({fetchedAt: Date.now() - DOCUMENT_TTL_MS - 1000})
      assert.deepEqual(await fetchedAgain(), ['fetched', 1])
      await cached({uri: `${origin}/other-keys`})
      assert.deepEqual(await fetchedAgain(), ['fetched', 1])
      await cached({jwks: {keys: [{kid: 'k1'}]}})
      assert.deepEqual(await fetchedAgain(), ['fetched', 1])
    })

    it('a cache that cannot be written only costs a fetch next time', async () => {
      mkdirSync(documentPath('jwks', uri().href), {recursive: true}) // a folder where the cached set would go
      assert.equal((await check(await sign(rsa))).status, 'passed')
      assert.equal((await check(await sign(rsa))).status, 'passed')
      assert.equal(requests.length, 2)
    })

    it('only a JWK set is a key set', () => {
      assert.ok(isJwkSet({keys: []}))
      assert.ok(isJwkSet({keys: [{kty: 'RSA'}, {kty: 'EC', extra: 1}]}))
      for (const value of [null, 'keys', 5, {}, {keys: {}}, {keys: [null]}, {keys: ['RSA']}, {keys: [{kty: 1}]}, {keys: [{kty: 'RSA'}, {}]}]) {
        assert.ok(!isJwkSet(value), JSON.stringify(value))
      }
    })
  })

  describe('a key set that cannot be had: exit 6, with what to check', () => {
    const failure = (promise: Promise<unknown>) =>
      promise.then(
        () => assert.fail('no failure'),
        (error: unknown) => error as Error & {code: string; exitCode: number; retryable: boolean; suggestions: string[]},
      )
    const getKey = async (timeoutSeconds?: number, at = uri()) => (await keysAt(at, timeoutSeconds).load()).getKey({alg: 'RS256', kid: 'k1'}, {payload: '', signature: ''})

    it('5xx and 429: retried as the document policy says, then unavailable', async () => {
      for (const status of [503, 429]) {
        requests.length = 0
        Object.assign(served, {body: '', headers: {'retry-after': '0'}, status})
        const error = await failure((await loadJwks(uri(), http(5, 1))).getKey({alg: 'RS256', kid: 'k1'}, {payload: '', signature: ''}))
        assert.equal(error.exitCode, ExitCode.network)
        assert.equal(error.message, `the JWKS at ${origin}/keys is unavailable (HTTP ${status})`)
        assert.equal(requests.length, 2, 'one retry')
      }
    })

    it('a redirect is not followed: the key set must be at the URL the issuer named', async () => {
      Object.assign(served, {body: '', headers: {location: `${origin}/elsewhere`}, status: 302})
      const error = await failure(getKey())
      assert.equal(error.message, `the JWKS at ${origin}/keys answered HTTP 302, not a key set`)
      assert.equal(requests.length, 1)
    })

    it('not JSON, or JSON that is not a key set', async () => {
      for (const body of ['<html>', '{"keys":"none"}', '[]']) {
        Object.assign(served, {body, headers: {}, status: 200})
        const error = await failure(getKey())
        assert.equal(error.code, 'invalid_response', body)
        assert.equal(error.message, `the JWKS at ${origin}/keys is not a JSON Web Key Set ({"keys":[…]})`)
      }
    })

    it('a server that cannot be reached, or never answers: said naming where its URL came from', async () => {
      const port = await closedLoopbackPort()
      const refused = await failure(getKey(5, new URL(`http://127.0.0.1:${port}/keys`)))
      assert.equal(refused.exitCode, ExitCode.network)
      assert.ok(
        refused.suggestions.some((suggestion) => suggestion.includes("the jwks_uri of the issuer's discovery document")),
        refused.suggestions.join('; '),
      )
      const hanging = createServer(() => {})
      const hangingPort = await listenOnLoopback(hanging)
      try {
        const started = Date.now()
        const error = await failure(getKey(1, new URL(`http://127.0.0.1:${hangingPort}/keys`)))
        assert.equal(error.exitCode, ExitCode.network)
        assert.ok(Date.now() - started < 10_000, 'the timeout given')
        assert.deepEqual(progress.at(-1), {state: 'done'}, 'the progress line is closed on a failure too')
      } finally {
        await closeServer(hanging)
      }
    })
  })
})
