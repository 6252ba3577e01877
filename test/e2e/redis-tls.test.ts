/**
 * The fleet's Redis over TLS (rediss://), as managed services serve it: a server certificate from a
 * private CA (TOKENCTL_REDIS_CA_FILE), a server that wants a client certificate
 * (TOKENCTL_REDIS_CERT_FILE + TOKENCTL_REDIS_KEY_FILE), an ACL user and its password. A real
 * redis-server with `--tls-port`, a test CA made by openssl (test/helpers/tls.ts).
 */
import {strict as assert} from 'node:assert'

import {expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {certificateFactory, type TestCertificate} from '../helpers/certificates.js'
import {type CliResult, cliWithHome} from '../helpers/cli.js'
import {requireRedis, type RedisServer} from '../helpers/redis.js'
import {requireTestPki, type TestPki} from '../helpers/tls.js'

const PASSPHRASE = 'fleet passphrase from a secret manager'

describe('a fleet on Redis over TLS (end to end: rediss://, a private CA, a client certificate, a real redis-server)', function () {
  this.timeout(120_000)
  let server: AuthServer
  let pki: TestPki
  let otherPki: TestPki
  let certificates: ReturnType<typeof certificateFactory>
  let clientCertificate: TestCertificate
  let secure: RedisServer
  let mutual: RedisServer
  const outputs: CliResult[] = []

  useAuthServer((started) => {
    server = started
  })
  before(async function () {
    this.timeout(60_000)
    pki = await requireTestPki({caName: 'tokenctl redis test CA'})
    otherPki = await requireTestPki({caName: "another CA, not the server's"})
    certificates = certificateFactory()
    clientCertificate = await certificates.certificate({ca: {certificatePath: pki.caCertPath, certificatePem: pki.caCert, keyPath: pki.caKeyPath}, subject: 'fleet host', type: 'ec'})
    secure = await requireRedis({acl: true, tls: pki})
    mutual = await requireRedis({acl: true, clientCertificate, tls: pki})
  })
  after(async () => {
    await secure?.dispose()
    await mutual?.dispose()
    pki?.remove()
    otherPki?.remove()
    certificates?.remove()
  })

  /** A home on `redis` (its env trusts the test CA through TOKENCTL_REDIS_CA_FILE); every output kept for the last test. */
  function home(redis: RedisServer) {
    const cli = cliWithHome({env: {...redis.env, TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}})
    return {
      async run(args: string[], options?: Parameters<typeof cli.run>[1]) {
        const result = await cli.run(args, options)
        outputs.push(result)
        return result
      },
    }
  }

  it("TOKENCTL_REDIS_CA_FILE trusts the server's CA: a secret stored, a token fetched then cached; NODE_EXTRA_CA_CERTS does as well", async () => {
    const a = home(secure)
    const status = await a.run(['store', 'status', '--json'])
    expectExit(status, 0)
    assert.equal(json(status).location, `Redis at rediss://tokenctl@127.0.0.1:${secure.port} (one server, 0 replicas), keys under "tokenctl:"`)
    expectExit(await a.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: server.clients.basic.clientSecret}), 0)
    const first = await a.run(['token', 'client', 'ci', '--json'])
    expectExit(first, 0)
    assert.equal(json(first).token_source, 'identity_provider')
    assert.equal(first.stderr, '', 'no warning: one server has no replica to wait for')
    const again = await a.run(['token', 'client', 'ci', '--json'], {env: {NODE_EXTRA_CA_CERTS: pki.caCertPath, TOKENCTL_REDIS_CA_FILE: undefined}})
    expectExit(again, 0)
    assert.equal(json(again).token_source, 'cache')
  })

  it('a wrong CA is exit 7: the server named, its certificate not trusted, the variable to fix; never the password', async () => {
    const a = home(secure)
    const wrong = await a.run(['session', 'list', '--json'], {env: {TOKENCTL_REDIS_CA_FILE: otherPki.caCertPath}})
    expectExit(wrong, 7)
    const {error} = json(wrong)
    assert.equal(error.code, 'store_unavailable')
    assert.match(error.message, new RegExp(`^Redis at rediss://(tokenctl@)?127\\.0\\.0\\.1:${secure.port} presented a TLS certificate tokenctl does not trust: .*(certificate|self-signed)`))
    assert.equal(error.hint, `TOKENCTL_REDIS_CA_FILE (${otherPki.caCertPath}) must hold the CA that signed the Redis server's certificate, for the host name in TOKENCTL_REDIS_URL`)

    const none = await a.run(['store', 'status'], {env: {TOKENCTL_REDIS_CA_FILE: undefined, TOKENCTL_REDIS_URL: secure.url, TOKENCTL_REDIS_PASSWORD: undefined}})
    expectExit(none, 7)
    assert.match(none.stdout, /answers: +no — Redis at rediss:\/\/(tokenctl@)?127\.0\.0\.1:\d+ presented a TLS certificate tokenctl does not trust/)
  })

  it('a CA file that cannot be read, or TLS files with redis://, are exit 3 before anything is reached', async () => {
    const a = home(secure)
    const unreadable = await a.run(['session', 'list', '--json'], {env: {TOKENCTL_REDIS_CA_FILE: '/nonexistent/ca.pem'}})
    expectExit(unreadable, 3)
    assert.match(json(unreadable).error.message, /^cannot read TOKENCTL_REDIS_CA_FILE \/nonexistent\/ca\.pem: ENOENT/)
    const plain = await a.run(['session', 'list', '--json'], {env: {TOKENCTL_REDIS_URL: `redis://tokenctl@127.0.0.1:${secure.port}`}})
    expectExit(plain, 3)
    assert.equal(json(plain).error.message, 'TOKENCTL_REDIS_CA_FILE is for TLS, and TOKENCTL_REDIS_URL starts with redis://')
    const half = await a.run(['session', 'list', '--json'], {env: {TOKENCTL_REDIS_CERT_FILE: clientCertificate.certificatePath}})
    expectExit(half, 3)
    assert.equal(json(half).error.message, 'TOKENCTL_REDIS_CERT_FILE is set without TOKENCTL_REDIS_KEY_FILE')
  })

  it('a server that wants a client certificate: exit 7 saying so without one; TOKENCTL_REDIS_CERT_FILE and TOKENCTL_REDIS_KEY_FILE present it', async () => {
    const a = home(mutual)
    const without = await a.run(['store', 'status', '--json'])
    expectExit(without, 7)
    assert.match(json(without).error, new RegExp(`^Redis at rediss://(tokenctl@)?127\\.0\\.0\\.1:${mutual.port} wants a client certificate \\(the TLS handshake ended with "certificate required"\\)$`))
    assert.equal(json(without).error_code, 'store_unavailable')
    const withCertificate = {TOKENCTL_REDIS_CERT_FILE: clientCertificate.certificatePath, TOKENCTL_REDIS_KEY_FILE: clientCertificate.keyPath}
    const status = await a.run(['store', 'status', '--json'], {env: withCertificate})
    expectExit(status, 0)
    expectExit(await a.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {env: withCertificate, input: server.clients.basic.clientSecret}), 0)
    const token = await a.run(['token', 'client', 'ci', '--json'], {env: withCertificate})
    expectExit(token, 0)
  })

  it('the Redis password is in no output of any run above', () => {
    assert.ok(outputs.length >= 12, `${outputs.length} runs`)
    for (const result of outputs) {
      for (const password of [secure.password, mutual.password]) assert.ok(!result.stdout.includes(password) && !result.stderr.includes(password), `${result.stdout}${result.stderr}`)
    }
  })
})
