/**
 * Mutual TLS (RFC 8705) end to end: tokenctl against dev idp served over https with a CA of its own
 * (src/lib/devidp/pki.ts) and a second port that asks for client certificates: the
 * mtls_endpoint_aliases, where oidc-provider authenticates `self_signed_tls_client_auth` clients by
 * their registered certificate and `tls_client_auth` ones by their subject, and binds their tokens
 * to the certificate (`cnf` `x5t#S256`); and dev idp's API on that port, which accepts a bound token
 * only over a connection presenting the same certificate. The harness test
 * (test/harness/sender-constraints.test.ts) shows that another certificate, or none, is refused.
 */
import {strict as assert} from 'node:assert'
import {createHash, X509Certificate} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {decodeJwt} from 'jose'

import {devPki, type DevPki} from '../../src/lib/devidp/pki.js'
import {allFileContents, expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type AuthServer, startAuthServer} from '../helpers/auth-server.js'
import {certificateFactory, type TestCertificate} from '../helpers/certificates.js'
import {cliWithHome} from '../helpers/cli.js'
import {requireKeyring, type KeyringSession} from '../helpers/keyring.js'

const PASSPHRASE = 'mtls tests'
const x5tOf = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url')

describe('mutual TLS (RFC 8705) end to end: tls_client_auth, self_signed_tls_client_auth, certificate-bound tokens', function () {
  this.timeout(120_000)
  const certificates = certificateFactory()
  let directory: string
  let pki: DevPki
  let server: AuthServer
  let keyring: KeyringSession | undefined
  let issued: TestCertificate
  let other: TestCertificate
  let x5t: string

  before(async () => {
    directory = mkdtempSync(join(tmpdir(), 'tokenctl-mtls-e2e-'))
    pki = await devPki(directory)
    x5t = x5tOf(pki.clientCertificateOnly)
    const ca = {certificatePath: pki.caFile, certificatePem: pki.caCertificate, keyPath: join(directory, 'ca-key.pem')}
    issued = await certificates.certificate({ca, subject: 'pki-client'})
    other = await certificates.certificate({subject: 'mtls'})
    server = await startAuthServer({
      devClients: [{authMethod: 'tls_client_auth', certificate: issued.certificatePem, clientId: 'pki-client', grantTypes: ['client_credentials']}],
      mtlsClientCertificate: pki.clientCertificateOnly,
      tls: {ca: pki.caCertificate, cert: pki.serverCertificate, key: pki.serverKey},
    })
  })

  after(async () => {
    await server?.stop()
    await keyring?.stop()
    certificates.remove()
    rmSync(directory, {force: true, recursive: true})
  })

  beforeEach(() => server.resetCounters())

  const mtlsHost = () => new URL(server.mtls!.origin).host
  /** Token requests that reached the server, with where they went and what the form carried. */
  const sentTo = () =>
    server.tokenRequests.map((request) => ({
      host: request.headers.host,
      secret: 'client_secret' in request.params || 'client_assertion' in request.params || request.headers.authorization !== undefined,
    }))

  const stores: Array<{env: () => Record<string, string | undefined>; name: string}> = [
    {env: () => ({TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}), name: 'file store'},
    {env: () => ({...keyring!.env, TOKENCTL_KEYCHAIN_SERVICE: `tokenctl-mtls-${process.pid}-${Math.random().toString(36).slice(2)}`, TOKENCTL_STORE: 'keychain'}), name: 'keychain'},
  ]
  for (const store of stores) {
    describe(`in the ${store.name}`, () => {
      before(async () => {
        if (store.name === 'keychain') keyring ??= await requireKeyring()
      })

      async function mtlsClient() {
        const cli = cliWithHome({env: store.env()})
        const add = await cli.run([
          'client',
          'add',
          'mtls',
          '--issuer',
          server.issuer,
          '--ca-file',
          pki.caFile,
          '--client-id',
          'mtls',
          '--auth-method',
          'self_signed_tls_client_auth',
          '--certificate-file',
          pki.clientFile,
          '--json',
        ])
        expectExit(add, 0)
        assert.deepEqual(json(add).binding, {'x5t#S256': x5t})
        return cli
      }

      it('the worker flow: the certificate in the handshake at the mTLS alias, client_id alone in the form, a bound token; call presents the certificate', async () => {
        const cli = await mtlsClient()
        const result = await cli.run(['token', 'client', 'mtls', '--json'])
        expectExit(result, 0)
        assert.deepEqual(decodeJwt(json(result).access_token).cnf, {'x5t#S256': x5t})
        assert.deepEqual(sentTo(), [{host: mtlsHost(), secret: false}])
        assert.equal(server.tokenRequests[0].params.client_id, 'mtls')

        const called = await cli.run(['call', `${server.mtls!.apiUrl}/echo`, '--client', 'mtls', '--ca-file', pki.caFile])
        expectExit(called, 0)
        assert.equal(JSON.parse(called.stdout).claims.client_id, 'mtls')
        // The same token over a connection that presents no certificate: an API refuses it.
        const plain = await cli.run(['call', `${server.apiUrl}/echo`, '--token-env', 'T', '--ca-file', pki.caFile], {env: {T: json(result).access_token}})
        expectExit(plain, 8)
        assert.match(plain.stdout, /without a client certificate/)
        assert.ok(!allFileContents(cli.home).includes(pki.clientCertificate.split('-----BEGIN PRIVATE KEY-----')[1].slice(0, 64)), "the certificate's key is in no file of the home")
      })

      it('on-behalf-of in both flavors: the exchanged token is bound to the certificate', async () => {
        const cli = await mtlsClient()
        const userToken = await server.mintUserToken({aud: 'mtls', sub: 'alice'})
        for (const flavor of ['entra', 'rfc8693']) {
          const exchanged = await cli.run(['token', 'obo', 'mtls', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--flavor', flavor, '--json'], {env: {USER_TOKEN: userToken}})
          expectExit(exchanged, 0)
          assert.deepEqual(decodeJwt(json(exchanged).access_token).cnf, {'x5t#S256': x5t})
        }

        assert.ok(sentTo().every((request) => request.host === mtlsHost() && !request.secret))
      })

      it('a session: start and refreshes over mutual TLS, session show names the certificate, call --session presents it', async () => {
        const cli = await mtlsClient()
        const userToken = await server.mintUserToken({aud: 'mtls', sub: 'bob'})
        expectExit(await cli.run(['session', 'start', 'mtls', '--assertion-env', 'USER_TOKEN', '--session-key', 'nightly'], {env: {USER_TOKEN: userToken}}), 0)
        const refreshed = await cli.run(['session', 'refresh', '--session-key', 'nightly', '--force', '--json'])
        expectExit(refreshed, 0)
        assert.deepEqual(decodeJwt(json(refreshed).access_token).cnf, {'x5t#S256': x5t})
        assert.equal(server.tokenRequests.at(-1)!.grant_type, 'refresh_token')
        assert.equal(server.tokenRequests.at(-1)!.headers.host, mtlsHost())
        assert.deepEqual(json(await cli.run(['session', 'show', '--session-key', 'nightly', '--json'])).binding, {'x5t#S256': x5t})
        expectExit(await cli.run(['call', `${server.mtls!.apiUrl}/echo`, '--session-key', 'nightly', '--ca-file', pki.caFile]), 0)
      })
    })
  }

  describe('in the file store only', () => {
    const cli = () => cliWithHome({env: {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}})

    it("tls_client_auth with a certificate the server's CA issued, from a PKCS#12 file, flags alone", async () => {
      const result = await cli().run(
        [
          'token',
          'client',
          '--issuer',
          server.issuer,
          '--ca-file',
          pki.caFile,
          '--client-id',
          'pki-client',
          '--auth-method',
          'tls_client_auth',
          '--certificate-file',
          issued.pfxPath,
          '--certificate-password-env',
          'P',
          '--json',
        ],
        {env: {P: issued.password}},
      )
      expectExit(result, 0)
      assert.deepEqual(decodeJwt(json(result).access_token).cnf, {'x5t#S256': x5tOf(issued.certificatePem)})
      assert.deepEqual(sentTo(), [{host: mtlsHost(), secret: false}])
    })

    it('a certificate other than the registered one: the server refuses the client (exit 4), the advice names the thumbprint', async () => {
      const result = await cli().run([
        'token',
        'client',
        '--issuer',
        server.issuer,
        '--ca-file',
        pki.caFile,
        '--client-id',
        'mtls',
        '--auth-method',
        'self_signed_tls_client_auth',
        '--certificate-file',
        other.pemPath,
      ])
      expectExit(result, 4)
      assert.match(result.stderr, /invalid_client/)
      assert.match(result.stderr, /check that the certificate \(SHA-256 thumbprint [\dA-F:]+\) is registered for client mtls with self_signed_tls_client_auth/)
    })

    it('a method of mutual TLS with a secret is a usage error (exit 2)', async () => {
      const result = await cli().run(['token', 'client', '--issuer', server.issuer, '--client-id', 'mtls', '--auth-method', 'tls_client_auth', '--client-secret-env', 'S'], {env: {S: 'x'}})
      expectExit(result, 2)
      assert.match(result.stderr, /tls_client_auth presents a certificate in the TLS handshake: pass --certificate-file PATH/)
    })

    it('token verify --certificate-file compares the certificate with cnf.x5t#S256; without it the binding check fails; call --token-env --certificate-file presents it', async () => {
      const run = cli()
      const token = json(
        await run.run([
          'token',
          'client',
          '--issuer',
          server.issuer,
          '--ca-file',
          pki.caFile,
          '--client-id',
          'mtls',
          '--auth-method',
          'self_signed_tls_client_auth',
          '--certificate-file',
          pki.clientFile,
          '--json',
        ]),
      ).access_token
      const verify = (...extra: string[]) => run.run(['token', 'verify', token, '--issuer', server.issuer, '--ca-file', pki.caFile, ...extra])
      const matching = await verify('--certificate-file', other.certificatePath)
      expectExit(matching, 9)
      assert.match(matching.stdout, /^cnf +failed +bound to the certificate [\w-]+ \(cnf\.x5t#S256\), --certificate-file is [\w-]+$/m)
      const right = await verify('--certificate-file', pki.clientFile)
      expectExit(right, 0)
      assert.match(right.stdout, /^cnf +passed +bound to the certificate of --certificate-file/m)
      const none = await verify()
      expectExit(none, 9)
      assert.match(none.stdout, /an API refuses it as a bearer token/)

      const called = await run.run(['call', `${server.mtls!.apiUrl}/echo`, '--token-env', 'T', '--certificate-file', pki.clientFile, '--ca-file', pki.caFile], {env: {T: token}})
      expectExit(called, 0)
    })
  })
})
