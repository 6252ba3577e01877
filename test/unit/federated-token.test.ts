/**
 * Where a federated token comes from and where the runner's request token goes
 * (src/lib/oauth/federated.ts), in the test process: a file, a variable, and a GitHub Actions runner
 * imitation (test/helpers/github-actions.ts) or a server that answers as a test says. The same flows
 * run through the CLI against oidc-provider in test/e2e/federated.test.ts.
 */
import {strict as assert} from 'node:assert'
import {mkdtempSync, rmSync, unlinkSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingHttpHeaders} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {FederatedCredential} from '../../src/lib/config/secrets.js'
import type {FederatedTokenSource} from '../../src/lib/config/credentials.js'
import {ConfigError, ExitCode, NetworkError, UsageError} from '../../src/lib/errors.js'
import {httpContext} from '../../src/lib/http/context.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {federatedClientAuth, federatedRefusalAdvice, readFederatedToken} from '../../src/lib/oauth/federated.js'
import {JWT_BEARER_CLIENT_ASSERTION} from '../../src/lib/oauth/urns.js'
import {type FakeGithubActions, REQUEST_TOKEN, startFakeGithubActions} from '../helpers/github-actions.js'
import {closedLoopbackPort} from '../helpers/proxy.js'
import {startStranger} from '../helpers/stranger.js'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
/** A JWT as an issuer writes it (the signature is never checked here). */
const jwt = (claims: Record<string, unknown>, header: Record<string, unknown> = {alg: 'RS256', typ: 'JWT'}) => `${b64(header)}.${b64(claims)}.c2lnbmF0dXJl_-`

const CLAIMS = {aud: 'api://AzureADTokenExchange', exp: 2_000_000_000, iat: 1_900_000_000, iss: 'https://issuer.example', jti: 'j1', sub: 'system:serviceaccount:ns:app'}
const PRESENTED = {aud: CLAIMS.aud, exp: CLAIMS.exp, iss: CLAIMS.iss, sub: CLAIMS.sub}

const credentialOf = (source: FederatedTokenSource): FederatedCredential => ({kind: 'federated', label: 'test', source})
const http = (timeoutSeconds = 5) => httpContext({retries: 0, timeoutSeconds})
const VARIABLE = 'TOKENCTL_TEST_FEDERATED_TOKEN'
const RUNNER_VARIABLES = ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN'] as const

async function rejection(promise: Promise<unknown>): Promise<Error & {code: string; exitCode: number; suggestions: string[]}> {
  return promise.then(
    () => assert.fail('no failure'),
    (error: unknown) => error as Error & {code: string; exitCode: number; suggestions: string[]},
  )
}

