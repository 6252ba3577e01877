/**
 * Secretless CI (workload identity federation), end to end through bin/run.js: the client
 * authenticates with a JWT another identity provider issued to the job — the GitHub Actions runner
 * (a fake one on its own port), a Kubernetes projected token file that the kubelet rotates, a CI
 * variable — against an authorization server whose federated client is as strict as Microsoft
 * Entra's federated credentials (issuer, subject and audience matched exactly; expired tokens
 * refused; "Workload identity federation", https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation).
 * The token endpoint is the real oidc-provider behind that check (src/lib/devidp/federation.ts).
 */
import {strict as assert} from 'node:assert'
import {chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT} from '../../src/lib/oauth/urns.js'
import {FileStore} from '../../src/lib/store/file-store.js'
import {allFileContents, expectExit, stdoutJson as json, waitFor} from '../helpers/assertions.js'
import {type AuthServer, startAuthServer, type TokenRequestRecord} from '../helpers/auth-server.js'
import {cliWithHome} from '../helpers/cli.js'
import {type FakeGithubActions, REQUEST_TOKEN, startFakeGithubActions} from '../helpers/github-actions.js'
import {type KeyringSession, requireKeyring} from '../helpers/keyring.js'
import {rotatingTokenFile} from '../helpers/token-file.js'

const PASSPHRASE = 'correct horse battery staple'
const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}
const AUDIENCE = 'api://AzureADTokenExchange'
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
/** A pod's service account, as Kubernetes names it in `sub`. */
const POD_SUBJECT = 'system:serviceaccount:reports:nightly'
/** A GitLab job's variable (`id_tokens:`), any CI's. */
const GITLAB_SUBJECT = 'project_path:octo-group/octo-project:ref_type:branch:ref:main'

