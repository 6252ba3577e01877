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
import {resourceProver, resourceProverFor, tokenEndpointDpop} from '../../src/lib/oauth/dpop.js'
import {clientDpopKeyEntry, connectionDpopKeyEntry, dpopAlgorithm, dpopKeyMaterial, dpopThumbprint, generateDpopKey, publicDpopJwk, readDpopKeyFile} from '../../src/lib/oauth/dpop-keys.js'
import {assertDpopFormat, boundTokenRefused, dpopGivenOf, presentToken, proofRequestOf} from '../../src/lib/oauth/token-header.js'
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
    it("the algorithm: the JWK's own, else by curve or type", () => {
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
      const p521 = await readDpopKeyFile(file('p521.pem', generateKeyPairSync('ec', {namedCurve: 'P-521'}).privateKey.export({format: 'pem', type: 'pkcs8'})))
      assert.equal(p521.jwk.alg, 'ES512')
      const ed = await readDpopKeyFile(file('ed.pem', generateKeyPairSync('ed25519').privateKey.export({format: 'pem', type: 'pkcs8'})))
      assert.equal(ed.jwk.alg, 'EdDSA')
      const rsa = await readDpopKeyFile(file('rsa.pem', generateKeyPairSync('rsa', {modulusLength: 2048}).privateKey.export({format: 'pem', type: 'pkcs8'})))
      assert.equal(rsa.jwk.alg, 'RS256')
      const jwk = {...generateKeyPairSync('ec', {namedCurve: 'P-384'}).privateKey.export({format: 'jwk'}), alg: 'ES384'}
      const fromJwk = await readDpopKeyFile(file('key.jwk', `\n  ${JSON.stringify(jwk)}\n`))
      assert.equal(fromJwk.jwk.alg, 'ES384')
      assert.equal(fromJwk.jwk.d, jwk.d)
      assert.equal(fromJwk.jkt, await calculateJwkThumbprint({crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y}))
      const pss = await readDpopKeyFile(file('pss.jwk', JSON.stringify({...generateKeyPairSync('rsa', {modulusLength: 2048}).privateKey.export({format: 'jwk'}), alg: 'PS256'})))
      assert.equal(pss.jwk.alg, 'PS256', "a JWK's alg wins over the default for its key")
    })

    it('--dpop-key-file: a public JWK, a symmetric key or no key at all is exit 3, the file named', async () => {
      const {d: _private, ...publicOnly} = generateKeyPairSync('ec', {namedCurve: 'P-256'}).privateKey.export({format: 'jwk'})
      for (const [name, content] of [
        ['public.jwk', JSON.stringify(publicOnly)],
        ['garbage.pem', 'not a key at all'],
        ['oct.jwk', JSON.stringify({d: 'x', k: 'c2VjcmV0', kty: 'oct'})],
      ] as const) {
        const path = file(name, content)
        await assert.rejects(readDpopKeyFile(path), (error: unknown) => {
          assert.ok(error instanceof ConfigError)
          assert.equal(error.message, `${path} is not a private key (PEM or JWK)`)
          assert.equal(error.code, 'config_error')
          assert.deepEqual(error.suggestions, ['pass an EC (P-256), Ed25519 or RSA private key: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dpop.pem'])
          return true
        })
      }

      const x25519 = file('x25519.pem', generateKeyPairSync('x25519').privateKey.export({format: 'pem', type: 'pkcs8'}))
      await assert.rejects(readDpopKeyFile(x25519), (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.equal(error.message, `${x25519} holds a OKP X25519 key, which cannot sign a DPoP proof`)
        assert.deepEqual(error.suggestions, ['pass an EC (P-256, P-384, P-521), Ed25519 or RSA private key'])
        return true
      })
      const secp = file('secp.pem', generateKeyPairSync('ec', {namedCurve: 'secp256k1'}).privateKey.export({format: 'pem', type: 'pkcs8'}))
      await assert.rejects(readDpopKeyFile(secp), /holds a EC secp256k1 key, which cannot sign a DPoP proof/)
      await assert.rejects(readDpopKeyFile(join(directory, 'missing.pem')), /the DPoP key file .*missing\.pem/)
    })

    it("where each key is: none, a file, a session's own copy (no store), a named client's store entry", async () => {
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
      await assert.rejects(
        dpopKeyMaterial({...owner, dpop: {kind: 'named_client', name: 'gone'}}, open),
        (error: unknown) => error instanceof ConfigError && error.code === 'no_secret' && /client "gone"/.test(error.message) && error.suggestions[0].includes('tokenctl client add gone --replace'),
      )
      for (const broken of ['{"jkt":"x","jwk":{}}', '{"jwk":{"d":"x"}}', '{"jkt":"x"}', 'null', 'nope']) {
        store.entries.set(clientDpopKeyEntry('broken'), broken)
        await assert.rejects(dpopKeyMaterial({...owner, dpop: {kind: 'named_client', name: 'broken'}}, open), (error: unknown) => {
          assert.ok(error instanceof ConfigError, broken)
          assert.equal(error.message, 'the DPoP key of client "broken" in the secure store is unreadable')
          assert.equal(error.code, 'config_error')
          assert.deepEqual(error.suggestions, ['remove it and let tokenctl make a new one (tokens bound to the old key are fetched again)'])
          return true
        })
      }
    })

    it("a connection's key is made once, under the lock, in its entry: the next run (or a concurrent one) gets the same", async () => {
      const store = new MemoryStore()
      const open = async () => store
      const owner = {clientId: 'c', dpop: {kind: 'connection' as const}, server: 'https://idp/token'}
      const [one, two] = await Promise.all([dpopKeyMaterial(owner, open), dpopKeyMaterial(owner, open)])
      assert.deepEqual(one, two)
      assert.deepEqual([...store.entries.keys()], [connectionDpopKeyEntry('https://idp/token', 'c')])
      assert.deepEqual(JSON.parse(store.entries.get(connectionDpopKeyEntry('https://idp/token', 'c'))!), one)
      const locks = store.locks
      assert.deepEqual(await dpopKeyMaterial(owner, open), one)
      assert.equal(store.locks, locks, 'a key already made is read without the lock')
      const other = await dpopKeyMaterial({...owner, clientId: 'd'}, open)
      assert.notEqual(other!.jkt, one!.jkt, 'another client id, another key')
      assert.equal(store.entries.size, 2)
      store.entries.set(connectionDpopKeyEntry('https://idp/token', 'e'), 'garbage')
      await assert.rejects(dpopKeyMaterial({...owner, clientId: 'e'}, open), /^ConfigError: the DPoP key of client id e in the secure store is unreadable$/)
      // Made by someone else while this run waited for the lock: theirs is used.
      const racing = new MemoryStore()
      const theirs = await generateDpopKey()
      const entry = connectionDpopKeyEntry('https://idp/token', 'f')
      let reads = 0
      racing.get = async (name: string) => (name === entry && reads++ === 0 ? undefined : racing.entries.get(name))
      racing.entries.set(entry, JSON.stringify(theirs))
      assert.deepEqual(await dpopKeyMaterial({...owner, clientId: 'f'}, async () => racing), theirs)
      racing.entries.set(entry, 'garbage')
      reads = 0
      await assert.rejects(
        dpopKeyMaterial({...owner, clientId: 'f'}, async () => racing),
        /^ConfigError: the DPoP key of client id f in the secure store is unreadable$/,
      )
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

    it("the thumbprint for the cache key: a named client's and a session's without opening the store", async () => {
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

    it('a prover needs a key: none is exit 3; with one it proves with it', async () => {
      await assert.rejects(
        resourceProverFor({clientId: 'c', server: 's'}, noStore),
        (error: unknown) => error instanceof ConfigError && error.message === 'no DPoP key: the token was not fetched with --dpop',
      )
      const kept = await generateDpopKey()
      const previous = process.env.TOKENCTL_HOME
      process.env.TOKENCTL_HOME = mkdtempSync(join(directory, 'prover-'))
      try {
        const prover = await resourceProverFor({clientId: 'c', dpop: {kind: 'kept', material: kept, session: 's'}, server: 's'}, noStore)
        assert.equal(prover.jkt, kept.jkt)
        assert.equal(await calculateJwkThumbprint(decodeProtectedHeader(await prover.proof('GET', new URL('https://a.example'), 't')).jwk!), kept.jkt)
      } finally {
        if (previous === undefined) delete process.env.TOKENCTL_HOME
        else process.env.TOKENCTL_HOME = previous
      }
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
      assert.equal(book.get('token', 'https://idp.example:8443/token'), undefined, "the port is the origin's")
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

    it("a server's newer nonce replaces its older one, in this run and the next", async () => {
      writeFileSync(nonceBookFile(), JSON.stringify({'token https://z.example': null}))
      const book = dpopNonceBook(() => 10)
      await book.note('token', 'https://a.example', 'first')
      await book.note('token', 'https://a.example', 'second')
      assert.equal(book.get('token', 'https://a.example'), 'second')
      assert.equal(dpopNonceBook(() => 10).get('token', 'https://a.example'), 'second')
      assert.deepEqual(Object.keys(JSON.parse(readFileSync(nonceBookFile(), 'utf8'))), ['token https://a.example'])
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
      for (const content of ['[1,2]', 'null', '"text"', '7']) {
        writeFileSync(nonceBookFile(), content)
        assert.equal(dpopNonceBook().get('token', 'https://a.example'), undefined, content)
        await dpopNonceBook(() => 3).note('token', 'https://a.example', 'n')
        assert.deepEqual(JSON.parse(readFileSync(nonceBookFile(), 'utf8')), {'token https://a.example': {at: 3, nonce: 'n'}}, content)
      }

      writeFileSync(nonceBookFile(), JSON.stringify({'token https://a.example': {at: 1, nonce: 123}, 'token https://b.example': {at: 1}}))
      assert.equal(dpopNonceBook(() => 2).get('token', 'https://a.example'), undefined, 'a number is no nonce')
      assert.equal(dpopNonceBook(() => 2).get('token', 'https://b.example'), undefined)
      writeFileSync(nonceBookFile(), '{not json')
      assert.equal(dpopNonceBook().get('token', 'https://a.example'), undefined)
      writeFileSync(nonceBookFile(), JSON.stringify({'token https://a.example': {at: 'x', nonce: 'n'}, 'token https://b.example': {at: 1, nonce: 'bad nonce'}}))
      const book = dpopNonceBook(() => 2)
      assert.equal(book.get('token', 'https://a.example'), undefined)
      assert.equal(book.get('token', 'https://b.example'), undefined)
      await book.note('token', 'https://c.example', 'n')
      assert.deepEqual(Object.keys(JSON.parse(readFileSync(nonceBookFile(), 'utf8'))), ['token https://c.example', 'token https://b.example'])
    })

    it('the default clock is seconds', async () => {
      await dpopNonceBook().note('api', 'https://a.example', 'n')
      const {at} = JSON.parse(readFileSync(nonceBookFile(), 'utf8'))['api https://a.example']
      assert.ok(Math.abs(at - Date.now() / 1000) < 5, String(at))
    })

    it('drops the oldest when full, whatever the order in the file', async () => {
      const entries = Object.fromEntries(Array.from({length: MAX_REMEMBERED}, (_, index) => [`api https://h${index}.example`, {at: 100 + ((index * 37) % MAX_REMEMBERED), nonce: `n${index}`}]))
      writeFileSync(nonceBookFile(), JSON.stringify(entries))
      await dpopNonceBook(() => 1000).note('api', 'https://new.example', 'n')
      const kept = JSON.parse(readFileSync(nonceBookFile(), 'utf8')) as Record<string, {at: number}>
      const ages = Object.values(kept).map((entry) => entry.at)
      assert.equal(ages.length, MAX_REMEMBERED)
      assert.deepEqual(
        ages,
        [...ages].sort((a, b) => b - a),
        'newest first',
      )
      assert.ok(!ages.includes(100), 'the oldest went')
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

    it("for an API: a fresh proof per request with htm, htu without query, ath, the API's nonce; checked as an API checks it", async () => {
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
      assert.equal(book.get('token', url), undefined, "an API's nonce is not the authorization server's")
    })

    it("for a token endpoint: openid-client's handle, the remembered nonce put in, an RSA key signing with what the server lists", async () => {
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

      // The handle's own nonce (this run's use_dpop_nonce) wins over the one remembered.
      const answers = [
        new Response(JSON.stringify({error: 'use_dpop_nonce'}), {headers: {'content-type': 'application/json', 'dpop-nonce': 'fresh'}, status: 400}),
        new Response(JSON.stringify({access_token: 't', token_type: 'DPoP'}), {headers: {'content-type': 'application/json'}}),
      ]
      const retried: string[] = []
      const retrying = new client.Configuration({issuer: 'https://idp2.example', token_endpoint: 'https://idp2.example/token'}, 'c')
      retrying[client.customFetch] = async (_url, init) => {
        retried.push(new Headers(init.headers).get('dpop')!)
        return answers.shift()!
      }

      await book.note('token', 'https://idp2.example/token', 'stale')
      await client.clientCredentialsGrant(retrying, {}, {DPoP: (await tokenEndpointDpop(retrying, material, book, {issuer: 'https://idp2.example'})).handle})
      assert.deepEqual(
        retried.map((proof) => decodeJwt(proof).nonce),
        ['stale', 'fresh'],
      )

      const rsa = await readDpopKeyFile(file('rsa2.pem', generateKeyPairSync('rsa', {modulusLength: 2048}).privateKey.export({format: 'pem', type: 'pkcs8'})))
      const listed = await tokenEndpointDpop(config, rsa, book, {dpop_signing_alg_values_supported: ['ES256', 'PS256'], issuer: 'https://idp.example'})
      await client.clientCredentialsGrant(config, {}, {DPoP: listed.handle})
      assert.equal(decodeProtectedHeader(made[1]).alg, 'PS256')
      const unlisted = await tokenEndpointDpop(config, rsa, book, {dpop_signing_alg_values_supported: ['ES256'], issuer: 'https://idp.example'})
      await client.clientCredentialsGrant(config, {}, {DPoP: unlisted.handle})
      assert.equal(decodeProtectedHeader(made[2]).alg, 'RS256', "none listed fits: the key's own")
      const ecListed = await tokenEndpointDpop(config, material, book, {dpop_signing_alg_values_supported: ['PS256'], issuer: 'https://idp.example'})
      await client.clientCredentialsGrant(config, {}, {DPoP: ecListed.handle})
      assert.equal(decodeProtectedHeader(made[3]).alg, 'ES256', "an EC key signs with its curve's")
      const own = await tokenEndpointDpop(config, rsa, book, {dpop_signing_alg_values_supported: ['PS256', 'RS256'], issuer: 'https://idp.example'})
      await client.clientCredentialsGrant(config, {}, {DPoP: own.handle})
      assert.equal(decodeProtectedHeader(made[4]).alg, 'RS256', "the key's own, when listed")
      const pss = {...rsa, jwk: {...rsa.jwk, alg: 'PS256'}}
      const other = await tokenEndpointDpop(config, pss, book, {dpop_signing_alg_values_supported: ['ES256', 'RS256'], issuer: 'https://idp.example'})
      await client.clientCredentialsGrant(config, {}, {DPoP: other.handle})
      assert.equal(decodeProtectedHeader(made[5]).alg, 'RS256', 'the other RSA algorithm, when only it is listed')
    })
  })

  describe('--format header --url', () => {
    const bound: AccessToken = {access_token: 'tok', dpop_jkt: 'j', token_type: 'DPoP'}
    const bearer: AccessToken = {access_token: 'tok', token_type: 'Bearer'}
    const prover = (proofs: string[]) => async () => ({
      jkt: 'j',
      noteNonce: async () => {},
      async proof(method: string, url: URL, token: string) {
        proofs.push(`${method} ${url.href} ${token}`)
        return 'the-proof'
      },
    })

    it('--url and --method: with --format header only, an absolute http(s) URL, a method token (GET by default)', () => {
      assert.equal(proofRequestOf({format: 'header'}), undefined)
      assert.deepEqual(proofRequestOf({format: 'header', url: 'https://api.example/x?y=1'}), {method: 'GET', url: new URL('https://api.example/x?y=1')})
      assert.equal(proofRequestOf({format: 'header', method: 'patch', url: 'http://127.0.0.1/x'})!.method, 'PATCH')
      const usage = (message: string, suggestions: string[]) => (error: unknown) => {
        assert.ok(error instanceof UsageError)
        assert.equal(error.message, message)
        assert.equal(error.code, 'usage_error')
        assert.deepEqual(error.suggestions, suggestions)
        return true
      }

      assert.throws(
        () => proofRequestOf({format: 'token', url: 'https://api.example'}),
        usage("--url goes with --format header: it names the request a DPoP-bound token's proof is for", ['add --format header, or drop --url']),
      )
      for (const url of ['not a url', 'ftp://api.example/x', '/relative']) {
        assert.throws(() => proofRequestOf({format: 'header', url}), usage(`--url must be an absolute http(s) URL, not "${url}"`, ['e.g. --url https://api.example.com/things']))
      }

      assert.throws(
        () => proofRequestOf({format: 'header', url: `ftp://${'a'.repeat(100)}`}),
        usage(`--url must be an absolute http(s) URL, not "ftp://${'a'.repeat(74)}"`, ['e.g. --url https://api.example.com/things']),
      )
      assert.throws(
        () => proofRequestOf({format: 'header', method: `GET /x${'y'.repeat(50)}`, url: 'https://a.example'}),
        usage(`--method takes an HTTP method such as GET or POST, not "GET /X${'Y'.repeat(34)}"`, []),
      )
    })

    it('a DPoP-bound token needs --url with --format header (exit 2), other formats do not', () => {
      assert.throws(
        () => assertDpopFormat('header', undefined, {flag: '--dpop'}),
        (error: unknown) => {
          assert.ok(error instanceof UsageError)
          assert.equal(error.message, 'a DPoP-bound token needs a proof for each request: --format header needs --url URL (and --method M, default GET) to make one')
          assert.equal(error.code, 'usage_error')
          assert.deepEqual(error.suggestions, ['tokenctl token client NAME --format header --url https://api.example.com/things > headers && curl -H @headers https://api.example.com/things'])
          return true
        },
      )
      assertDpopFormat('header', {method: 'GET', url: new URL('https://a.example')}, {flag: '--dpop'})
      for (const format of ['token', 'env']) assertDpopFormat(format, undefined, {flag: '--dpop'})
    })

    it("a DPoP-bound token goes in no ExecCredential nor to exec's command (exit 2): the advice fits what bound it", () => {
      const refused = (message: string, suggestion: string) => (error: unknown) => {
        assert.ok(error instanceof UsageError)
        assert.equal(error.exitCode, 2)
        assert.equal(error.code, 'usage_error')
        assert.equal(error.message, message)
        assert.deepEqual(error.suggestions, [suggestion])
        return true
      }

      const kubectl = 'a DPoP-bound token cannot go in an ExecCredential: kubectl sends it as a bearer token, which an API refuses from a bound token'
      const command = 'a DPoP-bound token cannot be handed to a command: it could only send it as a bearer token, which an API refuses from a bound token'
      assert.throws(() => assertDpopFormat('exec-credential', undefined, {flag: '--dpop'}), refused(kubectl, 'drop --dpop for kubectl'))
      assert.throws(
        () => assertDpopFormat('exec-credential', undefined, {client: 'dpop'}),
        refused(kubectl, 'for kubectl use a client added without --dpop; tokenctl call URL --client dpop sends this one with a proof per request'),
      )
      assert.throws(
        () => {
          throw boundTokenRefused('exec', {session: 'nightly'})
        },
        refused(command, 'for a command use a session started without --dpop; tokenctl call URL --session-key nightly sends this one with a proof per request'),
      )
      assert.throws(
        () => {
          throw boundTokenRefused('exec', {client: 'dpop', flag: '--dpop-key-file'})
        },
        refused(command, 'drop --dpop-key-file and use a client added without --dpop for a command'),
      )
      assert.throws(
        () => {
          throw boundTokenRefused('exec', {})
        },
        refused(command, 'for a command ask for a token without --dpop'),
      )
    })

    it('what bound the tokens: the flag given (--dpop-key-file first), a named client whose stored key is used', () => {
      assert.deepEqual(dpopGivenOf({dpop: true}, {dpop: {kind: 'connection'}}), {flag: '--dpop'})
      assert.deepEqual(dpopGivenOf({dpop: true, 'dpop-key-file': 'k.pem'}, {dpop: {kind: 'file', path: 'k.pem'}}), {flag: '--dpop-key-file'})
      assert.deepEqual(dpopGivenOf({}, {dpop: {jkt: 'j', kind: 'named_client', name: 'ci'}}), {client: 'ci'})
      assert.deepEqual(dpopGivenOf({dpop: true}, {dpop: {jkt: 'j', kind: 'named_client', name: 'ci'}}), {client: 'ci', flag: '--dpop'})
      assert.deepEqual(dpopGivenOf({}, {}), {})
    })

    it('the two lines for a bound token, the proof made for the request; one line and no proof otherwise', async () => {
      const proofs: string[] = []
      const request = {method: 'POST', url: new URL('https://api.example/x')}
      assert.equal(await presentToken(bound, 'header', request, prover(proofs), {flag: '--dpop'}), 'Authorization: DPoP tok\nDPoP: the-proof')
      assert.deepEqual(proofs, ['POST https://api.example/x tok'])
      assert.equal(await presentToken(bearer, 'header', request, prover(proofs), {flag: '--dpop'}), 'Authorization: Bearer tok')
      assert.equal(await presentToken(bound, 'token', undefined, prover(proofs), {flag: '--dpop'}), 'tok')
      assert.equal(await presentToken(bound, 'env', undefined, prover(proofs), {flag: '--dpop'}), 'ACCESS_TOKEN=tok')
      assert.equal(proofs.length, 1, 'no proof for anything else')
      await assert.rejects(presentToken(bound, 'header', undefined, prover(proofs), {flag: '--dpop'}), UsageError)
      await assert.rejects(presentToken(bound, 'exec-credential', undefined, prover(proofs), {session: 'me'}), /cannot go in an ExecCredential/)
      assert.match(await presentToken(bearer, 'exec-credential', undefined, prover(proofs), {}), /"kind":"ExecCredential"/)
    })
  })
})
