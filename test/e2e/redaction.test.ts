/**
 * `--verbose` never shows a secret: table-driven over every name the trace masks
 * (src/lib/http/trace.ts), each seen through real runs of the built CLI against the real servers —
 * a session refresh (refresh_token), a browser sign-in with PKCE (code, code_verifier, id_token), a
 * device sign-in (device_code), client_secret_basic and client_secret_post, private_key_jwt
 * (client_assertion), both OBO flavors (assertion, subject_token), session end's RFC 7009 revocation
 * (token), tokens in responses (access_token) and in URLs. For each sighting the secret value is
 * nowhere on stderr and its masked form is there; of a token, not even its first characters.
 *
 * The table and the code's lists must agree both ways: a name masked in the code but missing here,
 * or listed here but no longer masked, fails the first test.
 */
import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {completeAuthorization, approveDevice} from '../../src/lib/devidp/robot.js'
import {COOKIE_HEADERS, CREDENTIAL_HEADERS, NEVER_SHOWN, PROOF_HEADERS, TOKEN_LIKE} from '../../src/lib/http/trace.js'
import {FileStore} from '../../src/lib/store/file-store.js'
import {type ApiServer, SESSION_COOKIE, useAuthServerWithApi} from '../helpers/api-server.js'
import {expectExit} from '../helpers/assertions.js'
import type {AuthServer, AuthServerOptions} from '../helpers/auth-server.js'
import {cliWithHome, type CliResult, stderrMatch} from '../helpers/cli.js'
import {type FakeGithubActions, REQUEST_TOKEN, startFakeGithubActions} from '../helpers/github-actions.js'

const PASSPHRASE = 'redaction tests'
const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}

type Shown = 'never' | 'token'

/** Request and response parameters (form bodies, JSON fields, URL queries), and where a real run sends or receives each. */
const PARAMETERS: Record<string, {in: string; shown: Shown}> = {
  access_token: {in: 'every token response', shown: 'token'},
  actor_token: {in: 'URLs only: tokenctl never sends it', shown: 'never'},
  assertion: {in: 'token obo --flavor entra (jwt-bearer OBO)', shown: 'never'},
  client_assertion: {in: 'token client with private_key_jwt', shown: 'never'},
  client_secret: {in: 'token client with client_secret_post', shown: 'never'},
  code: {in: 'token user --browser (authorization code)', shown: 'never'},
  code_verifier: {in: 'token user --browser (PKCE)', shown: 'never'},
  device_code: {in: 'token user --device (device authorization response and polls)', shown: 'never'},
  id_token: {in: 'token user --browser with scope openid', shown: 'token'},
  password: {in: 'URLs only: tokenctl never sends it', shown: 'never'},
  refresh_token: {in: 'session start and session refresh (request and rotated response)', shown: 'token'},
  subject_token: {in: 'token obo --flavor rfc8693 (token exchange)', shown: 'never'},
  token: {in: 'session end (RFC 7009 revocation)', shown: 'token'},
  value: {in: "token client --federated-token-github (the GitHub Actions runner's answer)", shown: 'never'},
}

/** Headers: a credential keeps its scheme (a bearer token as a length and a short hash); a cookie never shows; a DPoP proof as a length and a short hash. */
const HEADERS: Record<string, {in: string; shown: 'never' | 'scheme' | 'token'}> = {
  authorization: {in: 'call with a token; token client with client_secret_basic', shown: 'scheme'},
  cookie: {in: 'call -H Cookie', shown: 'never'},
  dpop: {in: 'token client --dpop and call with a DPoP-bound token (the proofs)', shown: 'token'},
  'proxy-authorization': {in: 'call -H Proxy-Authorization', shown: 'scheme'},
  'set-cookie': {in: 'call /set-cookie (the response)', shown: 'never'},
}

const URL_ONLY = 'URLs only'

/** A secret value as it crossed the wire under a name, in one run; `url` when it travelled in a query string. */
interface Sighting {
  name: string
  run: string
  url?: boolean
  value: string
}

const escape = (text: string) => text.replaceAll(/[$()*+.?[\\\]^{|}]/g, '\\$&')
/** A token as the trace shows it: its length and the first 8 hex digits of `printf %s "$TOKEN" | sha256sum`. */
const lengthAndHash = (value: string) => `<${value.length} chars, sha256:${createHash('sha256').update(value).digest('hex').slice(0, 8)}>`
/**
 * The start of a token that must never be on stderr. Six characters: the eight the trace once showed
 * would contain them, and a random token's six are too rare to be there by chance (a JWT's are its
 * header, `eyJhbG`, found on stderr only when some JWT's start is shown).
 */
const PREFIX_LENGTH = 6

