/**
 * DPoP (RFC 9449) end to end: tokenctl against dev idp's authorization server (oidc-provider, which
 * binds tokens to the proof's key and asks for its nonce first) behind a strict front
 * (test/helpers/dpop-strict.ts: replayed jti, a proof older than 60 s, a query in htu refused), and
 * the tests' API, which holds bound tokens to their proofs as strictly (a bound token sent as Bearer,
 * no ath, a replayed or old proof, a query in htu, no API nonce: refused). The harness test
 * (test/harness/sender-constraints.test.ts) shows both refuse each of these; here tokenctl gets
 * through them all, in both stores: the worker flow, both OBO flavors, a session's refreshes, call.
 */
import {strict as assert} from 'node:assert'
import {createHash, generateKeyPairSync} from 'node:crypto'
import {existsSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK} from 'jose'

import {approveDevice, completeAuthorization} from '../../src/lib/devidp/robot.js'
import {FileStore} from '../../src/lib/store/file-store.js'
import {allFileContents, expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type ApiServer, startApiServer} from '../helpers/api-server.js'
import {type AuthServer, startAuthServer, useAuthServer} from '../helpers/auth-server.js'
import {type CliResult, cliWithHome, stderrMatch, tempHome} from '../helpers/cli.js'
import {strictDpopFront} from '../helpers/dpop-strict.js'
import {requireKeyring, type KeyringSession} from '../helpers/keyring.js'

const PASSPHRASE = 'dpop tests'
const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url')

/** One of the two local stores, and what is in it (decrypted as tokenctl reads it). */
interface Store {
  entries(home: string): Promise<Map<string, string>>
  env(): Record<string, string | undefined>
  name: string
}

