/**
 * Discovery (src/lib/oauth/discovery.ts) and the metadata cache (src/lib/oauth/metadata.ts) against a
 * server in this process whose discovery locations answer whatever a test sets: what counts as "no
 * document here" (and how it is told), what is retried, what is refused, and what is sent where.
 * test/unit/discovery-locations.test.ts pins the locations themselves; the end-to-end tests run the
 * same against oidc-provider and the RFC 8414-only server.
 */
import {strict as assert} from 'node:assert'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {documentPath, DOCUMENT_TTL_MS, writeDocument} from '../../src/lib/document-cache.js'
import {ConfigError, ExitCode, NetworkError, TokenctlError} from '../../src/lib/errors.js'
import {httpContext} from '../../src/lib/http/context.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {discover} from '../../src/lib/oauth/discovery.js'
import {lastKnownMetadata, serverMetadata, tokenEndpointOf} from '../../src/lib/oauth/metadata.js'
import {startHttpsFront} from '../helpers/https-front.js'
import {closedLoopbackPort} from '../helpers/proxy.js'
import {requireTestPki} from '../helpers/tls.js'

const OIDC = '/.well-known/openid-configuration'
const RFC8414 = '/.well-known/oauth-authorization-server'

interface Answer {
  body?: string
  headers?: Record<string, string>
  /** Never answered (a server that hangs). */
  hang?: boolean
  status: number
}

const json = (status: number, value: unknown): Answer => ({body: JSON.stringify(value), headers: {'content-type': 'application/json'}, status})

/** A server whose paths answer what `answers` holds (404 JSON elsewhere), recording every path asked. */
interface DiscoveryServer {
  answers: Map<string, Answer | ((origin: string) => Answer)>
  asked: string[]
  origin: string
  server: Server
}

async function startDiscoveryServer(): Promise<DiscoveryServer> {
  const answers = new Map<string, Answer | ((origin: string) => Answer)>()
  const asked: string[] = []
  const state = {answers, asked, origin: '', server: createServer()}
  state.server.on('request', (req, res) => {
    asked.push(req.url ?? '')
    const found = answers.get(req.url ?? '')
    const answer = typeof found === 'function' ? found(state.origin) : (found ?? json(404, {error: 'not_found'}))
    if (answer.hang) return
    res.writeHead(answer.status, answer.headers ?? {}).end(answer.body ?? '')
  })
  state.origin = `http://127.0.0.1:${await listenOnLoopback(state.server)}`
  return state
}

/** A metadata document for `issuer`, with endpoints on the same origin. */
const documentFor = (issuer: string, more: Record<string, unknown> = {}) => ({
  issuer,
  revocation_endpoint: `${issuer}/revoke`,
  token_endpoint: `${issuer}/token`,
  ...more,
})

const http = (timeoutSeconds = 5) => httpContext({retries: 0, timeoutSeconds})

async function failure(promise: Promise<unknown>): Promise<TokenctlError> {
  const error = await promise.then(
    () => assert.fail('discovery succeeded'),
    (error: unknown) => error,
  )
  // By its shape: an error from a module loaded by a dynamic import is another TokenctlError class (see below).
  assert.ok(error instanceof Error && typeof (error as TokenctlError).exitCode === 'number', String(error))
  return error as TokenctlError
}