describe('federated tokens: read fresh from their source for every request', () => {
  let folder: string
  const saved = {...process.env}
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), 'tokenctl-federated-'))
  })
  afterEach(() => {
    rmSync(folder, {force: true, recursive: true})
    for (const name of [VARIABLE, ...RUNNER_VARIABLES]) {
      if (saved[name] === undefined) delete process.env[name]
      else process.env[name] = saved[name]
    }
  })

  describe('from a file or a variable', () => {
    it('is sent as the client assertion with client_id, read again for each request (a projected token is rewritten)', async () => {
      const file = join(folder, 'token')
      const first = jwt(CLAIMS)
      const second = jwt({...CLAIMS, jti: 'j2'})
      writeFileSync(file, `${first}\n`)
      const credential = credentialOf({kind: 'file', path: file})
      const auth = federatedClientAuth(credential, http())
      const send = async () => {
        const body = new URLSearchParams({grant_type: 'client_credentials'})
        const headers = new Headers()
        // eslint-disable-next-line @typescript-eslint/await-thenable -- openid-client declares ClientAuth as returning void, yet awaits it: the federated one is async
        await auth({issuer: 'https://issuer.example'}, {client_id: 'app-id'}, body, headers)
        return {body: Object.fromEntries(body), headers: [...headers.keys()]}
      }

      assert.deepEqual(await send(), {
        body: {client_assertion: first, client_assertion_type: JWT_BEARER_CLIENT_ASSERTION, client_id: 'app-id', grant_type: 'client_credentials'},
        headers: [],
      })
      writeFileSync(file, second)
      assert.equal((await send()).body.client_assertion, second)
      assert.deepEqual(credential.presented, PRESENTED, 'only iss, sub, aud and exp are kept, for the advice')
    })

    it('from a variable, blanks around it trimmed', async () => {
      process.env[VARIABLE] = `  ${jwt(CLAIMS)}\n`
      const credential = credentialOf({kind: 'env', variable: VARIABLE})
      assert.equal(await readFederatedToken(credential, http()), jwt(CLAIMS))
      assert.deepEqual(credential.presented, PRESENTED)
    })

    it('what is not a JWT is refused before it is sent, saying where it came from (exit 3)', async () => {
      const notJwts = [
        'opaque-token',
        'a.b',
        `${b64({typ: 'JWT'})}.${b64(CLAIMS)}.sig`, // no alg
        `${b64({alg: 7})}.${b64(CLAIMS)}.sig`,
        `${b64({alg: 'RS256'})}.${b64(CLAIMS)}.sig+/=`, // a signature that is not base64url
        `${b64({alg: 'RS256'})}.${b64(CLAIMS)}.sig.x.y`, // five parts: a JWE
      ]
      process.env[VARIABLE] = 'x'
      for (const token of notJwts) {
        process.env[VARIABLE] = token
        const error = await rejection(readFederatedToken(credentialOf({kind: 'env', variable: VARIABLE}), http()))
        assert.ok(error instanceof ConfigError, `${token}: ${error.message}`)
        assert.equal(error.code, 'federated_token_invalid')
        assert.equal(error.message, `the federated token in $${VARIABLE} is not a JWT (three base64url parts: a JSON header, a JSON payload, a signature)`)
        assert.deepEqual(error.suggestions, ['set the variable to the token itself, as its issuer wrote it'])
      }

      const file = join(folder, 'token')
      writeFileSync(file, 'opaque-token')
      const fromFile = await rejection(readFederatedToken(credentialOf({kind: 'file', path: file}), http()))
      assert.equal(fromFile.message, `the federated token in ${file} is not a JWT (three base64url parts: a JSON header, a JSON payload, a signature)`)
      assert.deepEqual(fromFile.suggestions, ['point --federated-token-file at the token itself, as its issuer wrote it'])
    })

    it('a source gone since the command started is said as before any request (exit 3)', async () => {
      const file = join(folder, 'token')
      const gone = await rejection(readFederatedToken(credentialOf({kind: 'file', path: file}), http()))
      assert.equal(gone.exitCode, ExitCode.config)
      assert.equal(gone.code, 'no_federated_token')
      assert.match(gone.message, new RegExp(`^no federated token: cannot read ${file.replaceAll('/', '\\/')} \\(`))

      delete process.env[VARIABLE]
      const unset = await rejection(readFederatedToken(credentialOf({kind: 'env', variable: VARIABLE}), http()))
      assert.equal(unset.message, `no federated token: the environment variable ${VARIABLE} is not set`)
    })

    it('a file there but empty: no federated token, with what the reading said', async () => {
      const file = join(folder, 'token')
      writeFileSync(file, '\n')
      const error = await rejection(readFederatedToken(credentialOf({kind: 'file', path: file}), http()))
      assert.ok(error instanceof ConfigError)
      assert.equal(error.code, 'no_federated_token')
      assert.equal(error.message, `no federated token: the federated token file ${file} is empty`)
    })

    it('a path that is not a regular file (a folder, a FIFO): no federated token, with what to do', async () => {
      const error = await rejection(readFederatedToken(credentialOf({kind: 'file', path: folder}), http()))
      assert.ok(error instanceof ConfigError, error.message)
      assert.equal(error.code, 'no_federated_token')
      assert.match(error.message, new RegExp(`^no federated token: cannot read the federated token file ${folder.replaceAll('/', '\\/')}: `))
      assert.deepEqual(error.suggestions, ['name a regular file'])
    })

    it('a variable far larger than a token is refused as it is (exit 2)', async () => {
      process.env[VARIABLE] = 'x'.repeat(65 * 1024)
      const error = await rejection(readFederatedToken(credentialOf({kind: 'env', variable: VARIABLE}), http()))
      assert.ok(error instanceof UsageError, error.message)
      assert.match(error.message, new RegExp(`^the federated token: the environment variable ${VARIABLE} holds more than 64 KiB`))
    })

    it('a file far larger than a token is refused as it is (exit 2), never read whole', async () => {
      const file = join(folder, 'token')
      writeFileSync(file, 'x'.repeat(65 * 1024))
      const error = await rejection(readFederatedToken(credentialOf({kind: 'file', path: file}), http()))
      assert.ok(error instanceof UsageError, error.message)
      assert.equal(error.code, 'input_too_large')
    })

    it('the file is read as it is at each request: one replaced between two requests is read again', async () => {
      const file = join(folder, 'token')
      writeFileSync(file, jwt(CLAIMS))
      const credential = credentialOf({kind: 'file', path: file})
      await readFederatedToken(credential, http())
      unlinkSync(file)
      writeFileSync(file, jwt({...CLAIMS, sub: 'rotated'}))
      await readFederatedToken(credential, http())
      assert.equal(credential.presented?.sub, 'rotated')
    })
  })

  describe("from the GitHub Actions runner: the request token goes to the runner's URL only", () => {
    let runner: FakeGithubActions
    before(async () => {
      runner = await startFakeGithubActions()
    })
    after(async () => {
      await runner?.stop()
    })
    beforeEach(() => {
      runner.resetCounters()
      Object.assign(process.env, runner.env)
    })

    const github = (audience = 'api://AzureADTokenExchange') => credentialOf({audience, kind: 'github'})

    it("asks the runner's URL for the audience, its own query kept, with the request token as bearer", async () => {
      const credential = github('api://AzureADTokenExchange')
      const token = await readFederatedToken(credential, http())
      assert.equal(runner.calls.length, 1)
      const [call] = runner.calls
      assert.equal(call.url, `/idtoken?api-version=2.0&audience=${encodeURIComponent('api://AzureADTokenExchange')}`)
      assert.equal(call.audience, 'api://AzureADTokenExchange')
      assert.ok(call.authorized, 'Authorization: bearer <the request token>')
      assert.equal(token, call.token)
      assert.equal(credential.presented?.aud, 'api://AzureADTokenExchange')
      assert.equal(credential.presented?.iss, runner.issuer)
    })

    it('a fresh token for every request: the runner is asked each time', async () => {
      const credential = github('sts.amazonaws.com')
      await readFederatedToken(credential, http())
      await readFederatedToken(credential, http())
      assert.deepEqual(
        runner.calls.map((call) => call.audience),
        ['sts.amazonaws.com', 'sts.amazonaws.com'],
      )
    })

    it("without the runner's variables (no `permissions: id-token: write`): exit 3, nothing asked", async () => {
      delete process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN
      const error = await rejection(readFederatedToken(github(), http()))
      assert.equal(error.exitCode, ExitCode.config)
      assert.equal(error.code, 'no_federated_token')
      assert.deepEqual(runner.calls, [])
    })

    it('a runner URL over plain http to a host that is not this machine is refused before anything is sent', async () => {
      const stranger = await startStranger()
      try {
        process.env.ACTIONS_ID_TOKEN_REQUEST_URL = `http://${stranger.address}:${stranger.port}/idtoken?api-version=2.0`
        const error = await rejection(readFederatedToken(github(), http()))
        assert.ok(error instanceof ConfigError, error.message)
        assert.equal(error.code, 'insecure_url')
        assert.match(error.message, /^refusing plain http to .* \(ACTIONS_ID_TOKEN_REQUEST_URL\): only loopback hosts may use http$/)
        assert.deepEqual(stranger.requests, [])
      } finally {
        await stranger.stop()
      }
    })

    it('503 or 429: unavailable, which the grant retries (exit 6 when it gives up)', async () => {
      for (const status of [503, 429]) {
        runner.failNext(status)
        const error = await rejection(readFederatedToken(github(), http()))
        assert.ok(error instanceof NetworkError, error.message)
        assert.equal(error.retryable, true)
        assert.equal(error.message, `the GitHub Actions runner's token service (${new URL(runner.requestUrl).host}) is unavailable (HTTP ${status})`)
      }
    })

    it('any other status is a refusal of the request token: exit 3 with what the job needs', async () => {
      runner.failNext(403)
      const error = await rejection(readFederatedToken(github(), http()))
      assert.ok(error instanceof ConfigError, error.message)
      assert.equal(error.code, 'no_federated_token')
      assert.equal(error.message, `the GitHub Actions runner (${new URL(runner.requestUrl).host}) refused the OIDC token request (HTTP 403)`)
      assert.deepEqual(error.details.status, 403)
      assert.deepEqual(error.suggestions, ['ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN must come from this job, which needs `permissions: id-token: write`'])
    })
  })

  describe('from a runner that answers as the test says', () => {
    const answer: {status: number; body: string; headers: Record<string, string>; hang?: boolean} = {body: '', headers: {}, status: 200}
    const seen: Array<{headers: IncomingHttpHeaders; url: string}> = []
    const server = createServer((req, res) => {
      seen.push({headers: req.headers, url: req.url ?? ''})
      if (answer.hang) return
      res.writeHead(answer.status, {'content-type': 'application/json', ...answer.headers}).end(answer.body)
    })
    let origin = ''
    before(async () => {
      origin = `http://127.0.0.1:${await listenOnLoopback(server)}`
    })
    after(async () => {
      await closeServer(server)
    })
    beforeEach(() => {
      seen.length = 0
      Object.assign(answer, {body: JSON.stringify({value: jwt(CLAIMS)}), headers: {}, hang: false, status: 200})
      process.env.ACTIONS_ID_TOKEN_REQUEST_URL = `${origin}/token`
      process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = REQUEST_TOKEN
    })

    const read = (timeoutSeconds = 5) => readFederatedToken(credentialOf({audience: 'a b/c', kind: 'github'}), http(timeoutSeconds))

    it('a URL without a query gets one; the audience encoded; JSON asked for; the value trimmed', async () => {
      answer.body = JSON.stringify({value: ` ${jwt(CLAIMS)}\n`})
      assert.equal(await read(), jwt(CLAIMS))
      assert.equal(seen.length, 1)
      assert.equal(seen[0].url, '/token?audience=a%20b%2Fc')
      assert.equal(seen[0].headers.authorization, `bearer ${REQUEST_TOKEN}`)
      assert.equal(seen[0].headers.accept, 'application/json')
    })

    it('a redirect is not followed: the request token never goes where it points', async () => {
      const stranger = await startStranger()
      try {
        Object.assign(answer, {body: '', headers: {location: `http://127.0.0.1:${stranger.port}/steal`}, status: 307})
        const error = await rejection(read())
        assert.equal(error.code, 'no_federated_token')
        assert.match(error.message, /refused the OIDC token request \(HTTP 307\)$/)
        assert.deepEqual(stranger.requests, [])
      } finally {
        await stranger.stop()
      }
    })

    it('an answer without a JWT in "value": exit 6, the answer never quoted', async () => {
      for (const body of ['not json', '{}', '{"value":42}', '{"value":"opaque-token"}', 'null', `{"value":"${jwt({})}.x"}`]) {
        answer.body = body
        const error = await rejection(read())
        assert.ok(error instanceof NetworkError, `${body}: ${error.message}`)
        assert.equal(error.code, 'invalid_response')
        assert.equal(error.message, `the GitHub Actions runner (${new URL(origin).host}) answered without a JWT in "value"`)
        assert.deepEqual(error.details.status, 200)
      }
    })

    it('a runner that cannot be reached: exit 6 naming the runner and the variable its URL came from', async () => {
      const port = await closedLoopbackPort()
      process.env.ACTIONS_ID_TOKEN_REQUEST_URL = `http://127.0.0.1:${port}/token`
      const error = await rejection(read())
      assert.ok(error instanceof NetworkError, error.message)
      assert.match(error.message, new RegExp(`the GitHub Actions runner \\(127\\.0\\.0\\.1:${port}\\)`))
      assert.deepEqual(error.suggestions, [`nothing listens on 127.0.0.1:${port}: check ACTIONS_ID_TOKEN_REQUEST_URL and its port, and that the runner is running`])
    })

    it('a runner that never answers: exit 6 once --timeout has passed', async () => {
      answer.hang = true
      const started = Date.now()
      const error = await rejection(read(1))
      assert.ok(error instanceof NetworkError, error.message)
      assert.ok(Date.now() - started < 10_000)
    })
  })
})

