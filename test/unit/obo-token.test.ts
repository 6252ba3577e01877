/**
 * On-behalf-of from a shell (src/lib/oauth/obo.ts, src/lib/oauth/flavor.ts), in the test process:
 * the flavor decided before the cache is read — from what was asked, the host, or the metadata cached
 * in TOKENCTL_HOME, discovering only when none was ever cached — and a cache whose key holds the
 * assertion's SHA-256, so that one user's token is never served for another user's assertion. Against
 * the tests' authorization server (oidc-provider, both OBO grants) and a metadata server of their own.
 */
import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {createServer} from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {decodeJwt} from 'jose'

import {type Connection, toConnection} from '../../src/lib/config/connection.js'
import {documentPath, writeDocument} from '../../src/lib/document-cache.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {detectFlavor, oboFlavor} from '../../src/lib/oauth/flavor.js'
import {TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT, ACCESS_TOKEN_TYPE} from '../../src/lib/oauth/urns.js'
import type {Runtime} from '../../src/lib/runtime.js'
import {FileStore} from '../../src/lib/store/file-store.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {startHttpsFront} from '../helpers/https-front.js'
import {requireTestPki} from '../helpers/tls.js'

/** obo.ts is loaded as the command loads it (grants.js is a dynamic import of its own). */
type Obo = typeof import('../../src/lib/oauth/obo.js')
let oboToken: Obo['oboToken']
let sha256: Obo['sha256']

const SECRET_VARIABLE = 'OBO_TOKEN_TEST_SECRET'
const sha256hex = (text: string) => createHash('sha256').update(text).digest('hex')
const noStore: Runtime = {hooks: {}, openStore: () => assert.fail('the store was opened')}

