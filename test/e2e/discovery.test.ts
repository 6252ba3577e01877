/**
 * Discovery against servers as strict as the real ones, end to end through bin/run.js, in both
 * stores: an RFC 8414-only authorization server on a path issuer (RFC 8414 §3: the document at
 * `/.well-known/oauth-authorization-server` inserted between host and path; the OpenID Connect
 * location answers 404, often with a JSON body), and the on-behalf-of cache keyed by flavor against
 * the dev oidc-provider, which speaks both flavors.
 */
import {strict as assert} from 'node:assert'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {FileStore} from '../../src/lib/store/file-store.js'
import {expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type AuthServer, startAuthServer} from '../helpers/auth-server.js'
import {cliWithHome, type CliResult} from '../helpers/cli.js'
import {type KeyringSession, startKeyring} from '../helpers/keyring.js'
import {REFUSALS, type Rfc8414Server, startRfc8414Server} from '../helpers/rfc8414-server.js'

const PASSPHRASE = 'correct horse battery staple'
const OIDC = '.well-known/openid-configuration'
const RFC8414 = '.well-known/oauth-authorization-server'
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const HOUR_MS = 60 * 60 * 1000

describe('discovery of RFC 8414-only servers and the OBO cache by flavor (end to end, both stores)', function () {
  this.timeout(120_000)
  let tenant: Rfc8414Server
  let root: Rfc8414Server
  let devIdp: AuthServer
  let keyring: KeyringSession

  before(async () => {
    const started = await startKeyring()
    // Every prerequisite is installed where the suite runs: a missing Secret Service is a failure.
    if ('skip' in started) throw new Error(`no private Secret Service: ${started.skip}`)
    keyring = started
    ;[tenant, root, devIdp] = await Promise.all([startRfc8414Server(), startRfc8414Server({issuerPath: ''}), startAuthServer()])
  })

  after(async () => {
    await Promise.all([tenant?.stop(), root?.stop(), devIdp?.stop()])
    await keyring?.stop()
  })

  beforeEach(() => {
    for (const server of [tenant, root]) {
      server.behave({})
      server.resetCounters()
    }

    devIdp.resetCounters()
  })

  afterEach(function () {
    const errors = [tenant, root, devIdp].flatMap((server) => server.errors)
    if (this.currentTest?.state === 'failed' && errors.length > 0) console.error('authorization server errors:', errors)
  })

  let services = 0
  /** Each store: the environment of a fresh one, and the names of the cached tokens it holds. */
  const STORES = [
    {
      name: 'the file store',
      env: (): Record<string, string> => ({TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}),
      async tokenEntries(home: string): Promise<string[]> {
        const previous = process.env.TOKENCTL_HOME
        process.env.TOKENCTL_HOME = home
        try {
          return await new FileStore({passphrase: PASSPHRASE}).list('token:')
        } finally {
          if (previous === undefined) delete process.env.TOKENCTL_HOME
          else process.env.TOKENCTL_HOME = previous
        }
      },
    },
    {
      name: 'the keychain',
      env: (): Record<string, string> => ({
        ...keyring.env,
        TOKENCTL_KEYCHAIN_SERVICE: `tokenctl-e2e-discovery-${process.pid}-${++services}`,
        TOKENCTL_STORE: 'keychain',
      }),
      async tokenEntries(_home: string, env: Record<string, string>): Promise<string[]> {
        const items = await keyring.secretToolSearch({service: env.TOKENCTL_KEYCHAIN_SERVICE})
        return items.map((item) => item.attributes.username).filter((name) => name.startsWith('token:'))
      },
    },
  ]

  for (const store of STORES) {
    describe(`in ${store.name}`, () => {
      /** Commands sharing one home and one store, the `basic` client's secret in $S. */
      function cli(server: AuthServer) {
        const env = {...store.env(), S: server.clients.basic.clientSecret!}
        return {...cliWithHome({env}), tokenEntries: (home: string) => store.tokenEntries(home, env)}
      }

      const tokenClient = (server: AuthServer, ...extra: string[]) => ['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'S', '--json', ...extra]

      /** A token from the server's real token endpoint, asked for by the `basic` client. */
      function expectIssued(result: CliResult, server: AuthServer): void {
        expectExit(result, 0)
        assert.equal(json(result).token_source, 'identity_provider')
        assert.equal(server.tokenRequests.length, 1)
        assert.equal(server.tokenRequests[0].grant_type, 'client_credentials')
        assert.equal(server.tokenRequests[0].client_id, 'basic')
        assert.equal(server.requests.at(-1)?.path, new URL(server.tokenEndpoint).pathname)
      }

      const origin = () => new URL(tenant.issuer).origin
      const at = (path: string) => `GET ${path}`
      const oidcPath = `/tenant1/${OIDC}`
      const insertedPath = `/${RFC8414}/tenant1`
      const appendedPath = `/tenant1/${RFC8414}`

      it('token client --issuer finds the metadata at the inserted location (RFC 8414 §3.1) after the OIDC path answers a JSON 404; cached after', async () => {
        const run = cli(tenant)
        const first = await run.run(tokenClient(tenant))
        expectIssued(first, tenant)
        assert.deepEqual(tenant.discoveryRequests, [at(oidcPath), at(insertedPath)])
        assert.equal((await run.tokenEntries(run.home)).length, 1, `the token is cached in ${store.name}`)

        tenant.resetCounters()
        const second = await run.run(tokenClient(tenant))
        expectExit(second, 0)
        assert.equal(json(second).token_source, 'cache')
        assert.equal(json(second).access_token, json(first).access_token)
        assert.deepEqual(tenant.discoveryRequests, [])
        assert.deepEqual(tenant.requests, [], 'a cache hit sends no request')
      })

      it('a server that answers only the appended location (RFC 8414 §3 as many servers also serve it)', async () => {
        tenant.behave({metadataAt: 'appended'})
        const run = cli(tenant)
        expectIssued(await run.run(tokenClient(tenant, '--no-cache')), tenant)
        assert.deepEqual(tenant.discoveryRequests, [at(oidcPath), at(insertedPath), at(appendedPath)])

        tenant.resetCounters()
        expectExit(await run.run(tokenClient(tenant, '--no-cache')), 0)
        assert.deepEqual(tenant.discoveryRequests, [], 'the metadata came from the cache')
        assert.equal(tenant.tokenRequests.length, 1)
      })

      for (const [kind, refusal] of Object.entries(REFUSALS)) {
        it(`the OIDC location answering ${refusal.status} ${kind} is "no document here", never a refusal (exit 4) (RFC 8414 §3)`, async () => {
          tenant.behave({refusal})
          const result = await cli(tenant).run(tokenClient(tenant))
          expectIssued(result, tenant)
          assert.deepEqual(tenant.discoveryRequests, [at(oidcPath), at(insertedPath)])
        })
      }

      it('no document at any location: exit 3 no_discovery_document, naming each URL and what it answered', async () => {
        tenant.behave({metadataAt: 'nowhere'})
        const run = cli(tenant)
        const result = await run.run(tokenClient(tenant))
        expectExit(result, 3)
        const {error} = json(result)
        assert.equal(error.code, 'no_discovery_document')
        assert.equal(error.exit_code, 3)
        const said = '404 {"error":"not_found"}'
        for (const path of [oidcPath, insertedPath, appendedPath]) {
          assert.ok(String(error.message).includes(`${origin()}${path} answered ${said}`), `${path} in: ${error.message}`)
        }

        assert.match(String(error.hint), /--issuer.*--token-endpoint/)
        assert.deepEqual(tenant.discoveryRequests, [at(oidcPath), at(insertedPath), at(appendedPath)])
        assert.equal(tenant.tokenRequests.length, 0)

        tenant.behave({metadataAt: 'nowhere', refusal: REFUSALS.spa})
        const human = await run.run(tokenClient(tenant).filter((arg) => arg !== '--json'))
        expectExit(human, 3)
        assert.equal(human.stdout, '')
        const lines = human.stderr.trimEnd().split('\n')
        assert.equal(lines.length, 1, human.stderr)
        assert.ok(lines[0].startsWith(`Error: no discovery document for ${tenant.issuer}: `), lines[0])
        assert.ok(lines[0].includes(`${origin()}${oidcPath} answered 200 text/html, not JSON`), lines[0])
        assert.ok(lines[0].includes(`${origin()}${appendedPath} answered 200 text/html, not JSON`), lines[0])
        assert.match(lines[0], / — check --issuer .*--token-endpoint/)
      })

      it('an issuer without a path: the two RFC 8414 forms are one URL, asked once', async () => {
        root.behave({metadataAt: 'nowhere', refusal: REFUSALS.html})
        const run = cli(root)
        const missing = await run.run(tokenClient(root))
        expectExit(missing, 3)
        assert.equal(json(missing).error.code, 'no_discovery_document')
        assert.deepEqual(root.discoveryRequests, [at(`/${OIDC}`), at(`/${RFC8414}`)])
        assert.equal(json(missing).error.message.split(' answered ').length, 3, 'two URLs named')
        assert.ok(json(missing).error.message.includes(`${root.issuer}/${RFC8414} answered 404 text/html`))

        root.behave({})
        root.resetCounters()
        expectIssued(await run.run(tokenClient(root)), root)
        assert.deepEqual(root.discoveryRequests, [at(`/${OIDC}`), at(`/${RFC8414}`)])
      })

      it('a 5xx is retried, then exit 6; the RFC 8414 locations are not asked', async () => {
        tenant.behave({outage: 503})
        const result = await cli(tenant).run(tokenClient(tenant))
        expectExit(result, 6)
        const {error} = json(result)
        assert.equal(error.code, 'server_error')
        assert.equal(error.status, 503)
        assert.ok(String(error.message).includes(`${origin()}${oidcPath}`), error.message)
        assert.deepEqual(
          tenant.discoveryRequests,
          Array.from({length: 4}, () => at(oidcPath)),
          'the first try and 3 retries',
        )
        assert.equal(tenant.tokenRequests.length, 0)
      })

      it('a document naming another issuer is still refused (exit 3), at the inserted and at the appended location', async () => {
        const other = 'http://127.0.0.1:1/someone-else'
        for (const [metadataAt, path] of [
          ['inserted', insertedPath],
          ['appended', appendedPath],
        ] as const) {
          tenant.behave({documentIssuer: other, metadataAt})
          tenant.resetCounters()
          const result = await cli(tenant).run(tokenClient(tenant))
          expectExit(result, 3)
          const {error} = json(result)
          assert.equal(error.code, 'config_error')
          assert.ok(String(error.message).includes(`${origin()}${path} names another issuer, ${other}, not ${tenant.issuer}`), error.message)
          assert.equal(tenant.tokenRequests.length, 0)
        }
      })

      it('token obo: --flavor rfc8693 then --flavor entra are two cache entries; a detected flavor hits its own without any request', async () => {
        const userToken = await devIdp.mintUserToken({aud: devIdp.clients.api.clientId, sub: 'alice'})
        const env = {...store.env(), USER_TOKEN: userToken}
        const run = cliWithHome({env})
        const add = await run.run(['client', 'add', 'api', '--issuer', devIdp.issuer, '--client-id', 'api', '--client-secret-stdin'], {
          input: devIdp.clients.api.clientSecret,
        })
        expectExit(add, 0)
        const obo = (...flavor: string[]) => run.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', ...flavor, '--json'])

        const exchanged = await obo('--flavor', 'rfc8693')
        expectExit(exchanged, 0)
        assert.equal(json(exchanged).token_source, 'identity_provider')
        assert.equal(json(exchanged).flavor, 'rfc8693')
        assert.equal(devIdp.tokenRequests.at(-1)?.grant_type, TOKEN_EXCHANGE)

        const entra = await obo('--flavor', 'entra')
        expectExit(entra, 0)
        assert.equal(json(entra).token_source, 'identity_provider', 'not the rfc8693 answer from the cache')
        assert.equal(json(entra).flavor, 'entra')
        assert.notEqual(json(entra).access_token, json(exchanged).access_token)
        assert.equal(devIdp.tokenRequests.at(-1)?.grant_type, JWT_BEARER)
        assert.equal(devIdp.tokenRequests.at(-1)?.params.requested_token_use, 'on_behalf_of')
        assert.equal(devIdp.tokenRequests.length, 2)
        assert.equal((await store.tokenEntries(run.home, env)).length, 2, `one entry per flavor in ${store.name}`)

        devIdp.resetCounters()
        for (const [flags, flavor, token] of [
          [['--flavor', 'rfc8693'], 'rfc8693', json(exchanged).access_token],
          [['--flavor', 'entra'], 'entra', json(entra).access_token],
          [[], 'rfc8693', json(exchanged).access_token], // detected: the metadata lists token exchange
        ] as const) {
          const again = await obo(...flags)
          expectExit(again, 0)
          assert.equal(json(again).token_source, 'cache', flags.join(' ') || 'detected')
          assert.equal(json(again).flavor, flavor)
          assert.equal(json(again).access_token, token)
        }

        // The flavor of a detected request comes from the cached metadata, however old: a hit sends nothing.
        const directory = join(run.home, 'cache', 'metadata')
        const [file] = readdirSync(directory).filter((name) => name.endsWith('.json'))
        const cached = JSON.parse(readFileSync(join(directory, file), 'utf8')) as {fetchedAt: number}
        writeFileSync(join(directory, file), JSON.stringify({...cached, fetchedAt: Date.now() - 25 * HOUR_MS}))
        const stale = await obo()
        expectExit(stale, 0)
        assert.equal(json(stale).token_source, 'cache')
        assert.equal(json(stale).flavor, 'rfc8693')
        assert.deepEqual(devIdp.requests, [], 'no request on a cache hit, not even discovery')
      })
    })
  }
})