describe('the advice when a server refuses a federated token', () => {
  const now = Date.UTC(2030, 0, 1)
  const advised = (presented: FederatedCredential['presented'], source: FederatedTokenSource = {kind: 'env', variable: 'X'}) =>
    federatedRefusalAdvice({kind: 'federated', label: 'x', presented, source}, now)!

  it('how long ago it expired, in seconds, minutes or hours', () => {
    const expiredBy = (seconds: number) => /expired (.*?);/.exec(advised({exp: now / 1000 - seconds}).suggestion)?.[1]
    assert.equal(expiredBy(0), '0 s ago', 'an exp of now is expired')
    assert.equal(expiredBy(119), '119 s ago')
    assert.equal(expiredBy(120), '2 min ago')
    assert.equal(expiredBy(7199), '120 min ago')
    assert.equal(expiredBy(7200), '2 h ago')
    assert.equal(expiredBy(3 * 86_400), '72 h ago')
  })

  it('an expired token read from a variable or the runner: give a fresh one', () => {
    assert.match(advised({exp: now / 1000 - 1}).suggestion, /expired 1 s ago; give a fresh token: it is read again for every request$/)
    assert.match(advised({exp: now / 1000 - 1}, {audience: 'a', kind: 'github'}).suggestion, /; give a fresh token/)
  })

  it('one not expired, or without a numeric exp: the claims the federated credential must name', () => {
    for (const exp of [now / 1000 + 1, undefined, '0']) {
      const {details, suggestion} = advised({exp, iss: 'https://i.example', sub: 's'})
      assert.equal(
        suggestion,
        `the federated token presented iss "https://i.example", sub "s", aud (none): the app's federated credential must name exactly this issuer, subject and audience (Microsoft Entra: the app registration's Certificates & secrets, Federated credentials)`,
      )
      assert.deepEqual(details, {presented_claims: exp === undefined ? {iss: 'https://i.example', sub: 's'} : {exp, iss: 'https://i.example', sub: 's'}})
    }
  })

  it('a claim is quoted whole up to 200 characters', () => {
    assert.ok(advised({sub: 'y'.repeat(200)}).suggestion.includes(`sub "${'y'.repeat(200)}",`))
    assert.ok(advised({sub: 'y'.repeat(201)}).suggestion.includes(`sub "${'y'.repeat(200)}…",`))
    assert.ok(advised({aud: 5}).suggestion.includes('aud "5"'))
  })
})