describe('the on-behalf-of flavor', () => {
  const connection = (settings: {issuer?: string; tokenEndpoint?: string}) => toConnection({clientId: 'api', ...settings})
  const tokenExchange = {grant_types_supported: ['authorization_code', TOKEN_EXCHANGE_GRANT]}

  it("Entra's hosts speak jwt-bearer, whatever the metadata says: by the issuer, the token endpoint or the metadata's issuer", () => {
    assert.equal(detectFlavor(connection({issuer: 'https://login.microsoftonline.com/t/v2.0'}), {issuer: 'https://idp.example', ...tokenExchange}), 'entra')
    assert.equal(detectFlavor(connection({tokenEndpoint: 'https://LOGIN.microsoftonline.us/t/oauth2/v2.0/token'}), {issuer: 'https://idp.example', ...tokenExchange}), 'entra')
    assert.equal(detectFlavor(connection({issuer: 'https://idp.example'}), {issuer: 'https://sts.windows.net/t/', ...tokenExchange}), 'entra')
  })

  it("elsewhere: RFC 8693 when the metadata lists token exchange, else Entra's", () => {
    assert.equal(detectFlavor(connection({issuer: 'https://idp.example'}), {issuer: 'https://idp.example', ...tokenExchange}), 'rfc8693')
    assert.equal(detectFlavor(connection({issuer: 'https://idp.example'}), {issuer: 'https://idp.example', grant_types_supported: ['authorization_code']}), 'entra')
    assert.equal(detectFlavor(connection({issuer: 'https://idp.example'}), {issuer: 'https://idp.example'}), 'entra')
  })

  describe('known before the cache is read', () => {
    let home: string
    const savedHome = process.env.TOKENCTL_HOME
    const asked: string[] = []
    let grantTypes: string[] = [TOKEN_EXCHANGE_GRANT]
    let origin = ''
    const server = createServer((req, res) => {
      asked.push(req.url ?? '')
      const issuer = `${origin}/t`
      if (req.url === '/t/.well-known/openid-configuration') {
        res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({grant_types_supported: grantTypes, issuer, token_endpoint: `${issuer}/token`}))
      } else res.writeHead(404).end()
    })
    before(async () => {
      origin = `http://127.0.0.1:${await listenOnLoopback(server)}`
    })
    after(async () => {
      await closeServer(server)
    })
    beforeEach(() => {
      asked.length = 0
      grantTypes = [TOKEN_EXCHANGE_GRANT]
      home = mkdtempSync(path.join(tmpdir(), 'tokenctl-flavor-'))
      process.env.TOKENCTL_HOME = home
    })
    afterEach(() => {
      if (savedHome === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = savedHome
      rmSync(home, {force: true, recursive: true})
    })

    it('the flavor asked for, with nothing read or sent', async () => {
      assert.equal(await oboFlavor(connection({issuer: `${origin}/t`}), 'entra', noStore), 'entra')
      assert.equal(await oboFlavor(connection({issuer: `${origin}/t`}), 'rfc8693', noStore), 'rfc8693')
      assert.deepEqual(asked, [])
    })

    it('discovered when no metadata was ever cached, then read from the cache without a request', async () => {
      const issuer = connection({issuer: `${origin}/t`})
      assert.equal(await oboFlavor(issuer, undefined, noStore), 'rfc8693')
      assert.deepEqual(asked, ['/t/.well-known/openid-configuration'])
      grantTypes = []
      assert.equal(await oboFlavor(issuer, undefined, noStore), 'rfc8693', 'the cached metadata decides')
      assert.equal(asked.length, 1)
    })

    it('cached metadata of any age decides: a cache hit sends nothing', async () => {
      await writeDocument(documentPath('metadata', new URL(`${origin}/t`).href), {fetchedAt: 0, metadata: {grant_types_supported: [], issuer: `${origin}/t`}})
      assert.equal(await oboFlavor(connection({issuer: `${origin}/t`}), undefined, noStore), 'entra')
      assert.deepEqual(asked, [])
    })

    it("--token-endpoint has no metadata to read: Entra's by default, never a discovery (even with --issuer)", async () => {
      assert.equal(await oboFlavor(connection({tokenEndpoint: `${origin}/t/token`}), undefined, noStore), 'entra')
      assert.equal(await oboFlavor(connection({issuer: `${origin}/t`, tokenEndpoint: `${origin}/t/token`}), undefined, noStore), 'entra')
      assert.deepEqual(asked, [])
    })

    it("discovery under the connection's --ca-file and --timeout", async () => {
      const pki = await requireTestPki()
      const front = await startHttpsFront({cert: pki.serverCert, key: pki.serverKey, origin})
      try {
        const https = toConnection({caFile: pki.caCertPath, clientId: 'api', issuer: `${front.url}/t`, timeout: 5})
        origin = front.url
        assert.equal(await oboFlavor(https, undefined, noStore), 'rfc8693')
        assert.deepEqual(
          front.requests.map((request) => request.path),
          ['/t/.well-known/openid-configuration'],
        )
      } finally {
        origin = `http://127.0.0.1:${(server.address() as {port: number}).port}`
        await front.stop()
        pki.remove()
      }
    })
  })
})