const fileStore: Store = {
  async entries(home) {
    const previous = process.env.TOKENCTL_HOME
    process.env.TOKENCTL_HOME = home
    try {
      const store = new FileStore({passphrase: PASSPHRASE})
      const names = await store.list('')
      return new Map(await Promise.all(names.map(async (name) => [name, (await store.get(name))!] as [string, string])))
    } finally {
      if (previous === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = previous
    }
  },
  env: () => ({TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}),
  name: 'file store',
}

function keychainStore(keyring: () => KeyringSession): Store {
  let counter = 0
  let service = ''
  return {
    async entries() {
      const items = await keyring().secretToolSearch({service})
      return new Map(items.map((item) => [item.attributes.username, item.secret ?? '']))
    },
    env() {
      service = `tokenctl-dpop-${process.pid}-${++counter}`
      return {...keyring().env, TOKENCTL_KEYCHAIN_SERVICE: service, TOKENCTL_STORE: 'keychain'}
    },
    name: 'keychain',
  }
}

/** The private parts of every DPoP key in a store: what must be in no file, no trace, no output. */
function privateParts(entries: Map<string, string>): string[] {
  const parts: string[] = []
  for (const [name, value] of entries) {
    const material = name.startsWith('dpop-key:') ? JSON.parse(value) : name.startsWith('session:') ? JSON.parse(value).dpop : undefined
    if (material?.jwk?.d) parts.push(material.jwk.d)
  }

  return parts
}

describe('DPoP (RFC 9449) end to end, against strict servers', function () {
  this.timeout(120_000)
  const front = strictDpopFront()
  let server: AuthServer
  let api: ApiServer
  let keyring: KeyringSession | undefined
  useAuthServer(
    (started) => {
      server = started
    },
    {deviceInterval: 1, inspectTokenRequest: front.inspect},
  )

  before(async () => {
    api = await startApiServer({audience: server.resources.api, issuer: server.issuer, jwksUri: server.jwksUri})
  })

  after(async () => {
    await api?.stop()
    await keyring?.stop()
  })

  beforeEach(() => {
    front.reset()
    api.reset()
  })

  /** Every proof the token endpoint saw in this test: unique, fresh, for the endpoint, with a public key only. */
  function assertProofsWellMade(): void {
    const jtis = front.proofs.map((proof) => proof.payload.jti)
    assert.equal(new Set(jtis).size, jtis.length, 'no jti twice')
    for (const {header, payload} of front.proofs) {
      assert.equal(header.typ, 'dpop+jwt')
      assert.equal(header.alg, 'ES256')
      assert.equal((header.jwk as JWK).d, undefined, 'the public key only')
      assert.equal(payload.htm, 'POST')
      assert.equal(payload.htu, server.tokenEndpoint)
    }
  }

  for (const store of [fileStore, keychainStore(() => keyring!)]) {
    describe(`in the ${store.name}`, () => {
      before(async function () {
        if (store.name === 'keychain') keyring ??= await requireKeyring()
      })

      /** A home with the must-use-DPoP client `dpop` added with --dpop. */
      async function dpopClient() {
        const cli = cliWithHome({env: store.env()})
        const add = await cli.run(['client', 'add', 'dpop', '--issuer', server.issuer, '--client-id', 'dpop', '--client-secret-stdin', '--dpop', '--scope', 'read'], {input: 'dpop-secret'})
        expectExit(add, 0)
        const show = json(await cli.run(['client', 'show', 'dpop', '--json']))
        return {cli, jkt: show.binding.dpop_jkt as string}
      }

      it('the worker flow: a bound token (DPoP, dpop_jkt, cnf.jkt), cached under its key, one request once the nonce is known; call proves each request', async () => {
        const {cli, jkt} = await dpopClient()
        assert.match(jkt, /^[\w-]{43}$/)
        const first = await cli.run(['token', 'client', 'dpop', '--json', '--verbose'])
        expectExit(first, 0)
        const token = json(first)
        assert.equal(token.token_type, 'DPoP')
        assert.equal(token.dpop_jkt, jkt)
        assert.deepEqual(decodeJwt(token.access_token).cnf, {jkt})
        // The nonce dance: the first proof has none, the server asks, the second carries it.
        assert.deepEqual(
          server.tokenRequests.map((request) => request.grant_type),
          ['client_credentials', 'client_credentials'],
        )
        assert.equal(front.proofs[0].payload.nonce, undefined)
        assert.ok(front.proofs[1].payload.nonce)
        assert.equal(await calculateJwkThumbprint(front.proofs[1].header.jwk as JWK), jkt)

        const hit = await cli.run(['token', 'client', 'dpop', '--json'])
        assert.equal(json(hit).token_source, 'cache')
        assert.equal(json(hit).dpop_jkt, jkt)
        assert.equal(server.tokenRequests.length, 2, 'a hit sends nothing')

        server.resetCounters()
        const forced = await cli.run(['token', 'client', 'dpop', '--force', '--json'])
        expectExit(forced, 0)
        assert.equal(server.tokenRequests.length, 1, 'the nonce remembered from the last run: one request')

        const called = await cli.run(['call', `${api.url}/echo?q=1`, '--client', 'dpop'])
        expectExit(called, 0)
        const echoed = api.requests.filter((request) => request.path === '/echo')
        assert.equal(echoed.length, 2, "the API's nonce challenge answered once")
        assert.deepEqual(
          echoed.map((request) => request.status),
          [401, 200],
        )
        for (const request of echoed) {
          assert.match(request.authorization!, /^DPoP /)
          const proof = decodeJwt(request.dpop!)
          assert.equal(proof.htu, `${api.url}/echo`, 'htu without the query')
          assert.equal(proof.htm, 'GET')
          assert.equal(proof.ath, sha256(json(forced).access_token))
        }

        api.reset()
        expectExit(await cli.run(['call', `${api.url}/echo`, '--client', 'dpop']), 0)
        assert.equal(api.requests.length, 1, "the API's nonce remembered too")
        assertProofsWellMade()

        const entries = await store.entries(cli.home)
        const secrets = privateParts(entries)
        assert.equal(secrets.length, 1, 'one key, in the store')
        const files = allFileContents(cli.home)
        for (const secret of secrets) {
          assert.ok(!files.includes(secret), 'the generated key is in no file')
          assert.ok(!first.stderr.includes(secret) && !first.stdout.includes(secret), 'nor in the trace or the output')
        }

        for (const {raw} of front.proofs.slice(0, 2)) assert.ok(!first.stderr.includes(raw.split('.')[1]), 'a proof is masked in the trace')
        assert.match(first.stderr, /> dpop: <\d+ chars, sha256:[\da-f]{8}>/)
      })

      it('on-behalf-of in both flavors with --dpop: the exchanged token is bound', async () => {
        const cli = cliWithHome({env: store.env()})
        expectExit(await cli.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin', '--dpop'], {input: 'api-secret'}), 0)
        const userToken = await server.mintUserToken({aud: 'api', sub: 'alice'})
        for (const flavor of ['entra', 'rfc8693']) {
          const exchanged = await cli.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--flavor', flavor, '--json'], {env: {USER_TOKEN: userToken}})
          expectExit(exchanged, 0)
          assert.equal(json(exchanged).token_type, 'DPoP')
          assert.equal(json(exchanged).flavor, flavor)
          assert.deepEqual(decodeJwt(json(exchanged).access_token).cnf, {jkt: json(exchanged).dpop_jkt})
        }

        assert.deepEqual([...new Set(front.proofs.map((proof) => proof.grant_type))], ['urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:token-exchange'])
        assertProofsWellMade()
      })

      it('a session keeps its key: start and every refresh prove with it, session show names it, call --session proves it', async () => {
        const {cli, jkt} = await dpopClient()
        const userToken = await server.mintUserToken({aud: 'dpop', sub: 'bob'})
        const started = await cli.run(['session', 'start', 'dpop', '--assertion-env', 'USER_TOKEN', '--session-key', 'nightly', '--json'], {env: {USER_TOKEN: userToken}})
        expectExit(started, 0)
        assert.equal(json(started).token_type, 'DPoP')
        assert.equal(json(started).dpop_jkt, jkt)
        for (let refresh = 0; refresh < 2; refresh++) {
          const refreshed = await cli.run(['session', 'refresh', '--session-key', 'nightly', '--force', '--json'])
          expectExit(refreshed, 0)
          assert.equal(json(refreshed).token_type, 'DPoP')
          assert.deepEqual(decodeJwt(json(refreshed).access_token).cnf, {jkt})
        }

        const refreshProofs = front.proofs.filter((proof) => proof.grant_type === 'refresh_token')
        assert.equal(refreshProofs.filter((proof) => proof.payload.nonce).length, 2)
        for (const proof of refreshProofs) assert.equal(await calculateJwkThumbprint(proof.header.jwk as JWK), jkt)
        const show = json(await cli.run(['session', 'show', '--session-key', 'nightly', '--json']))
        assert.deepEqual(show.binding, {dpop_jkt: jkt})
        assert.ok(!JSON.stringify(show).includes('"d"'), 'never the key')

        expectExit(await cli.run(['call', `${api.url}/echo`, '--session-key', 'nightly']), 0)
        assert.equal(api.requests.at(-1)!.status, 200)
        // The session's own copy: the client's key replaced (its own PEM now), the session proves with the key it began with.
        const keyFile = join(tempHome(), 'new-dpop.pem')
        writeFileSync(keyFile, generateKeyPairSync('ec', {namedCurve: 'P-256'}).privateKey.export({format: 'pem', type: 'pkcs8'}))
        const replaced = await cli.run(['client', 'add', 'dpop', '--replace', '--issuer', server.issuer, '--client-id', 'dpop', '--client-secret-stdin', '--dpop-key-file', keyFile, '--json'], {
          input: 'dpop-secret',
        })
        assert.notEqual(json(replaced).binding.dpop_jkt, jkt)
        const after = await cli.run(['session', 'refresh', '--session-key', 'nightly', '--force', '--json'])
        expectExit(after, 0)
        assert.equal(json(after).dpop_jkt, jkt)
        const secrets = privateParts(await store.entries(cli.home))
        assert.equal(secrets.length, 2, "the client's key and the session's copy of the first, in the store")
        for (const secret of secrets) assert.ok(!allFileContents(cli.home).includes(secret))
        assertProofsWellMade()
      })
    })
  }

  describe('in the file store only', () => {
    const cli = () => cliWithHome({env: fileStore.env()})

    it('a connection from flags alone keeps one generated key in the store: the same jkt and the cached token next run', async () => {
      const run = cli()
      const args = ['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'dpop', '--client-secret-env', 'S', '--dpop', '--json']
      const first = await run.run(args, {env: {S: 'dpop-secret'}})
      expectExit(first, 0)
      const second = await run.run(args, {env: {S: 'dpop-secret'}})
      assert.equal(json(second).token_source, 'cache')
      assert.equal(json(second).dpop_jkt, json(first).dpop_jkt)
      const entries = await fileStore.entries(run.home)
      assert.equal([...entries.keys()].filter((name) => name.startsWith('dpop-key:connection:')).length, 1)
      for (const secret of privateParts(entries)) assert.ok(!allFileContents(run.home).includes(secret))
    })

    it("the cache key holds the key's thumbprint: a token cached for one key, or for none, is never served for another (worker flow and on-behalf-of)", async () => {
      const run = cli()
      const keyFile = (name: string) => {
        const file = join(tempHome(), name)
        writeFileSync(file, generateKeyPairSync('ec', {namedCurve: 'P-256'}).privateKey.export({format: 'pem', type: 'pkcs8'}))
        return file
      }

      const [a, b] = [keyFile('a.pem'), keyFile('b.pem')]
      const worker = (...extra: string[]) =>
        run.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'worker', '--client-secret-env', 'S', '--json', ...extra], {env: {S: 'worker-secret'}})
      const bearer = json(await worker())
      assert.equal(bearer.token_type, 'Bearer')
      const bound = json(await worker('--dpop'))
      assert.deepEqual([bound.token_type, bound.token_source], ['DPoP', 'identity_provider'], 'the bearer token is not served for --dpop')
      assert.equal(json(await worker('--dpop')).token_source, 'cache')
      const withA = json(await worker('--dpop-key-file', a))
      const withB = json(await worker('--dpop-key-file', b))
      assert.deepEqual([withA.token_source, withB.token_source], ['identity_provider', 'identity_provider'])
      assert.notEqual(withA.dpop_jkt, withB.dpop_jkt)
      assert.deepEqual(decodeJwt(withB.access_token).cnf, {jkt: withB.dpop_jkt})
      const againA = json(await worker('--dpop-key-file', a))
      assert.deepEqual([againA.token_source, againA.access_token], ['cache', withA.access_token])

      const userToken = await server.mintUserToken({aud: 'api', sub: 'frank'})
      const obo = async (file: string) =>
        json(
          await run.run(
            ['token', 'obo', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-env', 'S', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--dpop-key-file', file, '--json'],
            {env: {S: 'api-secret', USER_TOKEN: userToken}},
          ),
        )
      const oboA = await obo(a)
      const oboB = await obo(b)
      assert.deepEqual([oboA.token_source, oboB.token_source], ['identity_provider', 'identity_provider'])
      assert.deepEqual(decodeJwt(oboB.access_token).cnf, {jkt: withB.dpop_jkt})
      assert.equal((await obo(a)).token_source, 'cache')
    })

    it("--dpop-key-file: the user's own key (PEM), its thumbprint in dpop_jkt", async () => {
      const run = cli()
      const {privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
      const file = join(tempHome(), 'dpop.pem')
      writeFileSync(file, privateKey.export({format: 'pem', type: 'pkcs8'}))
      const jwk = privateKey.export({format: 'jwk'})
      const expected = await calculateJwkThumbprint({crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y})
      const result = await run.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'dpop', '--client-secret-env', 'S', '--dpop-key-file', file, '--json'], {env: {S: 'dpop-secret'}})
      expectExit(result, 0)
      assert.equal(json(result).dpop_jkt, expected)
    })

    it('--format header --url: the two lines curl takes, a fresh proof for that request; without --url exit 2', async () => {
      const run = cli()
      expectExit(await run.run(['client', 'add', 'dpop', '--issuer', server.issuer, '--client-id', 'dpop', '--client-secret-stdin', '--dpop'], {input: 'dpop-secret'}), 0)
      const refused = await run.run(['token', 'client', 'dpop', '--format', 'header'])
      expectExit(refused, 2)
      assert.match(refused.stderr, /--format header needs --url URL/)
      assert.equal(server.tokenRequests.length, 0, 'said before any request')
      expectExit(await run.run(['call', `${api.url}/echo`, '--client', 'dpop']), 0) // the API's nonce, remembered
      api.reset()
      const header = await run.run(['token', 'client', 'dpop', '--format', 'header', '--url', `${api.url}/upload`, '--method', 'post'])
      expectExit(header, 0)
      const lines = header.stdout.trim().split('\n')
      assert.equal(lines.length, 2)
      assert.match(lines[0], /^Authorization: DPoP [\w-]+\.[\w-]+\.[\w-]+$/)
      assert.match(lines[1], /^DPoP: [\w-]+\.[\w-]+\.[\w-]+$/)
      const proof = decodeJwt(lines[1].slice('DPoP: '.length))
      assert.equal(proof.htm, 'POST')
      assert.equal(proof.htu, `${api.url}/upload`)
      assert.equal(decodeProtectedHeader(lines[1].slice('DPoP: '.length)).typ, 'dpop+jwt')
      // As curl -H @file would send them.
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]))
      const response = await fetch(`${api.url}/upload`, {body: 'x', headers, method: 'POST'})
      assert.equal(response.status, 200)

      const verified = await run.run([
        'token',
        'verify',
        lines[0].slice('Authorization: DPoP '.length),
        '--issuer',
        server.issuer,
        '--dpop-proof',
        lines[1].slice(6),
        '--method',
        'POST',
        '--url',
        `${api.url}/upload`,
      ])
      expectExit(verified, 0)
      assert.match(verified.stdout, /^cnf +passed +DPoP proof for POST /m)
      const bare = await run.run(['token', 'verify', lines[0].slice('Authorization: DPoP '.length), '--issuer', server.issuer])
      expectExit(bare, 9)
      assert.match(bare.stdout, /^cnf +failed +bound to a DPoP key \(cnf\.jkt [\w-]+\): an API refuses it as a bearer token/m)
      const decoded = await run.run(['token', 'decode', lines[0].slice('Authorization: DPoP '.length)])
      assert.match(decoded.stdout, /^cnf: bound to a DPoP key \(jkt [\w-]+\)/m)
    })

    it("call: the API's nonce challenge is not the renewal (a 401 after it still renews once); invalid_dpop_proof is exit 8 with the API's reason", async () => {
      const run = cli()
      expectExit(await run.run(['client', 'add', 'dpop', '--issuer', server.issuer, '--client-id', 'dpop', '--client-secret-stdin', '--dpop'], {input: 'dpop-secret'}), 0)
      const renewed = await run.run(['call', `${api.url}/reject-first/nonce-then-401`, '--client', 'dpop'])
      expectExit(renewed, 0)
      assert.deepEqual(
        api.requests.map((request) => request.status),
        [401, 401, 200],
        'nonce, revoked, renewed',
      )
      assert.equal(server.tokenRequests.length, 3, 'the first token (with the nonce dance), then one renewal')

      // An API that asks for a nonce again after its nonce was sent: asked once more only, and no renewal for it.
      api.reset()
      server.resetCounters()
      const again = await run.run(['call', `${api.url}/dpop-nonce-again`, '--client', 'dpop'])
      expectExit(again, 8)
      assert.deepEqual(
        api.requests.map((request) => request.status),
        [401, 401],
        'one nonce retry, not a loop',
      )
      assert.equal(server.tokenRequests.length, 0, 'a nonce challenge is not a reason to renew the token')
      assert.match(again.stderr, /the API asked again for a DPoP nonce \(use_dpop_nonce/)

      const refused = await run.run(['call', `${api.url}/dpop-refused`, '--client', 'dpop'])
      expectExit(refused, 8)
      assert.match(refused.stderr, /the API refused the DPoP proof \(invalid_dpop_proof: the proof's key is on our deny list\)/)
    })

    it('exec and --format exec-credential refuse a DPoP-bound token (exit 2): the command not run, nothing printed, the advice fits the flag, the client or the session', async () => {
      const run = cli()
      expectExit(await run.run(['client', 'add', 'dpop', '--issuer', server.issuer, '--client-id', 'dpop', '--client-secret-stdin', '--dpop', '--scope', 'read'], {input: 'dpop-secret'}), 0)
      const marker = join(tempHome(), 'ran')
      const oneLine = (result: CliResult, pattern: RegExp) => {
        expectExit(result, 2)
        assert.equal(result.stdout, '')
        assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
        assert.match(result.stderr, pattern)
      }

      const command = /a DPoP-bound token cannot be handed to a command: it could only send it as a bearer token/
      const kubectl = /a DPoP-bound token cannot go in an ExecCredential: kubectl sends it as a bearer token/
      oneLine(
        await run.run(['exec', 'dpop', '--', 'sh', '-c', `touch ${marker}`]),
        new RegExp(`${command.source}.*for a command use a client added without --dpop; tokenctl call URL --client dpop sends this one`),
      )
      oneLine(await run.run(['token', 'client', 'dpop', '--format', 'exec-credential']), new RegExp(`${kubectl.source}.*for kubectl use a client added without --dpop`))
      const flags = ['--issuer', server.issuer, '--client-id', 'dpop', '--client-secret-env', 'S', '--dpop']
      oneLine(await run.run(['token', 'client', ...flags, '--format', 'exec-credential'], {env: {S: 'dpop-secret'}}), /drop --dpop for kubectl/)
      oneLine(await run.run(['exec', ...flags, '--', 'sh', '-c', `touch ${marker}`], {env: {S: 'dpop-secret'}}), /drop --dpop for a command/)
      assert.equal(server.tokenRequests.length, 0, 'refused before any token request')

      // A session's binding is known once its token is: refused then, the session kept as it was.
      const userToken = await server.mintUserToken({aud: 'dpop', sub: 'erin'})
      expectExit(await run.run(['session', 'start', 'dpop', '--assertion-env', 'USER_TOKEN', '--session-key', 'bound'], {env: {USER_TOKEN: userToken}}), 0)
      oneLine(
        await run.run(['session', 'refresh', '--session-key', 'bound', '--format', 'exec-credential']),
        /use a session started without --dpop; tokenctl call URL --session-key bound sends this one/,
      )
      oneLine(await run.run(['exec', '--session-key', 'bound', '--', 'sh', '-c', `touch ${marker}`]), command)
      assert.ok(!existsSync(marker), 'the command never ran')
      const after = await run.run(['session', 'refresh', '--session-key', 'bound', '--json'])
      expectExit(after, 0)
      assert.equal(json(after).token_type, 'DPoP')
    })

    it('a server that answers --dpop with a Bearer token: the token works, and stderr says it is not bound', async () => {
      const lenient = await startAuthServer({configure: (configuration) => void (configuration.features.dPoP = {enabled: false})})
      try {
        const result = await cli().run(['token', 'client', '--issuer', lenient.issuer, '--client-id', 'worker', '--client-secret-env', 'S', '--dpop', '--json'], {env: {S: 'worker-secret'}})
        expectExit(result, 0)
        assert.equal(json(result).token_type, 'Bearer')
        assert.equal(json(result).dpop_jkt, undefined)
        assert.match(result.stderr, /warning: 127\.0\.0\.1:\d+ answered --dpop with a Bearer token: it did not bind the token to the DPoP key/)
      } finally {
        await lenient.stop()
      }
    })

    it('a public client signs in with --dpop (device flow): the session refreshes with the key its refresh token is bound to', async () => {
      const run = cli()
      const child = run.start(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--device', '--dpop', '--session-key', 'me', '--json'])
      const [, verificationUri, userCode] = await stderrMatch(child, /open (\S+) and enter the code (\S+)/)
      await approveDevice(verificationUri, {login: 'carol', userCode})
      const signedIn = await child.result
      expectExit(signedIn, 0)
      assert.equal(json(signedIn).token_type, 'DPoP')
      const refreshed = await run.run(['session', 'refresh', '--session-key', 'me', '--force', '--json'])
      expectExit(refreshed, 0)
      assert.equal(json(refreshed).dpop_jkt, json(signedIn).dpop_jkt, "the server binds a public client's refresh token: another key would be refused")
    })

    it('a browser sign-in with --dpop sends dpop_jkt with the authorization request, and redeems the code with that key', async () => {
      const run = cli()
      const child = run.start(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--browser', '--no-open', '--dpop', '--json'])
      const [, url] = await stderrMatch(child, /open this URL in a browser:\n(\S+)/)
      const jkt = new URL(url).searchParams.get('dpop_jkt')
      assert.match(jkt ?? '', /^[\w-]{43}$/)
      await (await fetch(await completeAuthorization(url, {login: 'dan'}))).text()
      const signedIn = await child.result
      expectExit(signedIn, 0)
      assert.equal(json(signedIn).dpop_jkt, jkt)
    })
  })
})