/** What the trace shows in place of the value: checked against our own idea of it, not the code's. */
function maskedForm(sighting: Sighting): RegExp {
  const shown = PARAMETERS[sighting.name].shown === 'never' ? '<redacted>' : lengthAndHash(sighting.value)
  if (sighting.url) return new RegExp(`[?&]${escape(new URLSearchParams({[sighting.name]: shown}).toString())}(&|\\s|$)`, 'm')
  return new RegExp(`(^|\\s)${escape(sighting.name)}=${escape(shown)}(\\s|$)`, 'm')
}

describe('--verbose never shows a secret (every masked name, through real runs)', function () {
  this.timeout(180_000)
  let server: AuthServer
  let api: ApiServer
  let github: FakeGithubActions
  // The federated client trusts the fake runner, which must be up before the server is made.
  const serverOptions: AuthServerOptions = {deviceInterval: 1}
  before(async () => {
    github = await startFakeGithubActions()
    serverOptions.devClients = [
      {
        authMethod: 'federated',
        clientId: 'ci-app',
        federatedCredentials: [{audience: 'api://AzureADTokenExchange', issuer: github.issuer, subject: github.subject}],
        grantTypes: ['client_credentials'],
      },
    ]
  })
  after(async () => {
    await github?.stop()
  })
  useAuthServerWithApi((started, startedApi) => {
    server = started
    api = startedApi
  }, serverOptions)

  /** stderr of every run, by name, and every secret that crossed the wire. */
  const traces = new Map<string, string>()
  const sightings: Sighting[] = []
  const headerSecrets = new Map<string, Array<{run: string; secret: string; shown: RegExp}>>()

  function traced(run: string, result: CliResult): CliResult {
    expectExit(result, 0)
    assert.match(result.stderr, / → \d{3} in \d+ ms/, `${run}: --verbose traced nothing`)
    traces.set(run, result.stderr)
    return result
  }

  const saw = (run: string, name: string, value: unknown, url = false) => {
    assert.ok(typeof value === 'string' && value.length > 8, `${run}: no ${name} to look for (${String(value)})`)
    sightings.push({name, run, url, value})
  }

  const sawHeader = (run: string, name: string, secret: string, shown: RegExp) => {
    headerSecrets.set(name, [...(headerSecrets.get(name) ?? []), {run, secret, shown}])
  }

  const lastRequest = (grant: string) => server.tokenRequests.filter((request) => request.grant_type === grant).at(-1)!

  async function storedRefreshToken(home: string, key: string): Promise<string> {
    const previous = process.env.TOKENCTL_HOME
    process.env.TOKENCTL_HOME = home
    try {
      return JSON.parse((await new FileStore({passphrase: PASSPHRASE}).get(`session:${key}`))!).refresh_token
    } finally {
      if (previous === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = previous
    }
  }

  before(async () => {
    const cli = cliWithHome({env: FILE_STORE})
    const {basic, post, jwt, api: webApi} = server.clients

    // client_secret_basic: the secret only in the Authorization header.
    let run = 'token client (client_secret_basic)'
    let result = traced(
      run,
      await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'S', '--no-cache', '--verbose'], {env: {S: basic.clientSecret}}),
    )
    saw(run, 'access_token', result.stdout.trim())
    sawHeader(run, 'authorization', Buffer.from(`basic:${basic.clientSecret}`).toString('base64'), /> authorization: Basic <redacted>$/m)
    sawHeader(run, 'authorization', basic.clientSecret!, /> authorization: Basic <redacted>$/m)
    const clientToken = result.stdout.trim()

    run = 'token client (client_secret_post)'
    result = traced(
      run,
      await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'post', '--auth-method', 'client_secret_post', '--client-secret-env', 'S', '--no-cache', '--verbose'], {
        env: {S: post.clientSecret},
      }),
    )
    saw(run, 'client_secret', lastRequest('client_credentials').params.client_secret)
    saw(run, 'access_token', result.stdout.trim())

    run = 'token client (private_key_jwt)'
    const key = join(cli.home, 'key.pem')
    writeFileSync(key, jwt.privateKeyPem)
    result = traced(run, await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'jwt', '--private-key-file', key, '--key-id', jwt.kid, '--no-cache', '--verbose']))
    saw(run, 'client_assertion', lastRequest('client_credentials').params.client_assertion)

    // Federated: the runner's answer carries the external JWT as `value`, and its request token goes in a header.
    run = 'token client (federated, GitHub Actions runner)'
    traced(run, await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'ci-app', '--federated-token-github', '--scope', 'read', '--no-cache', '--verbose'], {env: github.env}))
    saw(run, 'value', github.calls.at(-1)?.token)
    saw(run, 'client_assertion', lastRequest('client_credentials').params.client_assertion)
    sawHeader(run, 'authorization', REQUEST_TOKEN, new RegExp(`> authorization: bearer ${escape(lengthAndHash(REQUEST_TOKEN))}$`, 'm'))

    // Both OBO flavors, with the user's token as the assertion.
    const userToken = await server.mintUserToken({aud: webApi.clientId, sub: 'alice'})
    const obo = ['token', 'obo', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-env', 'S', '--assertion-env', 'U', '--scope', 'read', '--no-cache', '--verbose']
    for (const [flavor, name] of [
      ['entra', 'assertion'],
      ['rfc8693', 'subject_token'],
    ] as const) {
      run = `token obo --flavor ${flavor}`
      result = traced(run, await cli.run([...obo, '--flavor', flavor], {env: {S: webApi.clientSecret, U: userToken}}))
      saw(run, name, userToken)
      saw(run, 'access_token', result.stdout.trim())
    }

    // A session: the refresh token in start's response, in refresh's request and rotated response, in end's revocation.
    expectExit(await cli.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: webApi.clientSecret}), 0)
    run = 'session start'
    traced(run, await cli.run(['session', 'start', 'api', '--assertion-env', 'U', '--scope', 'read', '--key', 'k', '--verbose'], {env: {U: userToken}}))
    const first = await storedRefreshToken(cli.home, 'k')
    saw(run, 'refresh_token', first)
    run = 'session refresh --force'
    result = traced(run, await cli.run(['session', 'refresh', '--key', 'k', '--force', '--verbose']))
    const rotated = await storedRefreshToken(cli.home, 'k')
    assert.notEqual(rotated, first)
    saw(run, 'refresh_token', first)
    saw(run, 'refresh_token', rotated)
    saw(run, 'access_token', result.stdout.trim())
    run = 'session end'
    traced(run, await cli.run(['session', 'end', '--key', 'k', '--verbose']))
    assert.equal(server.revocations.length, 1, 'the revocation was sent')
    saw(run, 'token', rotated)

    // A browser sign-in with PKCE, scope openid: the code, the verifier, and an ID token back.
    run = 'token user --browser'
    // The ID token is in no request: taken from the provider's own answer.
    const idTokens: string[] = []
    const onGrant = (ctx: {body?: {id_token?: unknown}}) => {
      if (typeof ctx.body?.id_token === 'string') idTokens.push(ctx.body.id_token)
    }
    server.provider.on('grant.success', onGrant)
    const browser = cli.start(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'openid access_as_user', '--browser', '--no-open', '--verbose'])
    const [, url] = await stderrMatch(browser, /open this URL in a browser:\n(\S+)/)
    const back = await completeAuthorization(url, {login: 'bob'})
    await (await fetch(back)).text()
    result = traced(run, await browser.result)
    server.provider.off('grant.success', onGrant)
    const redeemed = lastRequest('authorization_code')
    saw(run, 'code', redeemed.params.code)
    saw(run, 'code_verifier', redeemed.params.code_verifier)
    saw(run, 'access_token', result.stdout.trim())
    saw(run, 'id_token', idTokens.at(-1))

    // A device sign-in: the device code in the authorization response and in every poll.
    run = 'token user --device'
    const device = cli.start(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--device', '--verbose'])
    const [, verificationUri, userCode] = await stderrMatch(device, /open (\S+) and enter the code (\S+)/)
    await approveDevice(verificationUri, {login: 'carol', userCode})
    result = traced(run, await device.result)
    saw(run, 'device_code', lastRequest('urn:ietf:params:oauth:grant-type:device_code').params.device_code)

    // call: a bearer token, the cookies both ways, a proxy credential, and every name in a query string.
    // Random first: the start of each value is what the prefix check looks for.
    const query = Object.fromEntries(Object.keys(PARAMETERS).map((name) => [name, `${randomBytes(12).toString('base64url')}-${name}`]))
    const proxyCredential = Buffer.from('proxy-user:proxy-password').toString('base64')
    run = 'call (query, headers)'
    result = traced(
      run,
      await cli.run(
        [
          'call',
          `${api.url}/set-cookie?${new URLSearchParams(query).toString()}`,
          '--token-env',
          'T',
          '--verbose',
          '-H',
          `Cookie: ${SESSION_COOKIE}`,
          '-H',
          `Proxy-Authorization: Basic ${proxyCredential}`,
        ],
        {env: {T: clientToken}},
      ),
    )
    for (const [name, value] of Object.entries(query)) saw(run, name, value, true)
    sawHeader(run, 'authorization', clientToken, new RegExp(`> authorization: Bearer ${escape(lengthAndHash(clientToken))}$`, 'm'))
    sawHeader(run, 'cookie', SESSION_COOKIE, /> cookie: <redacted>$/m)
    sawHeader(run, 'set-cookie', 'secret-cookie-value', /< set-cookie: <redacted>$/m)
    sawHeader(run, 'proxy-authorization', proxyCredential, /> proxy-authorization: Basic <redacted>$/m)

    // DPoP: the proofs of a token request and of an API call, and a DPoP-bound token in Authorization.
    run = 'token client --dpop, call'
    expectExit(await cli.run(['client', 'add', 'dpop', '--issuer', server.issuer, '--client-id', 'dpop', '--client-secret-stdin', '--dpop'], {input: 'dpop-secret'}), 0)
    result = traced(run, await cli.run(['call', `${api.url}/echo`, '--client', 'dpop', '--verbose']))
    const tokenProof = lastRequest('client_credentials').headers.dpop as string
    sawHeader(run, 'dpop', tokenProof, new RegExp(`> dpop: ${escape(lengthAndHash(tokenProof))}$`, 'm'))
    const apiRequest = api.requests.at(-1)!
    sawHeader(run, 'dpop', apiRequest.dpop!, new RegExp(`> dpop: ${escape(lengthAndHash(apiRequest.dpop!))}$`, 'm'))
    const dpopToken = apiRequest.authorization!.replace(/^DPoP /, '')
    sawHeader(run, 'authorization', dpopToken, new RegExp(`> authorization: DPoP ${escape(lengthAndHash(dpopToken))}$`, 'm'))
  })

  it('the table here and the lists in src/lib/http/trace.ts name the same secrets, masked the same way', () => {
    const named = (shown: string) =>
      Object.keys(PARAMETERS)
        .filter((name) => PARAMETERS[name].shown === shown)
        .sort()
    assert.deepEqual([...NEVER_SHOWN].sort(), named('never'), 'parameters never shown')
    assert.deepEqual([...TOKEN_LIKE].sort(), named('token'), 'parameters shown as a length and a short hash')
    const headers = (shown: string) =>
      Object.keys(HEADERS)
        .filter((name) => HEADERS[name].shown === shown)
        .sort()
    assert.deepEqual([...CREDENTIAL_HEADERS].sort(), headers('scheme'), 'credential headers')
    assert.deepEqual([...COOKIE_HEADERS].sort(), headers('never'), 'cookie headers')
    assert.deepEqual([...PROOF_HEADERS].sort(), headers('token'), 'proof headers')
  })

  for (const [name, {in: where, shown}] of Object.entries(PARAMETERS)) {
    it(`${name}: ${shown === 'never' ? 'never shown' : 'a length and a short hash, never its first characters'} (${where})`, () => {
      const mine = sightings.filter((sighting) => sighting.name === name)
      if (!where.startsWith(URL_ONLY))
        assert.ok(
          mine.some((sighting) => !sighting.url),
          `no real run sent or received ${name}`,
        )
      assert.ok(
        mine.some((sighting) => sighting.url),
        `${name} was not tried in a URL`,
      )
      for (const sighting of mine) {
        const stderr = traces.get(sighting.run)!
        assert.ok(!stderr.includes(sighting.value), `${sighting.run}: ${name} in clear on stderr:\n${stderr}`)
        assert.ok(!stderr.includes(sighting.value.slice(0, PREFIX_LENGTH)), `${sighting.run}: the start of ${name} on stderr:\n${stderr}`)
        assert.match(stderr, maskedForm(sighting), `${sighting.run}: ${name} not shown masked`)
      }
    })
  }

  for (const [name, {in: where, shown}] of Object.entries(HEADERS)) {
    it(`header ${name}: ${shown === 'never' ? 'never shown' : shown === 'token' ? 'a length and a short hash' : 'its scheme only, a bearer token as a length and a short hash'} (${where})`, () => {
      const mine = headerSecrets.get(name) ?? []
      assert.ok(mine.length > 0, `no run sent or received ${name}`)
      for (const {run, secret, shown: pattern} of mine) {
        const stderr = traces.get(run)!
        assert.ok(!stderr.includes(secret), `${run}: ${name} in clear on stderr:\n${stderr}`)
        // A cookie's value is no token, and its start ("secret-…") may be any word.
        if (shown !== 'never') assert.ok(!stderr.includes(secret.slice(0, PREFIX_LENGTH)), `${run}: the start of ${name} on stderr:\n${stderr}`)
        assert.match(stderr, pattern, `${run}: ${name} not shown masked:\n${stderr}`)
      }
    })
  }

  it('no run shows any secret of any other run, nor anything that looks like a whole JWT', () => {
    const secrets = [...sightings.map((sighting) => sighting.value), ...[...headerSecrets.values()].flat().map((entry) => entry.secret)]
    for (const [run, stderr] of traces) {
      for (const secret of secrets) assert.ok(!stderr.includes(secret), `${run} shows a secret: ${secret.slice(0, 12)}…`)
      assert.doesNotMatch(stderr, /eyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]{6,}/, `${run} shows a JWT`)
    }
  })
})