describe('oboToken: a downstream token for the user behind the assertion, cached under its SHA-256', function () {
  this.timeout(30_000)
  let server: AuthServer
  useAuthServer((started) => {
    server = started
  })

  before(async () => {
    ;({oboToken, sha256} = await import('../../src/lib/oauth/obo.js'))
  })

  let home: string
  let store: FileStore
  let runtime: Runtime
  const savedHome = process.env.TOKENCTL_HOME
  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'tokenctl-obo-'))
    process.env.TOKENCTL_HOME = home
    process.env[SECRET_VARIABLE] = server.clients.api.clientSecret
    store = new FileStore({kdfParams: {N: 1024, p: 1, r: 8}, passphrase: 'obo unit tests'})
    runtime = {hooks: {}, openStore: async () => store}
    server.resetCounters()
  })
  afterEach(() => {
    delete process.env[SECRET_VARIABLE]
    if (savedHome === undefined) delete process.env.TOKENCTL_HOME
    else process.env.TOKENCTL_HOME = savedHome
    rmSync(home, {force: true, recursive: true})
  })

  function apiConnection(params: Array<[string, string]> = []): Connection {
    return toConnection(
      {clientId: server.clients.api.clientId, issuer: server.issuer, params, scopes: ['read']},
      {credential: {kind: 'given', source: {from: {kind: 'env', variable: SECRET_VARIABLE}, kind: 'secret'}}},
    )
  }

  const userToken = (sub: string) => server.mintUserToken({aud: server.clients.api.clientId, sub})
  const subjectOf = (accessToken: string) => decodeJwt(accessToken).sub
  const grants = () => server.tokenRequests.map((request) => request.grant_type)

  it("the same assertion again is a cache hit; another user's assertion is never served the first one's token", async () => {
    const [alice, bob] = [await userToken('alice'), await userToken('bob')]
    const first = await oboToken(apiConnection(), {assertion: alice}, {}, runtime)
    const again = await oboToken(apiConnection(), {assertion: alice}, {}, runtime)
    assert.equal(again.token.access_token, first.token.access_token)
    assert.equal(server.tokenRequests.length, 1)
    const other = await oboToken(apiConnection(), {assertion: bob}, {}, runtime)
    assert.equal(server.tokenRequests.length, 2)
    assert.deepEqual([subjectOf(first.token.access_token), subjectOf(other.token.access_token)], ['alice', 'bob'])
  })

  it('the assertion itself is never stored: the key holds its SHA-256', async () => {
    const assertion = await userToken('alice')
    await oboToken(apiConnection(), {assertion}, {}, runtime)
    const names = await store.list('')
    assert.equal(names.length, 1)
    for (const name of names) {
      assert.ok(!name.includes(assertion) && !(await store.get(name))!.includes(assertion), name)
      assert.ok(!name.includes(sha256hex(assertion)), 'not even its digest in the clear: the whole key is hashed')
    }

    assert.equal(sha256(assertion).toString('hex'), sha256hex(assertion))
  })

  it('the flavor detected is the one sent, and each flavor is cached apart', async () => {
    const assertion = await userToken('alice')
    await oboToken(apiConnection(), {assertion}, {}, runtime)
    assert.deepEqual(grants(), [TOKEN_EXCHANGE_GRANT], 'the server lists token exchange: RFC 8693')
    await oboToken(apiConnection(), {assertion, flavor: 'entra'}, {}, runtime)
    await oboToken(apiConnection(), {assertion, flavor: 'entra'}, {}, runtime)
    assert.deepEqual(grants(), [TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT])
  })

  it('the requested token type and the extra parameters are part of the key', async () => {
    const assertion = await userToken('alice')
    await oboToken(apiConnection(), {assertion}, {}, runtime)
    await oboToken(apiConnection(), {assertion, requestedTokenType: ACCESS_TOKEN_TYPE}, {}, runtime)
    await oboToken(apiConnection(), {assertion, requestedTokenType: ACCESS_TOKEN_TYPE}, {}, runtime)
    assert.equal(server.tokenRequests.length, 2)
    assert.equal(server.tokenRequests[1].params.requested_token_type, ACCESS_TOKEN_TYPE)
    await oboToken(apiConnection([['tenant', 'a']]), {assertion, requestedTokenType: ACCESS_TOKEN_TYPE}, {}, runtime)
    assert.equal(server.tokenRequests.length, 3)
  })

  it('--no-cache asks the server and opens no store', async () => {
    const assertion = await userToken('alice')
    await oboToken(apiConnection(), {assertion}, {noCache: true}, noStore)
    await oboToken(apiConnection(), {assertion}, {noCache: true}, noStore)
    assert.equal(server.tokenRequests.length, 2)
  })
})