describe('secretless CI: federated client authentication (end to end)', function () {
  this.timeout(90_000)
  let github: FakeGithubActions
  let server: AuthServer
  const files = mkdtempSync(join(tmpdir(), 'tokenctl-federated-'))

  before(async () => {
    github = await startFakeGithubActions()
    server = await startAuthServer({
      devClients: [
        {
          authMethod: 'federated',
          clientId: 'ci-app',
          // Entra keeps up to twenty federated credentials per app: one per workload that may act as it.
          federatedCredentials: [github.subject, POD_SUBJECT, GITLAB_SUBJECT].map((subject) => ({audience: AUDIENCE, issuer: github.issuer, subject})),
          grantTypes: ['client_credentials', 'refresh_token', JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT],
        },
      ],
    })
  })

  after(async () => {
    await server?.stop()
    await github?.stop()
  })

  beforeEach(() => {
    server.resetCounters()
    github.resetCounters()
  })

  const tokenRequests = () => server.tokenRequests.filter((request) => !request.fault)
  const lastRequest = (): TokenRequestRecord => tokenRequests().at(-1)!
  const viaGithub = (...extra: string[]) => ['token', 'client', '--issuer', server.issuer, '--client-id', 'ci-app', '--federated-token-github', '--scope', 'read', ...extra]
  const podToken = (claims = {}) => github.mint(AUDIENCE, {sub: POD_SUBJECT, ...claims})

  /** What a federated request must carry: the jwt-bearer assertion type, this token, client_id in the body, no other credential. */
  function assertFederated(request: TokenRequestRecord, token: string): void {
    assert.equal(request.params.client_assertion_type, ASSERTION_TYPE)
    assert.equal(request.params.client_assertion, token, 'the external token itself is the client assertion')
    assert.equal(request.params.client_id, 'ci-app')
    assert.equal(request.headers.authorization, undefined)
    assert.equal(request.params.client_secret, undefined)
  }

  describe('the GitHub Actions runner', () => {
    it("one runner call per token request, none on a cache hit; the audience is appended to the runner URL's own query, URL-encoded", async () => {
      const cli = cliWithHome({env: {...FILE_STORE, ...github.env}})
      const first = await cli.run(viaGithub('--json'))
      expectExit(first, 0)
      assert.equal(json(first).token_source, 'identity_provider')
      assert.equal(github.calls.length, 1)
      const [call] = github.calls
      assert.ok(call.authorized, "the runner's request token was sent as a bearer token")
      assert.equal(call.audience, AUDIENCE)
      assert.match(call.url, /\?api-version=2\.0&audience=api%3A%2F%2FAzureADTokenExchange$/)
      assert.equal(tokenRequests().length, 1)
      assertFederated(lastRequest(), call.token!)
      assert.equal(lastRequest().grant_type, 'client_credentials')

      const hit = await cli.run(viaGithub('--json'))
      expectExit(hit, 0)
      assert.equal(json(hit).token_source, 'cache')
      assert.equal(github.calls.length, 1, 'a cache hit asks the runner nothing')
      assert.equal(tokenRequests().length, 1)

      const forced = await cli.run(viaGithub('--force'))
      expectExit(forced, 0)
      assert.equal(github.calls.length, 2, 'a new token request, a new runner token')
      assert.notEqual(github.calls[1].token, call.token)
      assertFederated(lastRequest(), github.calls[1].token!)
    })

    it('a runner outage (503) is retried, and the retry fetches a token again', async () => {
      const cli = cliWithHome({env: {...FILE_STORE, ...github.env}})
      github.failNext(503)
      const result = await cli.run(viaGithub('--no-cache'))
      expectExit(result, 0)
      assert.equal(github.calls.length, 2)
      assert.equal(tokenRequests().length, 1)
      assertFederated(lastRequest(), github.calls[1].token!)
    })

    it('missing runner variables: exit 3 naming them, with the id-token: write permission to add; nothing is sent', async () => {
      const cli = cliWithHome({env: FILE_STORE})
      const both = await cli.run(viaGithub('--no-cache'))
      expectExit(both, 3)
      assert.match(both.stderr, /ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set/)
      assert.match(both.stderr, /permissions: id-token: write/)
      const one = await cli.run(viaGithub('--no-cache', '--json'), {env: {ACTIONS_ID_TOKEN_REQUEST_URL: github.requestUrl}})
      expectExit(one, 3)
      assert.equal(json(one).error.code, 'no_federated_token')
      assert.match(json(one).error.message, /: ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set/)
      assert.equal(github.calls.length, 0)
      assert.equal(tokenRequests().length, 0)
    })

    it('a wrong subject is refused: exit 4 naming the iss, sub and aud presented (escaped), never the token', async () => {
      const cli = cliWithHome({env: {...FILE_STORE, ...github.env}})
      const branch = 'repo:octo-org/octo-repo:ref:refs/heads/feature\u001B[2J'
      github.setClaims({sub: branch})
      const refused = await cli.run(viaGithub('--no-cache'))
      expectExit(refused, 4)
      const token = github.calls[0].token!
      assert.match(refused.stderr, /invalid_client: AADSTS70021/)
      assert.ok(refused.stderr.includes(`iss "${github.issuer}", sub "repo:octo-org/octo-repo:ref:refs/heads/feature\\u001b[2J", aud "${AUDIENCE}"`), refused.stderr)
      assert.ok(!refused.stderr.includes('\u001B'), "the claim's control character is escaped")
      assert.ok(!refused.stderr.includes(token) && !refused.stderr.includes(token.split('.')[1]), 'not the token, nor its payload')

      const asJson = await cli.run(viaGithub('--no-cache', '--json'))
      expectExit(asJson, 4)
      const {error} = json(asJson)
      assert.equal(error.code, 'invalid_client')
      assert.deepEqual([error.presented_claims.iss, error.presented_claims.sub, error.presented_claims.aud], [github.issuer, branch, AUDIENCE])
      assert.ok(!asJson.stdout.includes(github.calls[1].token!))
    })

    it('--federated-audience is the audience the runner is asked for (and must match the federated credential)', async () => {
      const cli = cliWithHome({env: {...FILE_STORE, ...github.env}})
      const other = await cli.run(viaGithub('--no-cache', '--federated-audience', 'https://example.com/ci app'))
      expectExit(other, 4)
      assert.equal(github.calls[0].audience, 'https://example.com/ci app')
      assert.match(github.calls[0].url, /&audience=https%3A%2F%2Fexample\.com%2Fci%20app$/)
      assert.match(other.stderr, /aud "https:\/\/example\.com\/ci app"/)
    })

    it('--verbose shows neither the runner token, nor its request token, nor the client assertion; no file under TOKENCTL_HOME holds them', async () => {
      const cli = cliWithHome({env: {...FILE_STORE, ...github.env}})
      const traced = await cli.run(viaGithub('--verbose'))
      expectExit(traced, 0)
      const token = github.calls[0].token!
      assert.match(traced.stderr, /GET http:\/\/127\.0\.0\.1:\d+\/idtoken\?api-version=2\.0&audience=/)
      assert.match(traced.stderr, /value=<redacted>/)
      assert.match(traced.stderr, /client_assertion=<redacted>/)
      assert.match(traced.stderr, /authorization: bearer <\d+ chars, sha256:[\da-f]{8}>/)
      assert.ok(!traced.stderr.includes(REQUEST_TOKEN.slice(0, 6)), 'not even the start of the request token')
      for (const secret of [token, token.split('.')[1], token.split('.')[2], REQUEST_TOKEN]) assert.ok(!traced.stderr.includes(secret), 'masked in the trace')
      assert.ok(!allFileContents(cli.home).includes(token.split('.')[1]))
      assert.ok(!(await fileStoreContents(cli.home)).some((value) => value.includes(token.split('.')[1])), 'nor the secure store')
    })
  })

  describe('a token file (a Kubernetes projected service-account token) and a CI variable', () => {
    it('the file is read for every request: after the kubelet rotates it, the next request sends the new token', async () => {
      const cli = cliWithHome({env: FILE_STORE})
      const file = rotatingTokenFile(join(files, 'rotated'), await podToken())
      const add = await cli.run(['client', 'add', 'nightly', '--issuer', server.issuer, '--client-id', 'ci-app', '--federated-token-file', file.path, '--scope', 'read'])
      expectExit(add, 0)
      const shown = json(await cli.run(['client', 'show', 'nightly', '--json']))
      assert.equal(shown.credential, `federated token from file ${file.path}, read for every request`)
      assert.equal(shown.auth_method, 'federated')
      assert.deepEqual(shown.federated_token, {kind: 'file', path: file.path})

      const first = file.current
      expectExit(await cli.run(['token', 'client', 'nightly', '--no-cache']), 0)
      assertFederated(lastRequest(), first)
      const second = file.rotate(await podToken())
      expectExit(await cli.run(['token', 'client', 'nightly', '--no-cache']), 0)
      assert.notEqual(second, first)
      assertFederated(lastRequest(), second)
      const config = readFileSync(join(cli.home, 'config.json'), 'utf8')
      assert.ok(config.includes(file.path) && !config.includes(first.split('.')[1]) && !config.includes(second.split('.')[1]), 'config.json keeps the path, never a token')
    })

    it('an expired token in the file: exit 4, saying it had expired; a file that is no JWT: exit 3 before anything is sent', async () => {
      const cli = cliWithHome({env: FILE_STORE})
      const now = Math.floor(Date.now() / 1000)
      const file = rotatingTokenFile(join(files, 'expired'), await podToken({exp: now - 600, iat: now - 4200, nbf: now - 4200}))
      const expired = await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'ci-app', '--federated-token-file', file.path, '--no-cache', '--json'])
      expectExit(expired, 4)
      assert.equal(json(expired).error.code, 'invalid_client')
      assert.match(json(expired).error.description, /^AADSTS700024:/)
      assert.match(json(expired).error.hint, /expired 10 min ago; the kubelet rewrites/)

      file.rotate('{"kubelet-misconfigured": true}')
      server.resetCounters()
      const garbage = await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'ci-app', '--federated-token-file', file.path, '--no-cache', '--json'])
      expectExit(garbage, 3)
      assert.equal(json(garbage).error.code, 'federated_token_invalid')
      assert.ok(!garbage.stdout.includes('kubelet-misconfigured'), "the file's content is not repeated")
      assert.equal(tokenRequests().length, 0)
    })

    it('a CI variable (GitLab id_tokens): sent as it is; unset, exit 3 naming it', async () => {
      const cli = cliWithHome({env: FILE_STORE})
      const token = await github.mint(AUDIENCE, {sub: GITLAB_SUBJECT})
      const base = ['token', 'client', '--issuer', server.issuer, '--client-id', 'ci-app', '--federated-token-env', 'AZURE_TOKEN', '--scope', 'read', '--no-cache']
      expectExit(await cli.run(base, {env: {AZURE_TOKEN: token}}), 0)
      assertFederated(lastRequest(), token)
      const unset = await cli.run(base)
      expectExit(unset, 3)
      assert.match(unset.stderr, /the environment variable AZURE_TOKEN is not set/)
    })

    it('token verify --introspect authenticates with the federated token at the introspection endpoint', async () => {
      const cli = cliWithHome({env: FILE_STORE})
      const introspect = ['token', 'verify', 'an-opaque-token', '--issuer', server.issuer, '--introspect', '--client-id', 'ci-app', '--federated-token-env', 'T', '--json']
      const answered = await cli.run(introspect, {env: {T: await podToken()}})
      expectExit(answered, 9)
      assert.equal(json(answered).claims.active, false, 'the issuer answered about the token: the client was authenticated')
      const refused = await cli.run(introspect, {env: {T: await podToken({sub: 'system:serviceaccount:reports:intruder'})}})
      expectExit(refused, 4)
      assert.equal(json(refused).error.code, 'invalid_client')
    })

    it('one credential per run: two sources, or a contradicting --auth-method, are usage errors (exit 2)', async () => {
      const cli = cliWithHome({env: {...FILE_STORE, S: 'x'}})
      const base = ['token', 'client', '--issuer', server.issuer, '--client-id', 'ci-app', '--no-cache']
      const two = await cli.run([...base, '--federated-token-github', '--client-secret-env', 'S'])
      expectExit(two, 2)
      const contradicting = await cli.run([...base, '--federated-token-env', 'S', '--auth-method', 'private_key_jwt'])
      expectExit(contradicting, 2)
      assert.match(contradicting.stderr, /--auth-method private_key_jwt does not go with --federated-token-env/)
      const audience = await cli.run([...base, '--federated-token-env', 'S', '--federated-audience', 'x'])
      expectExit(audience, 2)
      assert.match(audience.stderr, /--federated-audience goes with --federated-token-github/)
      expectExit(await cli.run([...base, '--federated-token-env', 'T', '--auth-method', 'federated'], {env: {T: await podToken()}}), 0)
      assert.equal(tokenRequests().length, 1)
    })
  })

  /** Every value the file store holds, decrypted as tokenctl does. */
  async function fileStoreContents(home: string): Promise<string[]> {
    const previous = process.env.TOKENCTL_HOME
    process.env.TOKENCTL_HOME = home
    try {
      const store = new FileStore({passphrase: PASSPHRASE})
      return await Promise.all((await store.list('')).map(async (entry) => (await store.get(entry)) ?? ''))
    } finally {
      if (previous === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = previous
    }
  }

  interface StoreUnderTest {
    contents(home: string): Promise<string[]>
    env(): Record<string, string>
  }

  function inStore(name: string, open: (context: Mocha.Context) => Promise<StoreUnderTest>) {
    describe(`sessions and named clients keep the source, never the token (${name})`, () => {
      let store: StoreUnderTest
      before(async function () {
        store = await open(this)
      })

      it('a session started with a token file is refreshed after the file rotated, with only --key: the new token is sent', async () => {
        const cli = cliWithHome({env: store.env()})
        const file = rotatingTokenFile(mkdtempSync(join(files, 'session-')), await podToken())
        const alice = await server.mintUserToken({aud: 'ci-app', sub: 'alice'})
        const start = await cli.run(
          ['session', 'start', '--issuer', server.issuer, '--client-id', 'ci-app', '--federated-token-file', file.path, '--assertion-env', 'U', '--scope', 'read', '--key', 'nightly'],
          {env: {U: alice}},
        )
        expectExit(start, 0)
        assertFederated(lastRequest(), file.current)
        const show = json(await cli.run(['session', 'show', '--key', 'nightly', '--json']))
        assert.equal(show.credential, `federated token from file ${file.path}, read for every request`)

        const tokens = [file.current, file.rotate(await podToken())]
        const cron = await cli.run(['session', 'refresh', '--key', 'nightly', '--force', '--json'])
        expectExit(cron, 0)
        assert.equal(json(cron).token_source, 'identity_provider')
        assert.equal(lastRequest().grant_type, 'refresh_token')
        assertFederated(lastRequest(), file.current)

        const kept = [...(await store.contents(cli.home)), allFileContents(cli.home)]
        assert.ok(
          kept.some((value) => value.includes(file.path)),
          "the session keeps the file's path",
        )
        for (const token of tokens) assert.ok(!kept.some((value) => value.includes(token.split('.')[1])), 'and no token')
      })

      it('a named client with the GitHub runner as its source: client show says so, a session follows it, the refresh asks the runner again', async () => {
        const cli = cliWithHome({env: {...store.env(), ...github.env}})
        const add = await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'ci-app', '--federated-token-github', '--scope', 'read'])
        expectExit(add, 0)
        const shown = await cli.run(['client', 'show', 'ci'])
        assert.match(shown.stdout, new RegExp(`credential: federated token from the GitHub Actions runner \\(audience ${AUDIENCE}\\), read for every request`))
        expectExit(await cli.run(['token', 'client', 'ci']), 0)
        assertFederated(lastRequest(), github.calls.at(-1)!.token!)

        const bob = await server.mintUserToken({aud: 'ci-app', sub: 'bob'})
        expectExit(await cli.run(['session', 'start', 'ci', '--assertion-env', 'U', '--scope', 'read', '--key', 'report'], {env: {U: bob}}), 0)
        assert.equal(json(await cli.run(['session', 'show', '--key', 'report', '--json'])).credential, 'named client ci')
        const calls = github.calls.length
        expectExit(await cli.run(['session', 'refresh', '--key', 'report', '--force']), 0)
        assert.equal(github.calls.length, calls + 1)
        assertFederated(lastRequest(), github.calls.at(-1)!.token!)
        const issued = github.calls.map((call) => call.token!.split('.')[1])
        const kept = [...(await store.contents(cli.home)), allFileContents(cli.home)]
        assert.ok(!kept.some((value) => issued.some((payload) => value.includes(payload))), 'no runner token is kept')
        assert.ok(!kept.some((value) => value.includes(REQUEST_TOKEN)), "nor the runner's request token")
      })
    })
  }

  inStore('file store', async () => ({contents: fileStoreContents, env: () => FILE_STORE}))

  describe('the browser of a sign-in', () => {
    it('inherits no variable that a named client or a session reads its federated token from, whether this run uses them or not', async () => {
      const cli = cliWithHome({env: FILE_STORE})
      const tokens = {FED_CLIENT_TOKEN: await podToken(), FED_SESSION_TOKEN: await github.mint(AUDIENCE, {sub: GITLAB_SUBJECT})}
      expectExit(await cli.run(['client', 'add', 'fed', '--issuer', server.issuer, '--client-id', 'ci-app', '--federated-token-env', 'FED_CLIENT_TOKEN']), 0)
      const alice = await server.mintUserToken({aud: 'ci-app', sub: 'alice'})
      const start = [
        'session',
        'start',
        '--issuer',
        server.issuer,
        '--client-id',
        'ci-app',
        '--federated-token-env',
        'FED_SESSION_TOKEN',
        '--assertion-env',
        'U',
        '--scope',
        'read',
        '--key',
        'nightly',
      ]
      expectExit(await cli.run(start, {env: {...tokens, U: alice}}), 0)

      // A browser that writes down the environment it got, and opens nothing.
      const directory = mkdtempSync(join(files, 'browser-'))
      const record = join(directory, 'environment')
      const browser = join(directory, 'dump-environment')
      writeFileSync(browser, `#!/bin/sh\nenv > '${record}.part' && mv '${record}.part' '${record}'\n`)
      chmodSync(browser, 0o755)
      // The sign-in of another client altogether: the variables are named only by what is stored.
      const child = cli.start(['token', 'user', '--browser', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user'], {
        env: {...tokens, BROWSER: browser, KEEP_ME: 'an ordinary variable'},
      })
      await waitFor(() => existsSync(record), 15_000)
      child.kill('SIGINT')
      const result = await child.result
      assert.ok(existsSync(record), `the browser was started\nstderr: ${result.stderr}`)
      const environment = readFileSync(record, 'utf8')
      for (const [name, value] of Object.entries(tokens)) {
        assert.doesNotMatch(environment, new RegExp(`^${name}=`, 'm'), `${name} reached the browser`)
        assert.ok(!environment.includes(value.split('.')[1]), `the token of ${name} reached the browser`)
      }

      assert.match(environment, /^KEEP_ME=an ordinary variable$/m)
      expectExit(result, 130)
    })
  })

  let keyring: KeyringSession | undefined
  after(async () => {
    await keyring?.stop()
  })
  inStore('keychain', async () => {
    keyring = await requireKeyring()
    const service = `tokenctl-e2e-federated-${process.pid}`
    return {
      async contents() {
        return (await keyring!.secretToolSearch({service})).map((item) => item.secret ?? '')
      },
      env: () => ({...keyring!.env, TOKENCTL_KEYCHAIN_SERVICE: service}),
    }
  })
})
