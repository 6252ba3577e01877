/**
 * Client authentication and sessions against servers as strict as the real ones (end to end through
 * bin/run.js): Microsoft Entra's client assertions and certificate credentials, as its "certificate
 * credentials" document says (https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials),
 * RFC 6749 §6 refreshes, and sessions that keep what their refresh needs, in the file store and in a
 * real Secret Service.
 */
import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {decodeJwt, decodeProtectedHeader} from 'jose'

import {FileStore} from '../../src/lib/store/file-store.js'
import {allFileContents, expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type AuthServer, startAuthServer} from '../helpers/auth-server.js'
import {certificateFactory, opensslDate, type TestCa, type TestCertificate} from '../helpers/certificates.js'
import {cliWithHome, tempHome} from '../helpers/cli.js'
import {type EntraStrictServer, startEntraStrictServer} from '../helpers/entra-strict.js'
import {type KeyringSession, requireKeyring} from '../helpers/keyring.js'
import {requireRedis} from '../helpers/redis.js'

const PASSPHRASE = 'correct horse battery staple'
const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}
const API_SECRET = 'api-secret'
const DAY_MS = 86_400_000

describe('strict servers: Entra client assertions, certificate credentials, sessions that keep their credential (end to end)', function () {
  this.timeout(120_000)
  const certificates = certificateFactory()
  let strict: EntraStrictServer
  let lenient: AuthServer
  let rsa: TestCertificate
  let ec: TestCertificate
  let legacy: TestCertificate
  let ca: TestCa
  let issued: TestCertificate
  let expiring: TestCertificate
  let stranger: TestCertificate

  before(async () => {
    ;[rsa, ec, legacy, ca, stranger] = await Promise.all([
      certificates.certificate({subject: 'cert-app'}),
      certificates.certificate({subject: 'cert-ec', type: 'ec'}),
      certificates.certificate({legacyPfx: true, subject: 'cert-legacy'}),
      certificates.ca(),
      certificates.certificate({subject: 'stranger'}),
    ])
    issued = await certificates.certificate({ca, subject: 'cert-sni'})
    expiring = await certificates.certificate({endDate: opensslDate(new Date(Date.now() + 10 * DAY_MS)), subject: 'cert-expiring'})
    strict = await startEntraStrictServer([
      {certificatePem: rsa.certificatePem, clientId: 'cert-app'},
      {certificatePem: ec.certificatePem, clientId: 'cert-ec'},
      {certificatePem: legacy.certificatePem, clientId: 'cert-legacy'},
      {caPem: ca.certificatePem, certificatePem: issued.certificatePem, clientId: 'cert-sni', trust: 'subject-name'},
      {certificatePem: expiring.certificatePem, clientId: 'cert-expiring'},
    ])
    lenient = await startAuthServer()
  })

  after(async () => {
    await strict?.stop()
    await lenient?.stop()
    certificates.remove()
  })

  beforeEach(() => {
    strict.resetCounters()
    strict.refusals.length = 0
    lenient.resetCounters()
  })

  /** The last client assertion the server received, decoded. */
  function lastAssertion(server: AuthServer = strict) {
    const assertion = String(server.tokenRequests.at(-1)?.params.client_assertion)
    return {claims: decodeJwt(assertion), header: decodeProtectedHeader(assertion) as Record<string, unknown>}
  }

  /** The header's thumbprint of a certificate, computed here from the PEM (independently of tokenctl). */
  const b64uThumbprint = (certificate: TestCertificate, algorithm: 'sha1' | 'sha256') =>
    createHash(algorithm)
      .update(Buffer.from(certificate.certificatePem.replaceAll(/-----[A-Z ]+-----|\s/g, ''), 'base64'))
      .digest('base64url')

  describe('client assertions (private_key_jwt) as Entra checks them', () => {
    it('Entra (recognised by its token endpoint path): aud is the token endpoint, accepted; --assertion-audience issuer is refused with exit 4 and advice naming the flag', async () => {
      const cli = cliWithHome({env: FILE_STORE})
      const {jwt} = strict.clients
      const key = join(cli.home, 'key.pem')
      writeFileSync(key, jwt.privateKeyPem)
      const base = ['token', 'client', '--issuer', strict.issuer, '--client-id', 'jwt', '--private-key-file', key, '--key-id', jwt.kid, '--scope', 'read', '--no-cache', '--json']
      const accepted = await cli.run(base)
      expectExit(accepted, 0)
      const {claims, header} = lastAssertion()
      assert.equal(claims.aud, strict.tokenEndpoint)
      assert.equal(claims.iss, 'jwt')
      assert.equal(claims.sub, 'jwt')
      assert.ok(typeof claims.jti === 'string' && claims.jti.length >= 16)
      assert.equal(claims.nbf, claims.iat)
      const lifetime = Number(claims.exp) - Number(claims.iat)
      assert.ok(lifetime > 60 && lifetime <= 600, `a few minutes, at most Entra's 10: ${lifetime}`)
      assert.equal(header.kid, jwt.kid)

      expectExit(await cli.run(base), 0)
      assert.notEqual(lastAssertion().claims.jti, claims.jti, 'a fresh jti for every assertion')

      const refused = await cli.run([...base, '--assertion-audience', 'issuer'])
      expectExit(refused, 4)
      assert.equal(json(refused).error.code, 'invalid_client')
      assert.match(json(refused).error.hint, /--assertion-audience token-endpoint/)
      assert.match(strict.refusals.at(-1)!, /aud must be the token endpoint/)
      const human = await cli.run([...base.filter((arg) => arg !== '--json'), '--assertion-audience', 'issuer'])
      expectExit(human, 4)
      assert.match(human.stderr, /--assertion-audience issuer.*pass --assertion-audience token-endpoint/)
    })

    it("elsewhere the issuer stays the audience (openid-client's default); --assertion-audience token-endpoint, kept by a named client, overrides", async () => {
      const cli = cliWithHome({env: FILE_STORE})
      const {jwt} = lenient.clients
      const key = join(certificates.directory, 'lenient-jwt.pem')
      writeFileSync(key, jwt.privateKeyPem)
      expectExit(await cli.run(['token', 'client', '--issuer', lenient.issuer, '--client-id', 'jwt', '--private-key-file', key, '--key-id', jwt.kid, '--no-cache']), 0)
      assert.equal(lastAssertion(lenient).claims.aud, lenient.issuer)

      const add = await cli.run(['client', 'add', 'signer', '--issuer', lenient.issuer, '--client-id', 'jwt', '--private-key-file', key, '--key-id', jwt.kid, '--assertion-audience', 'token-endpoint'])
      expectExit(add, 0)
      assert.ok(!allFileContents(cli.home).includes(jwt.privateKeyPem.split('\n')[1]), 'the key went to the store, not to a file')
      expectExit(await cli.run(['token', 'client', 'signer', '--no-cache']), 0)
      assert.equal(lastAssertion(lenient).claims.aud, lenient.tokenEndpoint)
    })
  })

  describe('certificate credentials', () => {
    const cli = () => cliWithHome({env: FILE_STORE})
    const tokenFor = (clientId: string, ...extra: string[]) => ['token', 'client', '--issuer', strict.issuer, '--client-id', clientId, '--scope', 'read', '--no-cache', ...extra]

    it('RSA from PEM and from PKCS#12 (OpenSSL 3 and legacy): PS256 with x5t#S256 and no kid, accepted by the strict server', async () => {
      const run = cli()
      for (const [clientId, certificate, extra] of [
        ['cert-app', rsa, ['--certificate-file', rsa.pemPath]],
        ['cert-app', rsa, ['--certificate-file', rsa.pfxPath, '--certificate-password-env', 'PFX_PASSWORD']],
        ['cert-legacy', legacy, ['--certificate-file', legacy.pfxPath, '--certificate-password-env', 'PFX_PASSWORD']],
      ] as const) {
        const result = await run.run(tokenFor(clientId, ...extra), {env: {PFX_PASSWORD: certificate.password}})
        expectExit(result, 0)
        const {claims, header} = lastAssertion()
        assert.equal(header.alg, 'PS256')
        assert.equal(header['x5t#S256'], b64uThumbprint(certificate, 'sha256'))
        assert.equal(header.kid, undefined)
        assert.equal(header.x5c, undefined)
        assert.equal(claims.aud, strict.tokenEndpoint)
        assert.equal(claims.iss, clientId)
      }

      assert.deepEqual(strict.refusals, [])
    })

    it('--thumbprint sha1 sends x5t with RS256; EC keys sign ES256', async () => {
      const run = cli()
      expectExit(await run.run(tokenFor('cert-app', '--certificate-file', rsa.pemPath, '--thumbprint', 'sha1')), 0)
      assert.equal(lastAssertion().header.alg, 'RS256')
      assert.equal(lastAssertion().header.x5t, b64uThumbprint(rsa, 'sha1'))
      assert.equal(lastAssertion().header['x5t#S256'], undefined)

      expectExit(await run.run(tokenFor('cert-ec', '--certificate-file', ec.pemPath)), 0)
      assert.equal(lastAssertion().header.alg, 'ES256')
      assert.equal(lastAssertion().header['x5t#S256'], b64uThumbprint(ec, 'sha256'))
    })

    it('--send-x5c sends the chain, leaf first, which subject name and issuer trust needs (refused without it)', async () => {
      const run = cli()
      const without = await run.run(tokenFor('cert-sni', '--certificate-file', issued.pfxPath, '--certificate-password-env', 'P', '--json'), {env: {P: issued.password}})
      expectExit(without, 4)
      assert.equal(json(without).error.code, 'invalid_client')
      assert.match(strict.refusals.at(-1)!, /needs the chain \(x5c\)/)

      const withChain = await run.run(tokenFor('cert-sni', '--certificate-file', issued.pfxPath, '--certificate-password-env', 'P', '--send-x5c'), {env: {P: issued.password}})
      expectExit(withChain, 0)
      const x5c = lastAssertion().header.x5c as string[]
      assert.equal(x5c.length, 2)
      assert.equal(x5c[1], ca.certificatePem.replaceAll(/-----[A-Z ]+-----|\s/g, ''))
    })

    it('an expired, not yet valid, mismatched, wrongly protected or unreadable certificate: exit 3 before any request, one line saying which', async () => {
      const now = Date.now()
      const expired = await certificates.certificate({endDate: opensslDate(new Date(now - DAY_MS)), startDate: opensslDate(new Date(now - 10 * DAY_MS))})
      const early = await certificates.certificate({endDate: opensslDate(new Date(now + 10 * DAY_MS)), startDate: opensslDate(new Date(now + DAY_MS))})
      const run = cli()
      const mismatched = join(run.home, 'mismatched.pem')
      writeFileSync(mismatched, rsa.certificatePem + readFileSync(stranger.keyPath, 'utf8'))
      const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
        ['certificate_expired', ['--certificate-file', expired.pemPath], {}, /certificate expired on/],
        ['certificate_not_yet_valid', ['--certificate-file', early.pemPath], {}, /not valid yet/],
        ['certificate_key_mismatch', ['--certificate-file', mismatched], {}, /private key does not match the certificate/],
        ['certificate_password', ['--certificate-file', rsa.pfxPath, '--certificate-password-env', 'P'], {P: 'not the password'}, /password in P does not open/],
        ['certificate_password', ['--certificate-file', rsa.pfxPath], {}, /protected by a password.*--certificate-password-env/],
        ['certificate_unreadable', ['--certificate-file', join(run.home, 'missing.pfx')], {}, /cannot read the certificate file .*no such file/],
      ]
      for (const [code, extra, env, message] of cases) {
        const result = await run.run(tokenFor('cert-app', ...extra, '--json'), {env})
        expectExit(result, 3)
        assert.equal(json(result).error.code, code)
        assert.match(json(result).error.message + ' ' + (json(result).error.hint ?? ''), message)
        const human = await run.run(tokenFor('cert-app', ...extra), {env})
        expectExit(human, 3)
        assert.equal(human.stderr.trim().split('\n').length, 1, human.stderr)
      }

      assert.deepEqual(strict.requests, [], 'the server saw no request at all')
      const add = await run.run(['client', 'add', 'old', '--issuer', strict.issuer, '--client-id', 'cert-app', '--certificate-file', expired.pemPath])
      expectExit(add, 3)
      expectExit(await run.run(['client', 'show', 'old']), 3)
    })
  })

  describe('the refresh of a session asks for no more than was granted (RFC 6749 §6)', () => {
    it('sends the granted scopes (no offline_access the server did not grant) to a strict server, which accepts them', async () => {
      const userToken = await strict.mintUserToken({aud: 'api', sub: 'alice'})
      const cli = cliWithHome({env: {...FILE_STORE, S: API_SECRET, USER_TOKEN: userToken}})
      const start = await cli.run([
        'session',
        'start',
        '--issuer',
        strict.issuer,
        '--client-id',
        'api',
        '--client-secret-env',
        'S',
        '--assertion-env',
        'USER_TOKEN',
        '--scope',
        'read',
        '--key',
        'k',
        '--json',
      ])
      expectExit(start, 0)
      assert.equal(strict.tokenRequests.at(-1)!.params.scope, 'read offline_access', 'the start asks for offline_access')
      assert.equal(json(start).scope, 'read', 'and the server grants read')
      const refreshed = await cli.run(['session', 'refresh', '--key', 'k', '--force', '--json'], {env: {S: undefined}})
      expectExit(refreshed, 0)
      assert.equal(strict.tokenRequests.at(-1)!.grant_type, 'refresh_token')
      assert.equal(strict.tokenRequests.at(-1)!.params.scope, 'read')
      assert.deepEqual(strict.refusals, [])
    })
  })

  /** The store-dependent stories, in the encrypted file store and in a real Secret Service. */
  function inStore(name: string, setUp: (context: Mocha.Context) => Promise<{contents(home: string): Promise<string[]>; env(): Record<string, string>}>) {
    describe(`in the ${name}`, () => {
      let store: Awaited<ReturnType<typeof setUp>>
      before(async function () {
        store = await setUp(this)
      })

      const home = (env: Record<string, string | undefined> = {}) => cliWithHome({env: {...store.env(), ...env}})

      it('client add --certificate-file (PKCS#12): the key in the secure store, nothing secret in any file; client show prints the SHA-256 thumbprint as openssl does, and the expiry; remove deletes it', async () => {
        const cli = home({PFX_PASSWORD: rsa.password})
        const add = await cli.run([
          'client',
          'add',
          'web',
          '--issuer',
          strict.issuer,
          '--client-id',
          'cert-app',
          '--scope',
          'read',
          '--certificate-file',
          rsa.pfxPath,
          '--certificate-password-env',
          'PFX_PASSWORD',
        ])
        expectExit(add, 0)
        const files = allFileContents(cli.home)
        const keyBody = readFileSync(rsa.keyPath, 'utf8').split('\n')[1]
        assert.ok(!files.includes('PRIVATE KEY') && !files.includes(keyBody), 'no key material under TOKENCTL_HOME')
        assert.ok(!files.includes(rsa.password), 'no password either')
        const config = readFileSync(join(cli.home, 'config.json'), 'utf8')
        assert.ok(!config.includes(rsa.pfxPath), 'the certificate file is not needed any more')
        assert.ok(
          (await store.contents(cli.home)).some((value) => value.includes('PRIVATE KEY')),
          'the key is in the store',
        )

        const show = await cli.run(['client', 'show', 'web', '--json'])
        expectExit(show, 0)
        const view = json(show)
        assert.equal(`sha256 Fingerprint=${view.certificate.sha256_thumbprint}`, rsa.opensslFingerprint)
        assert.ok(Date.parse(view.certificate.not_after) > Date.now() + 80 * DAY_MS)
        assert.match(view.credential, new RegExp(`^certificate in the ${name}`))
        assert.equal(show.stderr, '', 'no warning 90 days ahead')
        const human = await cli.run(['client', 'show', 'web'])
        assert.match(human.stdout, new RegExp(`sha256_thumbprint":"${view.certificate.sha256_thumbprint}`))

        const token = await cli.run(['token', 'client', 'web', '--json'])
        expectExit(token, 0)
        assert.equal(lastAssertion().header['x5t#S256'], b64uThumbprint(rsa, 'sha256'))
        expectExit(await cli.run(['client', 'remove', 'web']), 0)
        assert.ok(!(await store.contents(cli.home)).some((value) => value.includes('PRIVATE KEY')), 'removed from the store')
      })

      it("client show warns on stderr within 30 days of the certificate's expiry", async () => {
        const cli = home()
        expectExit(await cli.run(['client', 'add', 'soon', '--issuer', strict.issuer, '--client-id', 'cert-expiring', '--certificate-file', expiring.pemPath]), 0)
        const show = await cli.run(['client', 'show', 'soon'])
        expectExit(show, 0)
        assert.match(show.stderr, /warning: the certificate of client "soon" expires on \S+ \(in (9|10) days\): register a new certificate/)
        expectExit(await cli.run(['token', 'client', 'soon', '--scope', 'read']), 0)
      })

      it('a session started with --client-secret-env refreshes with only --key (the variable unset); session end deletes the kept secret', async () => {
        const userToken = await strict.mintUserToken({aud: 'api', sub: 'bob'})
        const cli = home({S: API_SECRET, USER_TOKEN: userToken})
        const start = await cli.run([
          'session',
          'start',
          '--issuer',
          strict.issuer,
          '--client-id',
          'api',
          '--client-secret-env',
          'S',
          '--assertion-env',
          'USER_TOKEN',
          '--scope',
          'read',
          '--key',
          'cron',
        ])
        expectExit(start, 0)
        assert.ok(!allFileContents(cli.home).includes(API_SECRET), 'the secret is in no file')
        const cron = await cli.run(['session', 'refresh', '--key', 'cron', '--force', '--json'], {env: {S: undefined, USER_TOKEN: undefined}})
        expectExit(cron, 0)
        assert.equal(json(cron).token_source, 'identity_provider')
        const basic = Buffer.from(String(strict.tokenRequests.at(-1)!.headers.authorization).replace(/^Basic /, ''), 'base64').toString()
        assert.equal(decodeURIComponent(basic.split(':')[1]), API_SECRET, 'the kept secret authenticated the refresh')

        const show = json(await cli.run(['session', 'show', '--key', 'cron', '--json']))
        assert.equal(show.credential, 'kept with the session')
        assert.equal(show.token_endpoint, strict.tokenEndpoint)
        const listed = json(await cli.run(['session', 'list', '--json']))
        assert.equal(listed[0].token_endpoint, strict.tokenEndpoint)
        assert.ok(
          (await store.contents(cli.home)).some((value) => value.includes(API_SECRET)),
          'kept in the store',
        )

        expectExit(await cli.run(['session', 'end', '--key', 'cron'], {env: {S: undefined}}), 0)
        assert.ok(!(await store.contents(cli.home)).some((value) => value.includes(API_SECRET)), 'gone with the session')
      })

      it('a session started with a certificate (or TOKENCTL_CLIENT_SECRET) keeps it: the cron line needs only --key', async () => {
        const cli = home()
        const alice = await strict.mintUserToken({aud: 'cert-app', sub: 'alice'})
        const start = await cli.run(
          [
            'session',
            'start',
            '--issuer',
            strict.issuer,
            '--client-id',
            'cert-app',
            '--certificate-file',
            rsa.pfxPath,
            '--certificate-password-env',
            'P',
            '--assertion-env',
            'U',
            '--scope',
            'read',
            '--key',
            'cert',
          ],
          {env: {P: rsa.password, U: alice}},
        )
        expectExit(start, 0)
        expectExit(await cli.run(['session', 'refresh', '--key', 'cert', '--force']), 0)
        assert.equal(strict.tokenRequests.at(-1)!.grant_type, 'refresh_token')
        assert.equal(lastAssertion().header['x5t#S256'], b64uThumbprint(rsa, 'sha256'))

        const carol = await strict.mintUserToken({aud: 'api', sub: 'carol'})
        const fromEnvironment = await cli.run(['session', 'start', '--issuer', strict.issuer, '--client-id', 'api', '--assertion-env', 'U', '--scope', 'read', '--key', 'env'], {
          env: {TOKENCTL_CLIENT_SECRET: API_SECRET, U: carol},
        })
        expectExit(fromEnvironment, 0)
        expectExit(await cli.run(['session', 'refresh', '--key', 'env', '--force']), 0)
      })

      it('a session from a named client follows client add --replace; credential flags to session refresh override for that run', async () => {
        const userToken = await strict.mintUserToken({aud: 'api', sub: 'dave'})
        const cli = home({USER_TOKEN: userToken})
        const add = (secret: string) => cli.run(['client', 'add', 'api', '--issuer', strict.issuer, '--client-id', 'api', '--client-secret-stdin', '--replace'], {input: secret})
        expectExit(await add(API_SECRET), 0)
        expectExit(await cli.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--key', 'follow']), 0)
        assert.equal(json(await cli.run(['session', 'show', '--key', 'follow', '--json'])).credential, 'named client api')

        expectExit(await add('rotated-away'), 0)
        const stale = await cli.run(['session', 'refresh', '--key', 'follow', '--force', '--json'])
        expectExit(stale, 4)
        assert.equal(json(stale).error.code, 'invalid_client', "the refresh used the client's new (wrong) secret")
        const overridden = await cli.run(['session', 'refresh', '--key', 'follow', '--force', '--client-secret-env', 'S'], {env: {S: API_SECRET}})
        expectExit(overridden, 0)
        expectExit(await add(API_SECRET), 0)
        expectExit(await cli.run(['session', 'refresh', '--key', 'follow', '--force']), 0)
      })
    })
  }

  inStore('file store', async () => ({
    async contents(home) {
      const previous = process.env.TOKENCTL_HOME
      process.env.TOKENCTL_HOME = home
      try {
        const fileStore = new FileStore({passphrase: PASSPHRASE})
        return Promise.all((await fileStore.list('')).map(async (entry) => (await fileStore.get(entry)) ?? ''))
      } finally {
        if (previous === undefined) delete process.env.TOKENCTL_HOME
        else process.env.TOKENCTL_HOME = previous
      }
    },
    env: () => FILE_STORE,
  }))

  let keyring: KeyringSession | undefined
  after(async () => {
    await keyring?.stop()
  })
  inStore('keychain', async () => {
    keyring = await requireKeyring()
    const service = `tokenctl-e2e-strict-${process.pid}`
    return {
      async contents() {
        return (await keyring!.secretToolSearch({service})).map((item) => item.secret ?? '')
      },
      env: () => ({...keyring!.env, TOKENCTL_KEYCHAIN_SERVICE: service}),
    }
  })

  describe('a fleet (Redis store)', () => {
    it('client show on a host that did not store the secret says it is in the shared store', async function () {
      const redis = await requireRedis()
      try {
        const env = {...redis.env, TOKENCTL_REDIS_PREFIX: `tokenctl-e2e-strict-${process.pid}:`, TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}
        const a = cliWithHome({env})
        const b = cliWithHome({env, home: tempHome()})
        expectExit(await a.run(['client', 'add', 'ci', '--issuer', lenient.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: 'basic-secret'}), 0)
        expectExit(await b.run(['client', 'add', 'ci', '--issuer', lenient.issuer, '--client-id', 'basic']), 0)
        const show = json(await b.run(['client', 'show', 'ci', '--json']))
        assert.equal(show.secret, 'stored')
        assert.equal(show.credential, 'client secret in the shared store (Redis)')
        expectExit(await b.run(['token', 'client', 'ci', '--no-cache']), 0)
      } finally {
        await redis.dispose()
      }
    })
  })
})
