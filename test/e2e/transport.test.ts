/**
 * The transport end to end: trusted CAs (--ca-file, NODE_EXTRA_CA_CERTS), forward proxies
 * (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), discovery (OIDC, then RFC 8414, cached 24 h) and what an
 * unreachable server means (one failure policy for token requests, documents and `call`), each proved
 * against real servers on 127.0.0.1 with the built CLI.
 */
import {strict as assert} from 'node:assert'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {expectExit, stdoutJson} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {cliWithHome, runCli, type CliResult} from '../helpers/cli.js'
import {type HttpsFront, startHttpsFront} from '../helpers/https-front.js'
import {startTestIssuer} from '../helpers/jwt-issuer.js'
import {closedLoopbackPort, deadProxyUrl, type TestProxy, useProxy} from '../helpers/proxy.js'
import {resolverEnv} from '../helpers/resolver.js'
import {requireTestPki, type TestPki} from '../helpers/tls.js'

const JWT = /^[\w-]+\.[\w-]+\.[\w-]+\n$/
const HOUR_MS = 60 * 60 * 1000
/** A name that is not loopback: only the test proxy (or the test resolver) knows it is 127.0.0.1. */
const REMOTE_NAME = 'auth.tokenctl.test'

describe('transport (end to end: TLS trust, proxies, discovery)', function () {
  this.timeout(60_000)
  let server: AuthServer

  useAuthServer((started) => {
    server = started
  })

  /** `token client` with the `basic` client from flags alone, its secret in $S, no token cache. */
  function tokenClient(connection: string[], extra: string[] = []): string[] {
    return ['token', 'client', ...connection, '--client-id', 'basic', '--client-secret-env', 'S', '--no-cache', ...extra]
  }

  function secretEnv(more: Record<string, string> = {}): Record<string, string> {
    return {S: server.clients.basic.clientSecret!, ...more}
  }

  /** A successful run printed a token and the authorization server issued exactly `count` of them. */
  function expectToken(result: CliResult, count = 1): void {
    expectExit(result, 0)
    assert.match(result.stdout, JWT)
    assert.equal(server.tokenRequests.length, count, 'token requests that reached the authorization server')
  }

  function expectJsonError(result: CliResult, exitCode: number, code: string): any {
    expectExit(result, exitCode)
    const {error} = stdoutJson(result)
    assert.equal(error?.code, code, `error code in ${result.stdout}`)
    assert.equal(error.exit_code, exitCode)
    return error
  }

  describe('trusted CAs (an https front with a certificate from a throwaway CA)', () => {
    let pki: TestPki | undefined
    let otherPki: TestPki | undefined
    let front: HttpsFront | undefined
    const tokenEndpoint = () => `${front!.url}/token`

    before(async () => {
      pki = await requireTestPki({dnsNames: [REMOTE_NAME]})
      otherPki = await requireTestPki({caName: 'some other CA'})
      front = await startHttpsFront({origin: server.issuer, cert: pki.serverCert, key: pki.serverKey})
    })

    after(async () => {
      await front?.stop()
      pki?.remove()
      otherPki?.remove()
    })

    beforeEach(() => front?.reset())

    it('refuses an unknown CA: exit 6, code tls_error, a hint naming --ca-file, nothing sent', async () => {
      const json = await runCli(tokenClient(['--token-endpoint', tokenEndpoint()], ['--json']), {env: secretEnv()})
      const error = expectJsonError(json, 6, 'tls_error')
      assert.match(String(error.hint), /--ca-file/)

      const human = await runCli(tokenClient(['--token-endpoint', tokenEndpoint()]), {env: secretEnv()})
      expectExit(human, 6)
      assert.equal(human.stdout, '')
      assert.match(human.stderr, /TLS/)
      assert.match(human.stderr, /--ca-file/)
      assert.equal(front!.requests.length, 0, 'no request got through the TLS handshake')
      assert.equal(server.tokenRequests.length, 0)
    })

    it('--ca-file trusts the CA for this command', async () => {
      const result = await runCli(tokenClient(['--token-endpoint', tokenEndpoint(), '--ca-file', pki!.caCertPath]), {env: secretEnv()})
      expectToken(result)
      assert.deepEqual(
        front!.requests.map((request) => `${request.method} ${request.path}`),
        ['POST /token'],
      )
    })

    it('--ca-file with an unrelated CA still refuses the server (no trust-all, the public roots do not help)', async () => {
      const result = await runCli(tokenClient(['--token-endpoint', tokenEndpoint(), '--ca-file', otherPki!.caCertPath], ['--json']), {env: secretEnv()})
      expectJsonError(result, 6, 'tls_error')
      assert.equal(front!.requests.length, 0)
    })

    it('NODE_EXTRA_CA_CERTS trusts the CA without --ca-file', async () => {
      const result = await runCli(tokenClient(['--token-endpoint', tokenEndpoint()]), {env: secretEnv({NODE_EXTRA_CA_CERTS: pki!.caCertPath})})
      expectToken(result)
    })

    it('--ca-file and NODE_EXTRA_CA_CERTS together: both pointing at the CA, or either one at another CA, still trust it', async () => {
      const both = await runCli(tokenClient(['--token-endpoint', tokenEndpoint(), '--ca-file', pki!.caCertPath]), {
        env: secretEnv({NODE_EXTRA_CA_CERTS: pki!.caCertPath}),
      })
      expectToken(both, 1)

      // --ca-file adds to NODE_EXTRA_CA_CERTS: it does not replace it…
      const extraHasIt = await runCli(tokenClient(['--token-endpoint', tokenEndpoint(), '--ca-file', otherPki!.caCertPath]), {
        env: secretEnv({NODE_EXTRA_CA_CERTS: pki!.caCertPath}),
      })
      expectToken(extraHasIt, 2)
      // …and NODE_EXTRA_CA_CERTS does not hide --ca-file.
      const flagHasIt = await runCli(tokenClient(['--token-endpoint', tokenEndpoint(), '--ca-file', pki!.caCertPath]), {
        env: secretEnv({NODE_EXTRA_CA_CERTS: otherPki!.caCertPath}),
      })
      expectToken(flagHasIt, 3)
    })

    it('an unreadable --ca-file is a configuration error (exit 3), not a TLS failure', async () => {
      const result = await runCli(tokenClient(['--token-endpoint', tokenEndpoint(), '--ca-file', join(pki!.directory, 'missing.pem')], ['--json']), {
        env: secretEnv(),
      })
      expectExit(result, 3)
      assert.match(stdoutJson(result).error.message, /missing\.pem/)
      assert.equal(front!.requests.length, 0)
    })

    describe('through an HTTPS_PROXY tunnel (to a name only the proxy resolves: loopback never goes through a proxy)', () => {
      let proxy: TestProxy
      useProxy(
        (started) => {
          proxy = started
        },
        {hosts: {[REMOTE_NAME]: '127.0.0.1'}},
      )
      const remoteEndpoint = () => `https://${REMOTE_NAME}:${front!.port}/token`

      it('CONNECTs to the front, and --ca-file is honoured inside the tunnel', async () => {
        const result = await runCli(tokenClient(['--token-endpoint', remoteEndpoint(), '--ca-file', pki!.caCertPath]), {
          env: secretEnv({HTTPS_PROXY: proxy.url}),
        })
        expectToken(result)
        assert.deepEqual(proxy.handled(), [`CONNECT ${REMOTE_NAME}:${front!.port}`])
        assert.equal(proxy.requests[0].status, 200)
        assert.deepEqual(
          front!.requests.map((request) => `${request.method} ${request.path}`),
          ['POST /token'],
        )
      })

      it('NODE_EXTRA_CA_CERTS is honoured inside the tunnel', async () => {
        const result = await runCli(tokenClient(['--token-endpoint', remoteEndpoint()]), {
          env: secretEnv({HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: pki!.caCertPath}),
        })
        expectToken(result)
        assert.deepEqual(proxy.handled(), [`CONNECT ${REMOTE_NAME}:${front!.port}`])
      })

      it('without the CA, the tunnel is opened but TLS to the server is still verified: exit 6, tls_error', async () => {
        const result = await runCli(tokenClient(['--token-endpoint', remoteEndpoint()], ['--json']), {env: secretEnv({HTTPS_PROXY: proxy.url})})
        expectJsonError(result, 6, 'tls_error')
        assert.deepEqual(proxy.handled(), [`CONNECT ${REMOTE_NAME}:${front!.port}`])
        assert.equal(front!.requests.length, 0)
      })

      it('an HTTPS_PROXY that is down: exit 6, network_error', async () => {
        const result = await runCli(tokenClient(['--token-endpoint', remoteEndpoint(), '--ca-file', pki!.caCertPath], ['--json']), {
          env: secretEnv({HTTPS_PROXY: await deadProxyUrl()}),
        })
        expectJsonError(result, 6, 'network_error')
        assert.equal(front!.requests.length, 0)
      })

      it('NO_PROXY naming the host (or a parent domain) goes around the proxy; another host or port does not', async () => {
        // Around the proxy, the name is resolved here: the test resolver answers 127.0.0.1 for it.
        const direct = resolverEnv({[REMOTE_NAME]: [['127.0.0.1']]})
        const run = (noProxy: string) =>
          runCli(tokenClient(['--token-endpoint', remoteEndpoint(), '--ca-file', pki!.caCertPath]), {env: secretEnv({...direct, HTTPS_PROXY: proxy.url, NO_PROXY: noProxy})})
        expectToken(await run(REMOTE_NAME), 1)
        expectToken(await run('example.com,.tokenctl.test'), 2)
        expectToken(await run(`${REMOTE_NAME}:${front!.port}`), 3)
        assert.deepEqual(proxy.handled(), [])
        expectToken(await run('example.com'), 4)
        expectToken(await run(`${REMOTE_NAME}:${front!.port + 1}`), 5)
        assert.deepEqual(proxy.handled(), [`CONNECT ${REMOTE_NAME}:${front!.port}`, `CONNECT ${REMOTE_NAME}:${front!.port}`])
      })

      it('https to 127.0.0.1 never goes through HTTPS_PROXY', async () => {
        const result = await runCli(tokenClient(['--token-endpoint', tokenEndpoint(), '--ca-file', pki!.caCertPath]), {env: secretEnv({HTTPS_PROXY: proxy.url})})
        expectToken(result)
        assert.deepEqual(proxy.handled(), [])
        assert.equal(front!.requests.length, 1)
      })
    })
  })

  describe("loopback never goes through a proxy (as Go's net/http): plain http to the loopback authorization server", () => {
    let proxy: TestProxy
    useProxy((started) => {
      proxy = started
    })

    const tokenAt = () => tokenClient(['--token-endpoint', server.tokenEndpoint])

    it('HTTP_PROXY, http_proxy, ALL of them, whatever NO_PROXY says: the token request goes directly', async () => {
      const environments: Array<Record<string, string>> = [
        {HTTP_PROXY: proxy.url},
        {http_proxy: proxy.url},
        {HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com'},
        {HTTP_PROXY: proxy.url, NO_PROXY: ''},
      ]
      for (const [index, env] of environments.entries()) expectToken(await runCli(tokenAt(), {env: secretEnv(env)}), index + 1)
      assert.deepEqual(proxy.handled(), [])
    })

    it('discovery goes directly too', async () => {
      const result = await runCli(tokenClient(['--issuer', server.issuer]), {env: secretEnv({HTTP_PROXY: proxy.url})})
      expectToken(result)
      assert.deepEqual(proxy.handled(), [])
      const paths = server.requests.map((request) => `${request.method} ${request.path}`)
      assert.deepEqual(paths, ['GET /.well-known/openid-configuration', 'POST /token'])
    })

    it('an HTTP_PROXY that is down changes nothing for loopback', async () => {
      const result = await runCli(tokenAt(), {env: secretEnv({HTTP_PROXY: await deadProxyUrl()})})
      expectToken(result)
    })
  })

  describe('what an unreachable server means, in one sentence that says what to check (exit 6)', () => {
    /** The requests a run made, as its --verbose trace lists them (each failed one once). */
    const failedAttempts = (result: CliResult) => result.stderr.split('\n').filter((line) => /^\* [A-Z]+ \S+ → failed: /.test(line)).length
    const plainHttp = /^that port speaks http, not https: use http:\/\/ for /

    it('an https URL to a port that speaks http: "that port speaks http, not https: use http://", tls_error, tried once — token endpoint, discovery and call', async () => {
      const httpPort = new URL(server.issuer).port
      const token = await runCli(tokenClient(['--token-endpoint', `https://127.0.0.1:${httpPort}/token`], ['--json', '--verbose']), {env: secretEnv()})
      const tokenError = expectJsonError(token, 6, 'tls_error')
      assert.match(tokenError.message, new RegExp(`^TLS failure talking to 127\\.0\\.0\\.1:${httpPort}: ERR_SSL_WRONG_VERSION_NUMBER: wrong version number$`))
      assert.equal(tokenError.hint, "that port speaks http, not https: use http:// for the --issuer / --token-endpoint URL (or the named client's)")
      assert.equal(failedAttempts(token), 1, 'the same answer again would not help: not retried')

      const discovery = await runCli(tokenClient(['--issuer', `https://127.0.0.1:${httpPort}`], ['--json']), {env: secretEnv()})
      assert.match(expectJsonError(discovery, 6, 'tls_error').hint, plainHttp)

      const call = await runCli(['call', `https://127.0.0.1:${httpPort}/anything`, '--token-env', 'T', '--json', '--verbose'], {env: {T: 'a-token'}})
      const callError = expectJsonError(call, 6, 'tls_error')
      assert.match(callError.message, new RegExp(`^TLS failure talking to 127\\.0\\.0\\.1:${httpPort}: EPROTO: wrong version number$`))
      assert.equal(callError.hint, 'that port speaks http, not https: use http:// for the URL')
      assert.equal(failedAttempts(call), 1, 'a GET, but not retried')
      assert.equal(server.requests.length, 0, 'nothing reached the server as HTTP')
    })

    it('token verify: a jwks_uri with https to an http port says the same, naming the jwks_uri', async () => {
      const issuer = await startTestIssuer({jwksUri: (url) => `${url.replace(/^http:/, 'https:')}/keys`})
      try {
        const result = await runCli(['token', 'verify', '--issuer', issuer.issuer, '--json'], {input: await issuer.sign()})
        const error = expectJsonError(result, 6, 'tls_error')
        assert.equal(error.hint, "that port speaks http, not https: use http:// for the jwks_uri of the issuer's discovery document")
        assert.equal(issuer.jwksRequests, 0)
      } finally {
        await issuer.stop()
      }
    })

    it('a closed port: "nothing listens on 127.0.0.1:PORT", retried as a server restarting would be — token endpoint and call', async () => {
      const port = await closedLoopbackPort()
      const token = await runCli(tokenClient(['--token-endpoint', `http://127.0.0.1:${port}/token`], ['--json', '--verbose']), {env: secretEnv()})
      const tokenError = expectJsonError(token, 6, 'network_error')
      assert.match(tokenError.message, new RegExp(`^cannot reach 127\\.0\\.0\\.1:${port}: ECONNREFUSED`))
      assert.equal(tokenError.hint, `nothing listens on 127.0.0.1:${port}: check the --issuer / --token-endpoint URL (or the named client's) and its port, and that the server is running`)
      assert.equal(failedAttempts(token), 4, 'the first attempt and 3 retries')

      const call = await runCli(['call', `https://127.0.0.1:${port}/anything`, '--token-env', 'T', '--retries', '1', '--json', '--verbose'], {env: {T: 'a-token'}})
      const callError = expectJsonError(call, 6, 'network_error')
      assert.equal(callError.hint, `nothing listens on 127.0.0.1:${port}: check the URL and its port, and that the API is running`)
      assert.equal(failedAttempts(call), 2, '--retries 1')
      const post = await runCli(['call', `http://127.0.0.1:${port}/anything`, '--token-env', 'T', '-d', 'x=1', '--json', '--verbose'], {env: {T: 'a-token'}})
      expectJsonError(post, 6, 'network_error')
      assert.equal(failedAttempts(post), 1, 'a POST is sent once without --retry-all')
    })
  })

  describe('discovery: OpenID Connect, then RFC 8414, cached 24 h', () => {
    const started: DiscoveryServer[] = []

    afterEach(async () => {
      await Promise.all(started.splice(0).map((discovery) => discovery.stop()))
    })

    async function discoveryServer(options: DiscoveryOptions): Promise<DiscoveryServer> {
      const discovery = await startDiscoveryServer(options, () => server.tokenEndpoint)
      started.push(discovery)
      return discovery
    }

    const OIDC = '/.well-known/openid-configuration'
    const RFC8414 = '/.well-known/oauth-authorization-server'

    it('falls back to /.well-known/oauth-authorization-server when the OpenID document is missing', async () => {
      const discovery = await discoveryServer({oauth: true})
      const cli = cliWithHome({env: secretEnv()})
      const first = await cli.run(tokenClient(['--issuer', discovery.issuer]))
      expectToken(first)
      assert.deepEqual(discovery.requested, [`GET ${OIDC}`, `GET ${RFC8414}`])

      discovery.reset()
      server.resetCounters()
      const second = await cli.run(tokenClient(['--issuer', discovery.issuer]))
      expectToken(second)
      assert.deepEqual(discovery.requested, [], 'the metadata came from the cache')
      assert.deepEqual(
        server.requests.map((request) => `${request.method} ${request.path}`),
        ['POST /token'],
      )
    })

    it('an issuer with a path: the RFC 8414 document is at /.well-known/oauth-authorization-server/PATH', async () => {
      const discovery = await discoveryServer({oauth: true, path: '/tenant-a'})
      const result = await runCli(tokenClient(['--issuer', discovery.issuer]), {env: secretEnv()})
      expectToken(result)
      assert.deepEqual(discovery.requested, [`GET /tenant-a${OIDC}`, `GET ${RFC8414}/tenant-a`])
    })

    it('an OpenID document is used as it is, without asking for the RFC 8414 one', async () => {
      const discovery = await discoveryServer({oidc: true, oauth: true})
      const result = await runCli(tokenClient(['--issuer', discovery.issuer]), {env: secretEnv()})
      expectToken(result)
      assert.deepEqual(discovery.requested, [`GET ${OIDC}`])
    })

    it('a document naming another issuer: exit 3, and the message says so', async () => {
      const discovery = await discoveryServer({oauth: true, issuer: 'http://127.0.0.1:1/someone-else'})
      const result = await runCli(tokenClient(['--issuer', discovery.issuer], ['--json']), {env: secretEnv()})
      const error = expectJsonError(result, 3, 'config_error')
      assert.equal(server.tokenRequests.length, 0)
      // The user must learn that the document exists but names another issuer, not that there is none.
      assert.match(`${error.message} ${error.hint}`, /another issuer|issuer.*(differ|mismatch|match)/i)
      assert.doesNotMatch(String(error.message), /no discovery document/)
    })

    it('an issuer with neither document: exit 3 no_discovery_document with a hint about --issuer and --token-endpoint', async () => {
      const discovery = await discoveryServer({})
      const result = await runCli(tokenClient(['--issuer', discovery.issuer], ['--json']), {env: secretEnv()})
      const error = expectJsonError(result, 3, 'no_discovery_document')
      assert.match(String(error.hint), /--issuer/)
      assert.match(String(error.hint), /--token-endpoint/)
      assert.deepEqual(discovery.requested, [`GET ${OIDC}`, `GET ${RFC8414}`])
      assert.equal(server.tokenRequests.length, 0)

      const human = await runCli(tokenClient(['--issuer', discovery.issuer]), {env: secretEnv()})
      expectExit(human, 3)
      assert.equal(human.stdout, '')
      assert.match(human.stderr, /--token-endpoint/)
    })

    it('the cached metadata expires after 24 h (and not before)', async () => {
      const discovery = await discoveryServer({oauth: true})
      const cli = cliWithHome({env: secretEnv()})
      expectToken(await cli.run(tokenClient(['--issuer', discovery.issuer])))
      assert.equal(discovery.requested.length, 2)

      const directory = join(cli.home, 'cache', 'metadata')
      const files = readdirSync(directory).filter((name) => name.endsWith('.json'))
      assert.equal(files.length, 1, `one cached document in ${directory}`)
      const file = join(directory, files[0])
      const age = (ms: number) => {
        const cached = JSON.parse(readFileSync(file, 'utf8')) as {fetchedAt: number}
        assert.equal(typeof cached.fetchedAt, 'number')
        writeFileSync(file, JSON.stringify({...cached, fetchedAt: Date.now() - ms}))
      }

      age(23 * HOUR_MS)
      discovery.reset()
      expectToken(await cli.run(tokenClient(['--issuer', discovery.issuer])), 2)
      assert.deepEqual(discovery.requested, [], '23 h old: still fresh')

      age(25 * HOUR_MS)
      expectToken(await cli.run(tokenClient(['--issuer', discovery.issuer])), 3)
      assert.deepEqual(discovery.requested, [`GET ${OIDC}`, `GET ${RFC8414}`], '25 h old: discovered again')
      const refreshed = JSON.parse(readFileSync(file, 'utf8')) as {fetchedAt: number}
      assert.ok(Date.now() - refreshed.fetchedAt < 60_000, 'the new document was cached with a new fetchedAt')
    })
  })
})

interface DiscoveryOptions {
  /** Serve the OpenID Connect document (else 404). */
  oidc?: boolean
  /** Serve the RFC 8414 document (else 404). */
  oauth?: boolean
  /** The issuer's path, e.g. `/tenant-a` (default none). */
  path?: string
  /** The `issuer` the documents name, when it should differ from the server's own. */
  issuer?: string
}

interface DiscoveryServer {
  /** The issuer URL to pass as --issuer. */
  issuer: string
  /** `METHOD path` of every request, in order. */
  requested: string[]
  reset(): void
  stop(): Promise<void>
}

/**
 * A bare authorization-server metadata host: answers 404 to everything but the documents it is told
 * to serve, which name the test authorization server's token endpoint.
 */
async function startDiscoveryServer(options: DiscoveryOptions, tokenEndpoint: () => string): Promise<DiscoveryServer> {
  const requested: string[] = []
  const path = options.path ?? ''
  let issuer = ''
  const document = () => ({
    issuer: options.issuer ?? issuer,
    token_endpoint: tokenEndpoint(),
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    response_types_supported: ['code'],
  })
  const documents = new Map<string, boolean | undefined>([
    [`${path}/.well-known/openid-configuration`, options.oidc],
    [`/.well-known/oauth-authorization-server${path}`, options.oauth],
  ])
  const http: Server = createServer((req, res) => {
    const requestPath = new URL(req.url ?? '/', 'http://x').pathname
    requested.push(`${req.method} ${requestPath}`)
    if (req.method === 'GET' && documents.get(requestPath)) {
      res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify(document()))
    } else {
      res.writeHead(404, {'content-type': 'text/plain'}).end('Not Found')
    }
  })
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(0, '127.0.0.1', () => resolve())
  })
  issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}${path}`
  return {
    issuer,
    requested,
    reset() {
      requested.length = 0
    },
    async stop() {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()))
      http.closeAllConnections()
      await closed
    },
  }
}
