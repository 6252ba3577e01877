/**
 * The Redis store over TLS, in this process (test/e2e/redis-tls.test.ts runs the same through the
 * CLI): a real redis-server with `--tls-port`, its certificate from a test CA, one that wants a client
 * certificate too. What TOKENCTL_REDIS_CA_FILE, NODE_EXTRA_CA_CERTS, TOKENCTL_REDIS_CERT_FILE and
 * TOKENCTL_REDIS_KEY_FILE do, and what each failure says.
 */
import {strict as assert} from 'node:assert'

import {ConfigError} from '../../src/lib/errors.js'
import {RedisStore, redisSettings} from '../../src/lib/store/redis-store.js'
import {rejectsWith} from '../helpers/assertions.js'
import {certificateFactory, type TestCertificate} from '../helpers/certificates.js'
import {tempHome} from '../helpers/cli.js'
import {requireRedis, type RedisServer} from '../helpers/redis.js'
import {requireTestPki, type TestPki} from '../helpers/tls.js'

const PASSPHRASE = 'correct horse battery staple'

describe('the Redis store over TLS (in process, a real redis-server with a test CA)', function () {
  this.timeout(60_000)
  let pki: TestPki
  let otherPki: TestPki
  let certificates: ReturnType<typeof certificateFactory>
  let clientCertificate: TestCertificate
  let secure: RedisServer
  let mutual: RedisServer
  const stores: RedisStore[] = []
  const saved = {extra: process.env.NODE_EXTRA_CA_CERTS, home: process.env.TOKENCTL_HOME}

  before(async () => {
    process.env.TOKENCTL_HOME = tempHome()
    pki = await requireTestPki({caName: 'tokenctl redis test CA'})
    otherPki = await requireTestPki({caName: 'another CA'})
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
    for (const [variable, value] of [
      ['NODE_EXTRA_CA_CERTS', saved.extra],
      ['TOKENCTL_HOME', saved.home],
    ] as const) {
      if (value === undefined) delete process.env[variable]
      else process.env[variable] = value
    }
  })
  afterEach(async () => {
    delete process.env.NODE_EXTRA_CA_CERTS
    for (const store of stores.splice(0)) await store.close()
  })

  function open(redis: RedisServer, env: Record<string, string | undefined> = {}): RedisStore {
    const store = new RedisStore({passphrase: PASSPHRASE, settings: redisSettings({...redis.env, ...env})})
    stores.push(store)
    return store
  }

  it("TOKENCTL_REDIS_CA_FILE trusts the server's CA", async () => {
    const store = open(secure)
    await store.set('session:a', 'v')
    assert.equal(await open(secure).get('session:a'), 'v')
    await store.check()
    assert.equal(store.location, `Redis at rediss://tokenctl@127.0.0.1:${secure.port} (one server, 0 replicas), keys under "tokenctl:"`)
  })

  it('the CA file is trusted beside NODE_EXTRA_CA_CERTS, not instead of it', async () => {
    // Node reads NODE_EXTRA_CA_CERTS once, at start: the store adds it to the CAs it gives with the file.
    process.env.NODE_EXTRA_CA_CERTS = pki.caCertPath
    await open(secure, {TOKENCTL_REDIS_CA_FILE: otherPki.caCertPath}).check()
  })

  it('a wrong CA: exit 7 saying the certificate is not trusted, and what to set', async () => {
    const wrong = await rejectsWith(open(secure, {TOKENCTL_REDIS_CA_FILE: otherPki.caCertPath}).check(), 'store_unavailable')
    assert.match(
      wrong.message,
      new RegExp(`^Redis at rediss://tokenctl@127\\.0\\.0\\.1:${secure.port} presented a TLS certificate tokenctl does not trust: self-signed certificate in certificate chain$`),
    )
    assert.deepEqual(wrong.suggestions, [`TOKENCTL_REDIS_CA_FILE (${otherPki.caCertPath}) must hold the CA that signed the Redis server's certificate, for the host name in TOKENCTL_REDIS_URL`])
    const none = await rejectsWith(open(secure, {TOKENCTL_REDIS_CA_FILE: undefined}).get('session:a'), 'store_unavailable')
    assert.match(none.message, /presented a TLS certificate tokenctl does not trust: self-signed certificate in certificate chain$/)
    assert.deepEqual(none.suggestions, ["set TOKENCTL_REDIS_CA_FILE to the CA (PEM) that signed the Redis server's certificate"])
  })

  it('a server that wants a client certificate: exit 7 saying so; the certificate and key files present it', async () => {
    const without = await rejectsWith(open(mutual).check(), 'store_unavailable')
    assert.equal(without.message, `Redis at rediss://tokenctl@127.0.0.1:${mutual.port} wants a client certificate (the TLS handshake ended with "certificate required")`)
    assert.deepEqual(without.suggestions, ['set TOKENCTL_REDIS_CERT_FILE and TOKENCTL_REDIS_KEY_FILE to the client certificate and its key (PEM)'])
    const store = open(mutual, {TOKENCTL_REDIS_CERT_FILE: clientCertificate.certificatePath, TOKENCTL_REDIS_KEY_FILE: clientCertificate.keyPath})
    await store.set('session:m', 'v')
    assert.equal(await store.get('session:m'), 'v')
  })

  it('a TLS file that cannot be read is a configuration error (exit 3) naming it', async () => {
    for (const [variable, env] of [
      ['TOKENCTL_REDIS_CA_FILE', {TOKENCTL_REDIS_CA_FILE: '/nonexistent/ca.pem'}],
      ['TOKENCTL_REDIS_CERT_FILE', {TOKENCTL_REDIS_CERT_FILE: '/nonexistent/cert.pem', TOKENCTL_REDIS_KEY_FILE: clientCertificate.keyPath}],
      ['TOKENCTL_REDIS_KEY_FILE', {TOKENCTL_REDIS_CERT_FILE: clientCertificate.certificatePath, TOKENCTL_REDIS_KEY_FILE: '/nonexistent/key.pem'}],
    ] as const) {
      const error = await open(mutual, env)
        .check()
        .then(
          () => undefined,
          (error: unknown) => error,
        )
      assert.ok(error instanceof ConfigError, `${variable}: ${String(error)}`)
      assert.match(error.message, new RegExp(`^cannot read ${variable} /nonexistent/\\w+\\.pem: ENOENT`))
      assert.deepEqual(error.suggestions, [`point ${variable} at a readable PEM file`])
    }

    process.env.NODE_EXTRA_CA_CERTS = '/nonexistent/extra.pem'
    const extra = await open(secure)
      .check()
      .then(
        () => undefined,
        (error: unknown) => error,
      )
    assert.ok(extra instanceof ConfigError && extra.message.startsWith('cannot read NODE_EXTRA_CA_CERTS /nonexistent/extra.pem'), String(extra))
  })
})