describe('discovery against a server in this process', () => {
  let site: DiscoveryServer
  beforeEach(async () => {
    site = await startDiscoveryServer()
  })
  afterEach(async () => {
    await closeServer(site.server)
  })

  const issuerAt = (path = '/tenant1') => new URL(`${site.origin}${path}`)

  describe('the first location that has the document wins', () => {
    it('OpenID Connect first: one request, the document as the server wrote it', async () => {
      const issuer = issuerAt()
      site.answers.set(`/tenant1${OIDC}`, json(200, documentFor(issuer.href, {extra: 'kept'})))
      const metadata = await discover(issuer, http())
      assert.deepEqual(metadata, documentFor(issuer.href, {extra: 'kept'}))
      assert.deepEqual(site.asked, [`/tenant1${OIDC}`])
    })

    it('RFC 8414 inserted between host and path, after the OpenID Connect location said "not here"', async () => {
      const issuer = issuerAt()
      site.answers.set(`${RFC8414}/tenant1`, json(200, documentFor(issuer.href)))
      assert.equal((await discover(issuer, http())).issuer, issuer.href)
      assert.deepEqual(site.asked, [`/tenant1${OIDC}`, `${RFC8414}/tenant1`])
    })

    it('RFC 8414 appended after the path, last: its issuer is checked here, exactly', async () => {
      const issuer = issuerAt()
      site.answers.set(`/tenant1${RFC8414}`, json(200, documentFor(issuer.href)))
      assert.equal((await discover(issuer, http())).token_endpoint, `${issuer.href}/token`)
      assert.deepEqual(site.asked, [`/tenant1${OIDC}`, `${RFC8414}/tenant1`, `/tenant1${RFC8414}`])
    })
  })

  describe('a document naming another issuer is refused (exit 3), wherever it is', () => {
    for (const [where, path] of [
      ['OpenID Connect', `/tenant1${OIDC}`],
      ['RFC 8414 inserted', `${RFC8414}/tenant1`],
      ['RFC 8414 appended', `/tenant1${RFC8414}`],
    ] as const) {
      it(`${where}: the trailing slash counts; nothing else is asked`, async () => {
        const issuer = issuerAt()
        site.answers.set(path, json(200, documentFor(`${issuer.href}/`)))
        const error = await failure(discover(issuer, http()))
        assert.ok(error instanceof ConfigError)
        assert.equal(error.exitCode, ExitCode.config)
        assert.equal(error.code, 'config_error')
        assert.equal(error.message, `the discovery document at ${site.origin}${path} names another issuer, ${issuer.href}/, not ${issuer.href}`)
        assert.deepEqual(error.suggestions, ['pass --issuer exactly as the server spells its issuer (trailing slash included)'])
        assert.equal(site.asked.at(-1), path)
      })
    }

    it('an issuer that is not a URL, at a location openid-client checks or at the one checked here', async () => {
      const issuer = issuerAt()
      site.answers.set(`/tenant1${OIDC}`, json(200, documentFor('not a url')))
      assert.equal((await failure(discover(issuer, http()))).message, `the discovery document at ${site.origin}/tenant1${OIDC} names another issuer, one that is not a URL, not ${issuer.href}`)
      site.answers.delete(`/tenant1${OIDC}`)
      site.answers.set(`/tenant1${RFC8414}`, json(200, documentFor('not a url')))
      const appended = await failure(discover(issuer, http()))
      assert.equal(appended.exitCode, ExitCode.config)
      assert.equal(appended.message, `the discovery document at ${site.origin}/tenant1${RFC8414} names another issuer, not a url, not ${issuer.href}`)
    })

    it('the issuer a document names is quoted whole up to 64 characters, cut beyond', async () => {
      const issuer = issuerAt()
      const named = (length: number) => `https://elsewhere.example/${'i'.repeat(length - 26)}`
      site.answers.set(`/tenant1${RFC8414}`, json(200, documentFor(named(64))))
      assert.ok((await failure(discover(issuer, http()))).message.includes(`names another issuer, ${named(64)}, not`))
      site.answers.set(`/tenant1${RFC8414}`, json(200, documentFor(named(65))))
      assert.ok((await failure(discover(issuer, http()))).message.includes(`names another issuer, ${named(63)}…, not`))
    })

    it('the issuer a document names reaches the terminal escaped and short', async () => {
      const issuer = issuerAt()
      site.answers.set(`/tenant1${RFC8414}`, json(200, documentFor(`\u001B]0;pwned\u0007${'x'.repeat(100)}`)))
      const {message} = await failure(discover(issuer, http()))
      // eslint-disable-next-line no-control-regex -- the control characters the hostile server sent, which must not reach the message
      assert.doesNotMatch(message, /[\u0000-\u001F\u007F-\u009F]/)
      const escaped = `\\x1b]0;pwned\\x07${'x'.repeat(100)}`
      assert.ok(message.includes(`names another issuer, ${escaped.slice(0, 63)}…, not`), message)
    })
  })

  describe('what is "no document here", and how each location is told', () => {
    /** The no_discovery_document failure of an issuer whose three locations answer these. */
    async function told(oidc: Answer, inserted: Answer, appended: Answer): Promise<string[]> {
      const issuer = issuerAt()
      site.answers.set(`/tenant1${OIDC}`, oidc)
      site.answers.set(`${RFC8414}/tenant1`, inserted)
      site.answers.set(`/tenant1${RFC8414}`, appended)
      const error = await failure(discover(issuer, http()))
      assert.ok(error instanceof ConfigError, error.message)
      assert.equal(error.code, 'no_discovery_document')
      assert.equal(error.exitCode, ExitCode.config)
      assert.deepEqual(error.suggestions, ['check --issuer (the issuer exactly as the server names it, path included), or pass --token-endpoint URL to skip discovery'])
      const prefix = `no discovery document for ${issuer.href}: `
      assert.ok(error.message.startsWith(prefix), error.message)
      return error.message.slice(prefix.length).split('; ')
    }

    const at = (path: string, said: string) => `${site.origin}${path} answered ${said}`

    it('4xx answers: their JSON quoted, an empty body as its status, anything else by its content type', async () => {
      assert.deepEqual(
        await told(
          {status: 404, headers: {'content-type': 'application/json'}, body: '  \n'},
          {status: 400, headers: {'content-type': 'application/json'}, body: '[1,"two"]'},
          {status: 410, headers: {'content-type': 'text/html; charset=utf-8'}, body: '<h1>Gone</h1>'},
        ),
        [at(`/tenant1${OIDC}`, '404'), at(`${RFC8414}/tenant1`, '400 [1,"two"]'), at(`/tenant1${RFC8414}`, '410 text/html')],
      )
    })

    it('JSON that is not an object or an array says only its content type; no content type is said so', async () => {
      assert.deepEqual(
        await told(
          {status: 404, headers: {'content-type': 'application/json'}, body: '"not found"'},
          {status: 404, headers: {'content-type': 'application/problem+json'}, body: 'null'},
          {status: 404, body: 'Not Found'},
        ),
        [at(`/tenant1${OIDC}`, '404 application/json'), at(`${RFC8414}/tenant1`, '404 application/problem+json'), at(`/tenant1${RFC8414}`, '404 no content type')],
      )
    })

    it('a content type is said without its parameters', async () => {
      const said = await told(
        {status: 404, headers: {'content-type': 'text/html ; charset=utf-8'}, body: '<p>x</p>'},
        {status: 404, headers: {'content-type': ' text/plain'}, body: 'x'},
        {status: 404, headers: {'content-type': ''}, body: 'x'},
      )
      assert.deepEqual(said, [at(`/tenant1${OIDC}`, '404 text/html'), at(`${RFC8414}/tenant1`, '404 text/plain'), at(`/tenant1${RFC8414}`, '404 no content type')])
    })

    it('only a 3xx answer is a redirect: a Location on any other is not said', async () => {
      const location = {location: 'https://elsewhere.example/'}
      const said = await told(
        {status: 300, headers: location},
        {status: 400, headers: {...location, 'content-type': 'application/json'}, body: '{"error":"x"}'},
        {status: 404, headers: {...location, 'content-type': 'text/plain'}, body: 'x'},
      )
      assert.deepEqual(said, [at(`/tenant1${OIDC}`, '300 redirect to https://elsewhere.example/'), at(`${RFC8414}/tenant1`, '400 {"error":"x"}'), at(`/tenant1${RFC8414}`, '404 text/plain')])
      const created = await told({status: 201, headers: {...location, 'content-type': 'text/plain'}, body: 'x'}, json(404, {}), json(404, {}))
      assert.equal(created[0], at(`/tenant1${OIDC}`, '201 text/plain'))
    })

    it('a redirect is not followed: where it pointed is said (a redirect without a Location, by its body)', async () => {
      assert.deepEqual(
        await told(
          {status: 302, headers: {location: `https://elsewhere.example/${'m'.repeat(80)}`}},
          {status: 301, headers: {'content-type': 'application/json'}, body: '{"moved":true}'},
          json(404, {error: 'not_found'}),
        ),
        [
          at(`/tenant1${OIDC}`, `302 redirect to https://elsewhere.example/${'m'.repeat(63 - 26)}…`),
          at(`${RFC8414}/tenant1`, '301 {"moved":true}'),
          at(`/tenant1${RFC8414}`, '404 {"error":"not_found"}'),
        ],
      )
      assert.ok(!site.asked.includes('/metadata'))
    })

    it('a 200 that is not a metadata document: HTML, JSON that does not parse, not an object, no issuer', async () => {
      assert.deepEqual(
        await told(
          {status: 200, headers: {'content-type': 'text/html'}, body: '<!DOCTYPE html><div id="app"></div>'},
          {status: 200, headers: {'content-type': 'application/json'}, body: '{"issuer":'},
          json(200, [{issuer: 'x'}]),
        ),
        [at(`/tenant1${OIDC}`, '200 text/html, not JSON'), at(`${RFC8414}/tenant1`, '200 application/json that does not parse'), at(`/tenant1${RFC8414}`, '200 JSON that is not an object')],
      )
      assert.deepEqual(await told(json(200, {token_endpoint: 'https://x.example/token'}), json(200, {issuer: 42}), json(200, null)), [
        at(`/tenant1${OIDC}`, '200 JSON without an issuer'),
        at(`${RFC8414}/tenant1`, '200 JSON without an issuer'),
        at(`/tenant1${RFC8414}`, '200 JSON that is not an object'),
      ])
      assert.deepEqual(await told(json(200, 'https://x.example'), json(200, 42), json(200, true)), [
        at(`/tenant1${OIDC}`, '200 JSON that is not an object'),
        at(`${RFC8414}/tenant1`, '200 JSON that is not an object'),
        at(`/tenant1${RFC8414}`, '200 JSON that is not an object'),
      ])
    })
  })

  describe('what is not "not here": reported at once, nothing more asked', () => {
    for (const status of [500, 503, 429]) {
      it(`${status}: retried as the document policy says, then exit 6 naming the location`, async () => {
        const issuer = issuerAt()
        site.answers.set(`/tenant1${OIDC}`, {status, headers: {'content-type': 'text/plain', 'retry-after': '0'}, body: 'busy'})
        const error = await failure(discover(issuer, httpContext({retries: 1, timeoutSeconds: 5})))
        assert.ok(error instanceof NetworkError, error.message)
        assert.equal(error.exitCode, ExitCode.network)
        assert.ok(error.message.endsWith(` (discovery: ${site.origin}/tenant1${OIDC})`), error.message)
        assert.deepEqual(site.asked, [`/tenant1${OIDC}`, `/tenant1${OIDC}`], 'asked twice (one retry), and no other location')
      })
    }

    it('a server that cannot be reached: exit 6 naming the location', async () => {
      const port = await closedLoopbackPort()
      const error = await failure(discover(new URL(`http://127.0.0.1:${port}/t`), http()))
      assert.ok(error instanceof NetworkError, error.message)
      assert.match(error.message, new RegExp(`^cannot reach 127\\.0\\.0\\.1:${port}: .* \\(discovery: http://127\\.0\\.0\\.1:${port}/t/\\.well-known/openid-configuration\\)$`))
    })

    it('a server that never answers: exit 6 once --timeout has passed', async () => {
      const issuer = issuerAt()
      site.answers.set(`/tenant1${OIDC}`, {hang: true, status: 0})
      const started = Date.now()
      const error = await failure(discover(issuer, http(1)))
      assert.ok(error instanceof NetworkError, error.message)
      assert.match(error.message, /\(discovery: /)
      assert.ok(Date.now() - started < 10_000, 'the timeout given, not a default of its own')
    })

    it('an answer beyond the bound of a document is refused as too large (exit 6), not taken for "not here"', async () => {
      // Loaded as the command loads them: mocha's tsx loads this file's static imports as CommonJS, and
      // the fetch that refuses the answer (a dynamic import) as an ES module, with errors.ts of its own.
      const {discover: discoverEsm} = await import('../../src/lib/oauth/discovery.js')
      const {httpContext: httpContextEsm} = await import('../../src/lib/http/context.js')
      const issuer = issuerAt()
      site.answers.set(`/tenant1${OIDC}`, json(200, documentFor(issuer.href, {padding: 'x'.repeat(1024 * 1024)})))
      const error = await failure(discoverEsm(issuer, httpContextEsm({retries: 0, timeoutSeconds: 5})))
      assert.equal(error.exitCode, ExitCode.network)
      assert.equal(error.message, `the answer from ${site.origin}/tenant1${OIDC} is larger than 1024 KiB: not what was asked for (discovery: ${site.origin}/tenant1${OIDC})`)
      assert.deepEqual(site.asked, [`/tenant1${OIDC}`])
    })
  })

  describe('every endpoint it names must be https or loopback', () => {
    for (const name of ['token_endpoint', 'revocation_endpoint', 'device_authorization_endpoint']) {
      it(`${name} over plain http to another host: exit 3 before anything is sent to it`, async () => {
        const issuer = issuerAt()
        site.answers.set(`/tenant1${OIDC}`, json(200, documentFor(issuer.href, {[name]: 'http://idp.example/endpoint'})))
        const error = await failure(discover(issuer, http()))
        assert.equal(error.code, 'insecure_url')
        assert.equal(error.exitCode, ExitCode.config)
        assert.match(error.message, new RegExp(`^refusing plain http to idp\\.example \\(the discovered ${name}\\)`))
      })
    }

    it('endpoints it does not name are not checked; https ones and loopback ones pass', async () => {
      const issuer = issuerAt()
      site.answers.set(`/tenant1${OIDC}`, json(200, {issuer: issuer.href, token_endpoint: 'https://idp.example/token', device_authorization_endpoint: `${issuer.href}/device`}))
      assert.equal((await discover(issuer, http())).token_endpoint, 'https://idp.example/token')
    })
  })

  it('an https issuer, its certificate from the CA in --ca-file', async () => {
    const pki = await requireTestPki()
    const front = await startHttpsFront({cert: pki.serverCert, key: pki.serverKey, origin: site.origin})
    try {
      const issuer = new URL(`${front.url}/tenant1`)
      site.answers.set(`/tenant1${OIDC}`, json(200, documentFor(issuer.href)))
      const metadata = await discover(issuer, httpContext({caFile: pki.caCertPath, retries: 0, timeoutSeconds: 5}))
      assert.equal(metadata.token_endpoint, `${issuer.href}/token`)
      assert.deepEqual(
        front.requests.map((request) => request.path),
        [`/tenant1${OIDC}`],
      )
    } finally {
      await front.stop()
      pki.remove()
    }
  })

  describe('the metadata cache in TOKENCTL_HOME', () => {
    let home: string
    const savedHome = process.env.TOKENCTL_HOME
    beforeEach(() => {
      home = mkdtempSync(join(tmpdir(), 'tokenctl-discovery-'))
      process.env.TOKENCTL_HOME = home
    })
    afterEach(() => {
      if (savedHome === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = savedHome
      rmSync(home, {force: true, recursive: true})
    })

    it('discovers once, then answers from the cache for 24 h without a request', async () => {
      const issuer = issuerAt()
      site.answers.set(`/tenant1${OIDC}`, json(200, documentFor(issuer.href)))
      const before = Date.now()
      assert.deepEqual(await serverMetadata(issuer, http()), documentFor(issuer.href))
      const written = JSON.parse(readFileSync(documentPath('metadata', issuer.href), 'utf8')) as {fetchedAt: number; metadata: unknown}
      assert.deepEqual(written.metadata, documentFor(issuer.href))
      assert.ok(written.fetchedAt >= before && written.fetchedAt <= Date.now(), 'fetched now')
      assert.deepEqual(await serverMetadata(issuer, http()), documentFor(issuer.href))
      assert.equal(site.asked.length, 1)
    })

    it('a cached document older than 24 h, or one without an issuer, is discovered again', async () => {
      const issuer = issuerAt()
      site.answers.set(`/tenant1${OIDC}`, json(200, documentFor(issuer.href)))
      const file = documentPath('metadata', issuer.href)
      await writeDocument(file, {fetchedAt: Date.now() - DOCUMENT_TTL_MS - 1000, metadata: documentFor(issuer.href, {token_endpoint: 'https://stale.example/token'})})
      assert.equal((await serverMetadata(issuer, http())).token_endpoint, `${issuer.href}/token`)
      await writeDocument(file, {fetchedAt: Date.now(), metadata: {token_endpoint: 'https://planted.example/token'}})
      assert.equal((await serverMetadata(issuer, http())).token_endpoint, `${issuer.href}/token`)
      await writeDocument(file, {fetchedAt: Date.now()})
      assert.equal((await serverMetadata(issuer, http())).token_endpoint, `${issuer.href}/token`)
      assert.equal(site.asked.length, 3)
    })

    it('the last known metadata, whatever its age, without a request; none when never discovered', async () => {
      const issuer = issuerAt()
      assert.equal(await lastKnownMetadata(issuer), undefined)
      await writeDocument(documentPath('metadata', issuer.href), {fetchedAt: 0, metadata: documentFor(issuer.href)})
      assert.deepEqual(await lastKnownMetadata(issuer), documentFor(issuer.href))
      await writeDocument(documentPath('metadata', issuer.href), {fetchedAt: 0, metadata: {issuer: 7}})
      assert.equal(await lastKnownMetadata(issuer), undefined)
      assert.deepEqual(site.asked, [])
    })
  })
})

describe('the token endpoint the metadata names', () => {
  it('is the URL, under the https-or-loopback rule', () => {
    assert.equal(tokenEndpointOf({issuer: 'https://idp.example', token_endpoint: 'https://idp.example/token'}).href, 'https://idp.example/token')
    assert.equal(tokenEndpointOf({issuer: 'http://127.0.0.1:1', token_endpoint: 'http://127.0.0.1:1/token'}).port, '1')
    assert.throws(() => tokenEndpointOf({issuer: 'https://idp.example', token_endpoint: 'http://idp.example/token'}), {
      code: 'insecure_url',
      exitCode: ExitCode.config,
      message: /^refusing plain http to idp\.example \(the token endpoint\)/,
    })
  })

  it('none advertised: exit 3, advising --token-endpoint', () => {
    for (const token_endpoint of [undefined, '']) {
      assert.throws(() => tokenEndpointOf({issuer: 'https://idp.example', token_endpoint}), {
        code: 'config_error',
        exitCode: ExitCode.config,
        message: 'the authorization server https://idp.example advertises no token endpoint',
        suggestions: ['pass --token-endpoint URL'],
      })
    }
  })
})
