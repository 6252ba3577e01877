/**
 * DPoP on tokenctl's side, in one process: the keys (src/lib/oauth/dpop-keys.ts: where each lives,
 * made once, read back, their thumbprints), the nonces remembered across runs
 * (src/lib/http/dpop-nonces.ts), the proofs openid-client's handle makes (src/lib/oauth/dpop.ts),
 * checked with the checker an API uses (src/lib/verify/binding.ts), and `--format header --url`
 * (src/lib/oauth/token-header.ts).
 */
import {strict as assert} from 'node:assert'
import {generateKeyPairSync} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {calculateJwkThumbprint, decodeJwt, decodeProtectedHeader} from 'jose'

import {ConfigError, UsageError} from '../../src/lib/errors.js'
import {dpopNonceBook, MAX_REMEMBERED, NONCE_MAX_AGE_SECONDS, nonceBookFile} from '../../src/lib/http/dpop-nonces.js'
import {resourceProver, tokenEndpointDpop} from '../../src/lib/oauth/dpop.js'
import {
  clientDpopKeyEntry,
  connectionDpopKeyEntry,
  dpopAlgorithm,
  dpopKeyMaterial,
  dpopThumbprint,
  generateDpopKey,
  publicDpopJwk,
  readDpopKeyFile,
  resourceProverFor,
} from '../../src/lib/oauth/dpop-keys.js'
import {assertProofRequestFor, presentToken, proofRequestOf} from '../../src/lib/oauth/token-header.js'
import type {AccessToken} from '../../src/lib/oauth/token.js'
import type {SecretStore} from '../../src/lib/store/types.js'
import {accessTokenHash, checkDpopProof} from '../../src/lib/verify/binding.js'

class MemoryStore implements SecretStore {
  readonly backend = 'file' as const
  readonly location = 'memory'
  readonly entries = new Map<string, string>()
  locks = 0
  async check(): Promise<void> {}
  async delete(name: string): Promise<boolean> {
    return this.entries.delete(name)
  }

  async get(name: string): Promise<string | undefined> {
    return this.entries.get(name)
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.entries.keys()].filter((name) => name.startsWith(prefix))
  }

  async set(name: string, value: string): Promise<void> {
    this.entries.set(name, value)
  }

  async update(): Promise<string | undefined> {
    throw new Error('not used')
  }

  private queue: Promise<unknown> = Promise.resolve()
  async withLock<T>(_name: string, fn: () => Promise<T>): Promise<T> {
    this.locks++
    const run = this.queue.then(fn)
    this.queue = run.catch(() => {})
    return run
  }
}

const noStore = async (): Promise<SecretStore> => {
  throw new Error('the store must not be opened')
}

let directory: string
const file = (name: string, content: string | Buffer) => {
  const path = join(directory, name)
  writeFileSync(path, content)
  return path
}

const ecPem = () => generateKeyPairSync('ec', {namedCurve: 'P-256'}).privateKey.export({format: 'pem', type: 'pkcs8'}) as string

describe('DPoP keys, nonces, proofs and headers', () => {
  before(() => {
    directory = mkdtempSync(join(tmpdir(), 'tokenctl-dpop-unit-'))
  })

  after(() => rmSync(directory, {force: true, recursive: true}))

  describe('keys', () => {
    it('the algorithm: the JWK\'s own, else by curve or type', () => {
      assert.equal(dpopAlgorithm({alg: 'PS384', kty: 'RSA'}), 'PS384')
      assert.equal(dpopAlgorithm({crv: 'P-256', kty: 'EC'}), 'ES256')
      assert.equal(dpopAlgorithm({crv: 'P-384', kty: 'EC'}), 'ES384')
      assert.equal(dpopAlgorithm({crv: 'P-521', kty: 'EC'}), 'ES512')
      assert.equal(dpopAlgorithm({crv: 'secp256k1', kty: 'EC'}), 'ES256')
      assert.equal(dpopAlgorithm({kty: 'EC'}), 'ES256')
      assert.equal(dpopAlgorithm({crv: 'Ed25519', kty: 'OKP'}), 'EdDSA')
      assert.equal(dpopAlgorithm({kty: 'RSA'}), 'RS256')
    })

    it('the public JWK keeps exactly the public members of each type', () => {
      assert.deepEqual(publicDpopJwk({alg: 'ES256', crv: 'P-256', d: 'secret', kid: 'k', kty: 'EC', x: 'X', y: 'Y'}), {crv: 'P-256', kty: 'EC', x: 'X', y: 'Y'})
      assert.deepEqual(publicDpopJwk({d: 's', dp: 's', dq: 's', e: 'AQAB', kty: 'RSA', n: 'N', p: 's', q: 's', qi: 's'}), {e: 'AQAB', kty: 'RSA', n: 'N'})
      assert.deepEqual(publicDpopJwk({crv: 'Ed25519', d: 's', kty: 'OKP', x: 'X'}), {crv: 'Ed25519', kty: 'OKP', x: 'X'})
    })

    it('a generated key: ES256 with its private part, its jkt the RFC 7638 thumbprint of the public part', async () => {
      const material = await generateDpopKey()
      assert.equal(material.jwk.alg, 'ES256')
      assert.equal(material.jwk.crv, 'P-256')
      assert.equal(typeof material.jwk.d, 'string')
      assert.equal(material.jkt, await calculateJwkThumbprint(publicDpopJwk(material.jwk)))
      assert.notEqual((await generateDpopKey()).jkt, material.jkt)
    })

    it('--dpop-key-file: PEM PKCS#8 (EC, Ed25519, RSA) or a private JWK, whose alg is kept', async () => {
      const ec = await readDpopKeyFile(file('ec.pem', ecPem()))
      assert.equal(ec.jwk.alg, 'ES256')
      assert.equal(ec.jkt, await calculateJwkThumbprint(publicDpopJwk(ec.jwk)))
      const ed = await readDpopKeyFile(file('ed.pem', generateKeyPairSync('ed25519').privateKey.export({format: 'pem', type: 'pkcs8'})))
      assert.equal(ed.jwk.alg, 'EdDSA')
      const rsa = await readDpopKeyFile(file('rsa.pem', generateKeyPairSync('rsa', {modulusLength: 2048}).privateKey.export({format: 'pem', type: 'pkcs8'})))
      assert.equal(rsa.jwk.alg, 'RS256')
      const jwk = {...generateKeyPairSync('ec', {namedCurve: 'P-384'}).privateKey.export({format: 'jwk'}), alg: 'ES384'}
      const fromJwk = await readDpopKeyFile(file('key.jwk', JSON.stringify(jwk)))
      assert.equal(fromJwk.jwk.alg, 'ES384')
      assert.equal(fromJwk.jwk.d, jwk.d)
      assert.equal(fromJwk.jkt, await calculateJwkThumbprint({crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y}))
    })

    it('--dpop-key-file: a public JWK, a symmetric key or no key at all is exit 3, the file named', async () => {
      const {d: _private, ...publicOnly} = generateKeyPairSync('ec', {namedCurve: 'P-256'}).privateKey.export({format: 'jwk'})
      for (const [name, content, why] of [
        ['public.jwk', JSON.stringify(publicOnly), /is not a private key \(PEM or JWK\)/],
        ['garbage.pem', 'not a key at all', /is not a private key \(PEM or JWK\)/],
        ['oct.jwk', JSON.stringify({d: 'x', k: 'c2VjcmV0', kty: 'oct'}), /not a private key|asymmetric/],
      ] as const) {
        const path = file(name, content)
        await assert.rejects(readDpopKeyFile(path), (error: unknown) => error instanceof ConfigError && why.test(error.message) && error.message.includes(path))
      }
    })

    it('where each key is: none, a file, a session\'s own copy (no store), a named client\'s store entry', async () => {
      const store = new MemoryStore()
      const open = async () => store
      const owner = {clientId: 'c', server: 'https://idp/token'}
      assert.equal(await dpopKeyMaterial(owner, noStore), undefined)
      const fromFile = await dpopKeyMaterial({...owner, dpop: {kind: 'file', path: file('k.pem', ecPem())}}, noStore)
      assert.equal(fromFile!.jwk.alg, 'ES256')
      const kept = await generateDpopKey()
      assert.equal(await dpopKeyMaterial({...owner, dpop: {kind: 'kept', material: kept, session: 's'}}, noStore), kept)
      store.entries.set(clientDpopKeyEntry('ci'), JSON.stringify(kept))
      assert.deepEqual(await dpopKeyMaterial({...owner, dpop: {jkt: kept.jkt, kind: 'named_client', name: 'ci'}}, open), kept)
      await assert.rejects(dpopKeyMaterial({...owner, dpop: {kind: 'named_client', name: 'gone'}}, open), (error: unknown) =>
        error instanceof ConfigError && error.code === 'no_secret' && /client "gone"/.test(error.message) && error.suggestions[0].includes('tokenctl client add gone --replace'),
      )
      store.entries.set(clientDpopKeyEntry('broken'), '{"jkt":"x","jwk":{}}')
      await assert.rejects(dpopKeyMaterial({...owner, dpop: {kind: 'named_client', name: 'broken'}}, open), /the DPoP key of client "broken" in the secure store is unreadable/)
      store.entries.set(clientDpopKeyEntry('notjson'), 'nope')
      await assert.rejects(dpopKeyMaterial({...owner, dpop: {kind: 'named_client', name: 'notjson'}}, open), /unreadable/)
    })

    it('a connection\'s key is made once, under the lock, in its entry: the next run (or a concurrent one) gets the same', async () => {
      const store = new MemoryStore()
      const open = async () => store
      const owner = {clientId: 'c', dpop: {kind: 'connection' as const}, server: 'https://idp/token'}
      const [one, two] = await Promise.all([dpopKeyMaterial(owner, open), dpopKeyMaterial(owner, open)])
      assert.deepEqual(one, two)
      assert.deepEqual([...store.entries.keys()], [connectionDpopKeyEntry('https://idp/token', 'c')])
      assert.deepEqual(JSON.parse(store.entries.get(connectionDpopKeyEntry('https://idp/token', 'c'))!), one)
      assert.deepEqual(await dpopKeyMaterial(owner, open), one)
      const other = await dpopKeyMaterial({...owner, clientId: 'd'}, open)
      assert.notEqual(other!.jkt, one!.jkt, 'another client id, another key')
      assert.equal(store.entries.size, 2)
      store.entries.set(connectionDpopKeyEntry('https://idp/token', 'e'), 'garbage')
      await assert.rejects(dpopKeyMaterial({...owner, clientId: 'e'}, open), /client id e/)
    })

    it('connection entries: one per server and client id, never naming either', () => {
      const entry = connectionDpopKeyEntry('https://idp/token', 'c')
      assert.match(entry, /^dpop-key:connection:[\da-f]{64}$/)
      assert.equal(entry, connectionDpopKeyEntry('https://idp/token', 'c'))
      assert.notEqual(entry, connectionDpopKeyEntry('https://idp/token2', 'c'))
      assert.notEqual(entry, connectionDpopKeyEntry('https://idp/token', 'c2'))
      assert.notEqual(connectionDpopKeyEntry('a', 'bc'), connectionDpopKeyEntry('ab', 'c'))
      assert.equal(clientDpopKeyEntry('ci'), 'dpop-key:client:ci')
    })

    it('the thumbprint for the cache key: a named client\'s and a session\'s without opening the store', async () => {
      const kept = await generateDpopKey()
      const owner = {clientId: 'c', server: 's'}
      assert.equal(await dpopThumbprint({...owner, dpop: {jkt: 'from-config', kind: 'named_client', name: 'ci'}}, noStore), 'from-config')
      assert.equal(await dpopThumbprint({...owner, dpop: {kind: 'kept', material: kept, session: 'x'}}, noStore), kept.jkt)
      assert.equal(await dpopThumbprint(owner, noStore), undefined)
      const store = new MemoryStore()
      store.entries.set(clientDpopKeyEntry('old'), JSON.stringify(kept))
      assert.equal(await dpopThumbprint({...owner, dpop: {kind: 'named_client', name: 'old'}}, async () => store), kept.jkt, 'without a jkt in config: read')
      const generated = await dpopThumbprint({...owner, dpop: {kind: 'connection'}}, async () => store)
      assert.equal(generated, JSON.parse(store.entries.get(connectionDpopKeyEntry('s', 'c'))!).jkt)
    })

    it('a prover needs a key: none is exit 3', async () => {
      await assert.rejects(resourceProverFor({clientId: 'c', server: 's'}, noStore), (error: unknown) => error instanceof ConfigError && /not fetched with --dpop/.test(error.message))
    })
  })

  describe('the nonces remembered across runs', () => {
    let home: string
    let previous: string | undefined
    beforeEach(() => {
      previous = process.env.TOKENCTL_HOME
      home = mkdtempSync(join(directory, 'home-'))
      process.env.TOKENCTL_HOME = home
    })
    afterEach(() => {
      if (previous === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = previous
    })

    it('per role and origin, in a 0600 file, read by the next run', async () => {
      let now = 1000
      const book = dpopNonceBook(() => now)
      assert.equal(book.get('token', 'https://idp.example/token'), undefined)
      await book.note('token', 'https://idp.example/token?x=1', 'n-1')
      await book.note('api', 'https://idp.example/api/echo', 'a-1')
      assert.equal(book.get('token', 'https://idp.example/other'), 'n-1', 'per origin')
      assert.equal(book.get('api', 'https://idp.example/x'), 'a-1', 'per role')
      assert.equal(book.get('token', 'https://idp.example:8443/token'), undefined, 'the port is the origin\'s')
      assert.equal(statSync(nonceBookFile()).mode & 0o777, 0o600)
      const next = dpopNonceBook(() => now)
      assert.equal(next.get('token', 'https://idp.example/token'), 'n-1')
      now += NONCE_MAX_AGE_SECONDS
      assert.equal(next.get('token', 'https://idp.example/token'), 'n-1', 'an hour old: still sent')
      now += 1
      assert.equal(next.get('token', 'https://idp.example/token'), undefined, 'older: not sent')
      now = 999
      assert.equal(next.get('token', 'https://idp.example/token'), undefined, 'from the future: not sent')
    })

    it('keeps only what a nonce can be, and rewrites the file only for a new one', async () => {
      const book = dpopNonceBook(() => 5)
      for (const bad of [null, undefined, '', 'has space', 'x'.repeat(1025), 'line\nbreak']) await book.note('token', 'https://a.example', bad)
      assert.throws(() => readFileSync(nonceBookFile()), /ENOENT/)
      await book.note('token', 'https://a.example', 'good-nonce_1.2~+/==')
      const written = statSync(nonceBookFile()).mtimeMs
      await new Promise((resolve) => setTimeout(resolve, 20))
      await book.note('token', 'https://a.example', 'good-nonce_1.2~+/==')
      assert.equal(statSync(nonceBookFile()).mtimeMs, written)
      assert.equal(book.get('token', 'https://a.example'), 'good-nonce_1.2~+/==')
    })

    it('an unreadable or hand-edited file is a book without nonces, never a failure', async () => {
      writeFileSync(nonceBookFile(), '[1,2]')
      assert.equal(dpopNonceBook().get('token', 'https://a.example'), undefined)
      writeFileSync(nonceBookFile(), '{not json')
      assert.equal(dpopNonceBook().get('token', 'https://a.example'), undefined)
      writeFileSync(nonceBookFile(), JSON.stringify({'token https://a.example': {at: 'x', nonce: 'n'}, 'token https://b.example': {at: 1, nonce: 'bad nonce'}}))
      const book = dpopNonceBook(() => 2)
      assert.equal(book.get('token', 'https://a.example'), undefined)
      assert.equal(book.get('token', 'https://b.example'), undefined)
      await book.note('token', 'https://c.example', 'n')
      assert.deepEqual(Object.keys(JSON.parse(readFileSync(nonceBookFile(), 'utf8'))), ['token https://c.example', 'token https://b.example'])
    })

    it('keeps the most recent servers, at most MAX_REMEMBERED', async () => {
      let now = 0
      const book = dpopNonceBook(() => ++now)
      for (let index = 0; index < MAX_REMEMBERED + 5; index++) await book.note('api', `https://h${index}.example`, `n${index}`)
      const kept = Object.keys(JSON.parse(readFileSync(nonceBookFile(), 'utf8')))
      assert.equal(kept.length, MAX_REMEMBERED)
      assert.equal(kept[0], `api https://h${MAX_REMEMBERED + 4}.example`, 'the newest first')
      assert.ok(!kept.includes('api https://h4.example') && kept.includes('api https://h5.example'))
    })
  })

  describe('proofs', () => {
    let home: string
    let previous: string | undefined
    before(() => {
      previous = process.env.TOKENCTL_HOME
      home = mkdtempSync(join(directory, 'proofs-'))
      process.env.TOKENCTL_HOME = home
    })
    after(() => {
      if (previous === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = previous
    })

    it('for an API: a fresh proof per request with htm, htu without query, ath, the API\'s nonce; checked as an API checks it', async () => {
      const material = await generateDpopKey()
      const book = dpopNonceBook()
      const prover = await resourceProver(material, book)
      assert.equal(prover.jkt, material.jkt)
      const url = new URL('https://api.example/things/1?page=2#top')
      const first = await prover.proof('get', url, 'the-token')
      const header = decodeProtectedHeader(first)
      assert.equal(header.typ, 'dpop+jwt')
      assert.equal(header.alg, 'ES256')
      assert.deepEqual(header.jwk, publicDpopJwk(material.jwk))
      const claims = decodeJwt(first)
      assert.equal(claims.htm, 'GET')
      assert.equal(claims.htu, 'https://api.example/things/1')
      assert.equal(claims.ath, accessTokenHash('the-token'))
      assert.equal(claims.nonce, undefined)
      const verdict = await checkDpopProof(first, {accessToken: 'the-token', jkt: material.jkt, method: 'GET', now: Math.floor(Date.now() / 1000), skewSeconds: 60, url})
      assert.ok('proof' in verdict, JSON.stringify(verdict))

      await prover.noteNonce(url, 'api-nonce')
      const second = decodeJwt(await prover.proof('POST', url, 'the-token'))
      assert.equal(second.nonce, 'api-nonce')
      assert.notEqual(second.jti, claims.jti)
      assert.equal(book.get('token', url), undefined, 'an API\'s nonce is not the authorization server\'s')
    })

    it('for a token endpoint: openid-client\'s handle, the remembered nonce put in, an RSA key signing with what the server lists', async () => {
      const client = await import('openid-client')
      const config = new client.Configuration({issuer: 'https://idp.example', token_endpoint: 'https://idp.example/token'}, 'c')
      const book = dpopNonceBook()
      await book.note('token', 'https://idp.example/token', 'as-nonce')
      const made: string[] = []
      config[client.customFetch] = async (_url, init) => {
        made.push(new Headers(init.headers).get('dpop')!)
        return new Response(JSON.stringify({access_token: 't', token_type: 'DPoP'}), {headers: {'content-type': 'application/json'}})
      }

      const material = await generateDpopKey()
      const dpop = await tokenEndpointDpop(config, material, book, {issuer: 'https://idp.example'})
      assert.equal(dpop.jkt, material.jkt)
      await client.clientCredentialsGrant(config, {}, {DPoP: dpop.handle})
      assert.equal(decodeJwt(made[0]).nonce, 'as-nonce')
      assert.equal(decodeJwt(made[0]).htu, 'https://idp.example/token')

      const rsa = await readDpopKeyFile(file('rsa2.pem', generateKeyPairSync('rsa', {modulusLength: 2048}).privateKey.export({format: 'pem', type: 'pkcs8'})))
      const listed = await tokenEndpointDpop(config, rsa, book, {dpop_signing_alg_values_supported: ['ES256', 'PS256'], issuer: 'https://idp.example'})
      await client.clientCredentialsGrant(config, {}, {DPoP: listed.handle})
      assert.equal(decodeProtectedHeader(made[1]).alg, 'PS256')
      const unlisted = await tokenEndpointDpop(config, rsa, book, {dpop_signing_alg_values_supported: ['ES256'], issuer: 'https://idp.example'})
      await client.clientCredentialsGrant(config, {}, {DPoP: unlisted.handle})
      assert.equal(decodeProtectedHeader(made[2]).alg, 'RS256', 'none listed fits: the key\'s own')
      const ecListed = await tokenEndpointDpop(config, material, book, {dpop_signing_alg_values_supported: ['PS256'], issuer: 'https://idp.example'})
      await client.clientCredentialsGrant(config, {}, {DPoP: ecListed.handle})
      assert.equal(decodeProtectedHeader(made[3]).alg, 'ES256', 'an EC key signs with its curve\'s')
    })
  })

  describe('--format header --url', () => {
    const bound: AccessToken = {access_token: 'tok', dpop_jkt: 'j', token_type: 'DPoP'}
    const bearer: AccessToken = {access_token: 'tok', token_type: 'Bearer'}
    const prover = (proofs: string[]) => async () => ({jkt: 'j', noteNonce: async () => {}, async proof(method: string, url: URL, token: string) {
      proofs.push(`${method} ${url.href} ${token}`)
      return 'the-proof'
    }})

    it('--url and --method: with --format header only, an absolute http(s) URL, a method token (GET by default)', () => {
      assert.equal(proofRequestOf({format: 'header'}), undefined)
      assert.deepEqual(proofRequestOf({format: 'header', url: 'https://api.example/x?y=1'}), {method: 'GET', url: new URL('https://api.example/x?y=1')})
      assert.equal(proofRequestOf({format: 'header', method: 'patch', url: 'http://127.0.0.1/x'})!.method, 'PATCH')
      assert.throws(() => proofRequestOf({format: 'token', url: 'https://api.example'}), (error: unknown) => error instanceof UsageError && /--url goes with --format header/.test(error.message))
      for (const url of ['not a url', 'ftp://api.example/x', '/relative']) {
        assert.throws(() => proofRequestOf({format: 'header', url}), (error: unknown) => error instanceof UsageError && /--url must be an absolute http\(s\) URL/.test(error.message))
      }

      assert.throws(() => proofRequestOf({format: 'header', method: 'GET /x HTTP/1.1', url: 'https://a.example'}), /--method takes an HTTP method/)
    })

    it('a DPoP-bound token needs --url with --format header (exit 2), other formats do not', () => {
      assert.throws(() => assertProofRequestFor('header', undefined), (error: unknown) => error instanceof UsageError && /--format header needs --url URL/.test(error.message))
      assertProofRequestFor('header', {method: 'GET', url: new URL('https://a.example')})
      for (const format of ['token', 'env', 'exec-credential']) assertProofRequestFor(format, undefined)
    })

    it('the two lines for a bound token, the proof made for the request; one line and no proof otherwise', async () => {
      const proofs: string[] = []
      const request = {method: 'POST', url: new URL('https://api.example/x')}
      assert.equal(await presentToken(bound, 'header', request, prover(proofs)), 'Authorization: DPoP tok\nDPoP: the-proof')
      assert.deepEqual(proofs, ['POST https://api.example/x tok'])
      assert.equal(await presentToken(bearer, 'header', request, prover(proofs)), 'Authorization: Bearer tok')
      assert.equal(await presentToken(bound, 'token', undefined, prover(proofs)), 'tok')
      assert.equal(await presentToken(bound, 'env', undefined, prover(proofs)), 'ACCESS_TOKEN=tok')
      assert.equal(proofs.length, 1, 'no proof for anything else')
      await assert.rejects(presentToken(bound, 'header', undefined, prover(proofs)), UsageError)
    })
  })
})
