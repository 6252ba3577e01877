import {strict as assert} from 'node:assert'
import {statSync, readdirSync} from 'node:fs'
import {createServer} from 'node:net'
import {join} from 'node:path'

import {approveDevice} from '../../src/lib/devidp/robot.js'
import {expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type AuthServer, type ProviderConfiguration, useAuthServer} from '../helpers/auth-server.js'
import {type CliResult, cliWithHome, stderrMatch} from '../helpers/cli.js'
import {startHttpsFront} from '../helpers/https-front.js'
import {requireTestPki} from '../helpers/tls.js'
import {startTestIssuer, TENANT, type TestIssuer} from '../helpers/jwt-issuer.js'
import {KEY_PARAMETERS, type KeyForger, startKeyForger} from '../helpers/key-forger.js'
import {assertNoTerminalControl, HOSTILE_TEXT, HOSTILE_TEXT_ESCAPED} from '../helpers/terminal-control.js'

const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'correct horse battery staple'}
/** A resource whose access tokens oidc-provider issues opaque: only introspection can say anything about them. */
const OPAQUE_RESOURCE = 'urn:tokenctl:opaque'
const CHECK_NAMES = ['signature', 'iss', 'aud', 'exp', 'nbf', 'scp', 'roles']

interface CheckLine {
  detail: string
  name: string
  status: string
}

/** The check lines of stdout: `name  status  detail`. */
function checkLines(result: CliResult): CheckLine[] {
  return result.stdout
    .trimEnd()
    .split('\n')
    .map((line) => {
      const match = /^(\w+)\s+(passed|failed|skipped)\s+(.*)$/.exec(line)
      assert.ok(match, `not a check line: ${line}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`)
      return {name: match[1], status: match[2], detail: match[3]}
    })
}

function check(result: CliResult, name: string): CheckLine {
  const line = checkLines(result).find((candidate) => candidate.name === name)
  assert.ok(line, `no ${name} line in:\n${result.stdout}`)
  return line
}

/** The checks that failed, by name: a test of one failure proves the others did not fail with it. */
function failedChecks(result: CliResult): string[] {
  return checkLines(result)
    .filter((line) => line.status === 'failed')
    .map((line) => line.name)
}

/** Neither output ever holds the token (its signature part is unique to it). */
function assertTokenNotShown(result: CliResult, token: string): void {
  const secret = token.split('.')[2] || token
  assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), 'the token appears in the output')
}

/** A 127.0.0.1 port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('token verify (end to end)', function () {
  this.timeout(60_000)

  describe('against oidc-provider (its JWKS, JWT access tokens, introspection)', () => {
    let server: AuthServer
    useAuthServer(
      (started) => {
        server = started
      },
      {
        deviceInterval: 1,
        configure(configuration: ProviderConfiguration) {
          const indicators = configuration.features.resourceIndicators
          const info = indicators.getResourceServerInfo
          indicators.getResourceServerInfo = (ctx: unknown, resource: string, client: unknown) =>
            resource === OPAQUE_RESOURCE ? {scope: 'api', audience: OPAQUE_RESOURCE, accessTokenFormat: 'opaque'} : info(ctx, resource, client)
        },
      },
    )

    const userToken = (claims: {aud?: string; expiresIn?: number; scope?: string} = {}) =>
      server.mintUserToken({sub: 'alice', aud: claims.aud ?? 'api', scope: claims.scope ?? 'access_as_user', expiresIn: claims.expiresIn})

    it('passes every check of a user token piped in, and says what it compared; the keys are cached', async () => {
      const cli = cliWithHome()
      const token = await userToken()
      const result = await cli.run(['token', 'verify', '--issuer', server.issuer, '--audience', 'api', '--scope', 'access_as_user'], {input: `${token}\n`})
      expectExit(result, 0)
      assert.equal(result.stderr, '')
      assert.deepEqual(
        checkLines(result).map((line) => line.name),
        CHECK_NAMES,
      )
      assert.match(check(result, 'signature').detail, /^RS256, kid \S+, from the JWKS at http:\/\/127\.0\.0\.1:\d+\/jwks \(fetched\)$/)
      assert.equal(check(result, 'iss').status, 'passed')
      assert.equal(check(result, 'aud').detail, 'api')
      assert.match(check(result, 'exp').detail, /^expires in (59|60) minutes \(exp \S+Z; clock skew 300 s\)$/)
      assert.match(check(result, 'scp').detail, /^access_as_user \(scope: access_as_user\)$/)
      assert.equal(check(result, 'roles').status, 'skipped')
      assert.equal(server.requests.filter((request) => request.path === '/jwks').length, 1)
      assertTokenNotShown(result, token)

      const jwksFiles = readdirSync(join(cli.home, 'cache', 'jwks'))
      assert.equal(jwksFiles.length, 1)
      assert.equal(statSync(join(cli.home, 'cache', 'jwks', jwksFiles[0])).mode & 0o777, 0o600)
      assert.ok(!jwksFiles.some((file) => file.endsWith('.tmp')))

      const again = await cli.run(['token', 'verify', token, '--issuer', server.issuer, '--audience', 'api'])
      expectExit(again, 0)
      assert.match(check(again, 'signature').detail, /\(cache\)$/)
      assert.equal(server.requests.filter((request) => request.path === '/jwks').length, 1, 'a cached key set is not fetched again')
    })

    it("a user token from a real device-flow sign-in passes the README recipe's checks (--audience api://api --scope access_as_user)", async () => {
      const cli = cliWithHome({env: FILE_STORE})
      const child = cli.start(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--device'])
      const [, verificationUri, userCode] = await stderrMatch(child, /open (\S+) and enter the code (\S+)/)
      await approveDevice(verificationUri, {login: 'alice', userCode})
      const signedIn = await child.result
      expectExit(signedIn, 0)
      const result = await cli.run(['token', 'verify', '--issuer', server.issuer, '--audience', 'api://api', '--scope', 'access_as_user'], {input: signedIn.stdout})
      expectExit(result, 0)
      assert.match(check(result, 'aud').detail, /^api matches --audience api:\/\/api: /)
      assert.equal(check(result, 'scp').detail, 'access_as_user (scope: access_as_user)')
    })

    it('verifies a client-credentials token oidc-provider issued, from a named client, and reads the token from stdin with a lone NAME', async () => {
      const cli = cliWithHome({env: {...FILE_STORE, WORKER_SECRET: server.clients.worker.clientSecret!}})
      const issued = await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'worker', '--client-secret-env', 'WORKER_SECRET', '--scope', 'api', '--no-cache'])
      expectExit(issued, 0)
      expectExit(await cli.run(['client', 'add', 'idp', '--issuer', server.issuer, '--client-id', 'worker']), 0)
      const result = await cli.run(['token', 'verify', 'idp', '--audience', server.resources.api, '--scope', 'api'], {input: issued.stdout})
      expectExit(result, 0)
      assert.equal(check(result, 'aud').detail, server.resources.api)
      assertTokenNotShown(result, issued.stdout.trim())
    })

    it("token verify NAME of a web API's client: the audience defaults to its client id and api://{client id}, as Microsoft.Identity.Web's; --audience overrides; a public client's name sets none", async () => {
      const cli = cliWithHome({env: FILE_STORE})
      const add = await cli.run(['client', 'add', 'web', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret!})
      expectExit(add, 0)
      expectExit(await cli.run(['client', 'add', 'cli', '--issuer', server.issuer, '--client-id', 'cli', '--auth-method', 'none']), 0)
      const defaults = 'no --audience: client "web"\'s id and app ID URI, the audiences Microsoft.Identity.Web accepts by default'

      const forApi = await cli.run(['token', 'verify', 'web', '--scope', 'access_as_user'], {input: await userToken()})
      expectExit(forApi, 0)
      assert.equal(check(forApi, 'aud').detail, `api (${defaults})`)
      assert.equal(forApi.stderr, '', 'the audience was checked: no warning')

      const forOther = await userToken({aud: server.resources.api})
      const refused = await cli.run(['token', 'verify', 'web'], {input: forOther})
      expectExit(refused, 9)
      assert.deepEqual(failedChecks(refused), ['aud'])
      assert.equal(check(refused, 'aud').detail, `${server.resources.api}, expected one of api api://api (${defaults})`)
      assert.match(refused.stderr, /^Error: the token fails a check: aud — /)

      const overridden = await cli.run(['token', 'verify', '-', 'web', '--audience', server.resources.api], {input: forOther})
      expectExit(overridden, 0)
      assert.equal(check(overridden, 'aud').detail, server.resources.api)

      const publicClient = await cli.run(['token', 'verify', 'cli'], {input: forOther})
      expectExit(publicClient, 0)
      assert.equal(check(publicClient, 'aud').status, 'skipped')
      assert.match(publicClient.stderr, /^warning: the audience was not checked: /)
    })

    it('--json: {valid, checks: [{name, ok, status, detail}], claims}, skipped checks as ok null, exit 9 with the document on stdout', async () => {
      const cli = cliWithHome()
      const token = await userToken()
      const good = await cli.run(['token', 'verify', '-', '--issuer', server.issuer, '--audience', 'api', '--json'], {input: token})
      expectExit(good, 0)
      const document = json(good)
      assert.deepEqual(Object.keys(document), ['valid', 'checks', 'claims'])
      assert.equal(document.valid, true)
      assert.deepEqual(
        document.checks.map((entry: {name: string}) => entry.name),
        CHECK_NAMES,
      )
      for (const entry of document.checks) assert.deepEqual(Object.keys(entry), ['name', 'ok', 'status', 'detail'])
      const byName = Object.fromEntries(document.checks.map((entry: {name: string}) => [entry.name, entry]))
      assert.deepEqual(byName.aud, {name: 'aud', ok: true, status: 'passed', detail: 'api'})
      assert.equal(byName.roles.ok, null)
      assert.equal(byName.roles.status, 'skipped')
      assert.equal(document.claims.aud, 'api')
      assert.equal(document.claims.sub, 'alice')
      assertTokenNotShown(good, token)

      const bad = await cli.run(['token', 'verify', '-', '--issuer', server.issuer, '--audience', 'other', '--json'], {input: token})
      expectExit(bad, 9)
      const refused = json(bad)
      assert.equal(refused.valid, false)
      assert.equal(refused.error, undefined, 'the verdict, not an error object')
      assert.deepEqual(
        refused.checks.filter((entry: {ok: boolean | null}) => entry.ok === false).map((entry: {name: string}) => entry.name),
        ['aud'],
      )
    })

    it('fails the aud check alone, naming both values, and names the failed check on stderr (exit 9)', async () => {
      const token = await userToken()
      const result = await cliWithHome().run(['token', 'verify', '--issuer', server.issuer, '--audience', 'api://orders', '--audience', 'orders'], {input: token})
      expectExit(result, 9)
      assert.deepEqual(failedChecks(result), ['aud'])
      assert.equal(check(result, 'aud').detail, 'api, expected one of api://orders orders')
      assert.match(result.stderr, /^Error: the token fails a check: aud — /)
      assertTokenNotShown(result, token)
    })

    it('accepts the client id when given the app ID URI (and the reverse), and says which matched', async () => {
      const cli = cliWithHome()
      const byClientId = await userToken({aud: 'api'})
      const uri = await cli.run(['token', 'verify', '--issuer', server.issuer, '--audience', 'api://api'], {input: byClientId})
      expectExit(uri, 0)
      assert.equal(check(uri, 'aud').detail, 'api matches --audience api://api: an Entra app is addressed both by its client id and its app ID URI (api and api://api)')

      const byUri = await userToken({aud: 'api://api'})
      const id = await cli.run(['token', 'verify', '--issuer', server.issuer, '--audience', 'api'], {input: byUri})
      expectExit(id, 0)
      assert.match(check(id, 'aud').detail, /^api:\/\/api matches --audience api: /)
    })

    it('fails the scope check alone when a required scope is missing from the token', async () => {
      const token = await userToken({scope: 'read'})
      const result = await cliWithHome().run(['token', 'verify', '--issuer', server.issuer, '--audience', 'api', '--scope', 'access_as_user read'], {input: token})
      expectExit(result, 9)
      assert.deepEqual(failedChecks(result), ['scp'])
      assert.equal(check(result, 'scp').detail, 'missing access_as_user (scope: read)')
    })

    it('fails the roles check alone when the token has no roles', async () => {
      const token = await userToken()
      const result = await cliWithHome().run(['token', 'verify', '--issuer', server.issuer, '--role', 'Orders.Read'], {input: token})
      expectExit(result, 9)
      assert.deepEqual(failedChecks(result), ['roles'])
      assert.match(check(result, 'roles').detail, /^no roles claim; expected Orders\.Read: /)
    })

    it('an expired token: "expired N minutes ago" beyond the clock skew; within it the token passes; --clock-skew 0 refuses it', async () => {
      const cli = cliWithHome()
      const longExpired = await userToken({expiresIn: -600})
      const result = await cli.run(['token', 'verify', '--issuer', server.issuer], {input: longExpired})
      expectExit(result, 9)
      assert.deepEqual(failedChecks(result), ['exp'])
      assert.match(check(result, 'exp').detail, /^expired 10 minutes ago \(exp \S+Z; clock skew 300 s\)$/)

      const justExpired = await userToken({expiresIn: -60})
      const tolerated = await cli.run(['token', 'verify', '--issuer', server.issuer], {input: justExpired})
      expectExit(tolerated, 0)
      assert.match(check(tolerated, 'exp').detail, /^expired 6\d seconds ago but within the clock skew 300 s/)
      const strict = await cli.run(['token', 'verify', '--issuer', server.issuer, '--clock-skew', '0'], {input: justExpired})
      expectExit(strict, 9)
      assert.match(check(strict, 'exp').detail, /^expired 6\d seconds ago \(exp \S+Z; clock skew 0 s\)$/)
    })

    it('a tampered token: a bad signature, while the claims are still each reported', async () => {
      const token = await userToken({scope: 'read'})
      const [header, payload, signature] = token.split('.')
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
      const tampered = [header, Buffer.from(JSON.stringify({...claims, scope: 'access_as_user'})).toString('base64url'), signature].join('.')
      const result = await cliWithHome().run(['token', 'verify', '--issuer', server.issuer, '--scope', 'access_as_user', '--verbose'], {input: tampered})
      expectExit(result, 9)
      assert.match(result.stderr, /GET http:\/\/127\.0\.0\.1:\d+\/jwks → 200/, 'the JWKS goes through the traced HTTP layer')
      assertTokenNotShown(result, tampered)
      assert.deepEqual(failedChecks(result), ['signature'])
      assert.match(check(result, 'signature').detail, /^bad signature: RS256 with kid \S+ from the JWKS at \S+ \(fetched\) does not verify — the token was altered/)
    })

    describe("a token that carries its own key in its header (jwk, jku, x5c, x5u) is never trusted (RFC 8725 §3.10: only the issuer's keys count)", () => {
      let forger: KeyForger
      before(async () => {
        forger = await startKeyForger()
      })
      after(async () => {
        await forger?.stop()
      })
      beforeEach(() => {
        forger.requests.length = 0
      })

      const forged = (parameter: (typeof KEY_PARAMETERS)[number], header: Record<string, unknown> = {}) =>
        forger.forge({iss: server.issuer, sub: 'mallory', aud: 'api', scope: 'access_as_user'}, parameter, header)

      for (const parameter of KEY_PARAMETERS) {
        it(`${parameter}: the attacker's key, absent from oidc-provider's JWKS, signs it: exit 9 on the signature alone, the header's key neither used nor fetched`, async () => {
          const cli = cliWithHome()
          const token = await forged(parameter)
          const result = await cli.run(['token', 'verify', '--issuer', server.issuer, '--audience', 'api', '--scope', 'access_as_user'], {input: token})
          expectExit(result, 9)
          assert.deepEqual(failedChecks(result), ['signature'])
          const {detail} = check(result, 'signature')
          assert.match(detail, /^no key with kid attacker-key in the JWKS at http:\/\/127\.0\.0\.1:\d+\/jwks /)
          assert.ok(detail.endsWith(`; the header's own key (${parameter}) was not used: a token cannot vouch for itself, only the issuer's JWKS can`), detail)
          assert.match(result.stderr, /^Error: the token fails a check: signature — /)
          assert.deepEqual(forger.requests, [], 'nothing fetched from the URL the header names')
          assertTokenNotShown(result, token)

          const asJson = await cli.run(['token', 'verify', '--issuer', server.issuer, '--audience', 'api', '--json'], {input: token})
          expectExit(asJson, 9)
          assert.equal(json(asJson).valid, false)
          assert.equal(json(asJson).checks[0].ok, false)
        })
      }

      it("jwk with the kid of the issuer's own key: a bad signature, not the header's key", async () => {
        const {keys} = (await (await fetch(server.jwksUri)).json()) as {keys: Array<{kid: string}>}
        const token = await forged('jwk', {kid: keys[0].kid})
        const result = await cliWithHome().run(['token', 'verify', '--issuer', server.issuer, '--audience', 'api'], {input: token})
        expectExit(result, 9)
        assert.deepEqual(failedChecks(result), ['signature'])
        assert.match(
          check(result, 'signature').detail,
          new RegExp(`^bad signature: RS256 with kid ${keys[0].kid} from the JWKS at \\S+ .*does not verify .*; the header's own key \\(jwk\\) was not used: `),
        )
      })
    })

    it('--introspect: an active opaque token passes, with the claim checks run on what the server answered', async () => {
      const cli = cliWithHome({env: {...FILE_STORE, BASIC_SECRET: server.clients.basic.clientSecret!}})
      const issued = await cli.run([
        'token',
        'client',
        '--issuer',
        server.issuer,
        '--client-id',
        'basic',
        '--client-secret-env',
        'BASIC_SECRET',
        '--resource',
        OPAQUE_RESOURCE,
        '--scope',
        'api',
        '--no-cache',
      ])
      expectExit(issued, 0)
      const opaque = issued.stdout.trim()
      assert.doesNotMatch(opaque, /\./, 'oidc-provider issued an opaque token')
      const connection = ['--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'BASIC_SECRET']
      const result = await cli.run(['token', 'verify', '--introspect', ...connection, '--audience', OPAQUE_RESOURCE, '--scope', 'api', '--verbose'], {input: opaque})
      expectExit(result, 0)
      assert.match(result.stderr, /POST http:\/\/127\.0\.0\.1:\d+\/token\/introspection → 200/, 'the exchange is traced, the token masked')
      assert.deepEqual(
        checkLines(result).map((line) => line.name),
        ['active', ...CHECK_NAMES],
      )
      assert.equal(check(result, 'active').detail, `the server at ${new URL(server.issuer).host} says the token is active`)
      assert.equal(check(result, 'signature').status, 'skipped')
      assert.equal(check(result, 'aud').detail, OPAQUE_RESOURCE)
      assert.equal(check(result, 'scp').detail, 'api (scope: api)')
      assert.equal(server.requests.filter((request) => request.path === '/token/introspection').length, 1)
      assertTokenNotShown(result, opaque)
    })

    it('--introspect: an inactive token fails (exit 9), and a JWT oidc-provider refuses to introspect is exit 4 with advice', async () => {
      const cli = cliWithHome({env: {BASIC_SECRET: server.clients.basic.clientSecret!}})
      const connection = ['--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'BASIC_SECRET']
      const inactive = await cli.run(['token', 'verify', '--introspect', ...connection, '--json'], {input: 'bm90LWEtdG9rZW4tdGhpcy1zZXJ2ZXItaXNzdWVk'})
      expectExit(inactive, 9)
      const document = json(inactive)
      assert.equal(document.valid, false)
      assert.deepEqual(document.checks[0], {
        name: 'active',
        ok: false,
        status: 'failed',
        detail: `the server at ${new URL(server.issuer).host} says the token is not active (RFC 7662 does not say why: expired, revoked, unknown, or not this client's to ask about)`,
      })
      assert.deepEqual(document.claims, {active: false})

      const jwt = await cli.run(['token', 'verify', '--introspect', ...connection], {input: await userToken()})
      expectExit(jwt, 4)
      assert.match(jwt.stderr, /unsupported_token_type.* — this server introspects only opaque tokens: verify a JWT without --introspect\n$/)
    })
  })

  describe('against a purpose-made issuer (what oidc-provider cannot produce)', () => {
    let issuer: TestIssuer
    before(async () => {
      issuer = await startTestIssuer()
    })
    after(async () => {
      await issuer.stop()
    })
    beforeEach(() => {
      issuer.failJwks(undefined)
      issuer.resetCounters()
    })

    const verify = (cli: ReturnType<typeof cliWithHome>, token: string, flags: string[] = []) => cli.run(['token', 'verify', '--issuer', issuer.issuer, ...flags], {input: token})

    it('an Entra-like user token passes every check: iss, aud, scp and roles', async () => {
      const token = await issuer.sign({aud: 'api://orders', scp: 'Orders.Read access_as_user', roles: ['Orders.Admin'], nbf: Math.floor(Date.now() / 1000) - 10, ver: '2.0'})
      const result = await verify(cliWithHome(), token, ['--audience', 'api://orders', '--scope', 'access_as_user', '--role', 'Orders.Admin'])
      expectExit(result, 0)
      assert.ok(
        checkLines(result).every((line) => line.status === 'passed'),
        result.stdout,
      )
      assert.equal(check(result, 'scp').detail, 'access_as_user (scp: Orders.Read access_as_user)')
      assert.equal(check(result, 'roles').detail, 'Orders.Admin (roles: Orders.Admin)')
    })

    it('fails the iss check alone for a token of another issuer signed with the right key', async () => {
      const result = await verify(cliWithHome(), await issuer.sign({iss: 'https://issuer.example/other'}))
      expectExit(result, 9)
      assert.deepEqual(failedChecks(result), ['iss'])
      assert.equal(check(result, 'iss').detail, `https://issuer.example/other, expected ${issuer.issuer}`)
    })

    it('fails the iss check alone for a token without iss: exit 9, never a skipped check', async () => {
      const cli = cliWithHome()
      const token = await issuer.sign({iss: undefined, aud: 'api'})
      const result = await verify(cli, token, ['--audience', 'api'])
      expectExit(result, 9)
      assert.deepEqual(failedChecks(result), ['iss'])
      assert.equal(check(result, 'iss').detail, `no iss claim; expected ${issuer.issuer}`)
      assert.match(result.stderr, /^Error: the token fails a check: iss — /)
      const asJson = await verify(cli, token, ['--audience', 'api', '--json'])
      expectExit(asJson, 9)
      assert.deepEqual(json(asJson).checks[1], {name: 'iss', ok: false, status: 'failed', detail: `no iss claim; expected ${issuer.issuer}`})
    })

    it('without --audience: the aud line says it was not checked, stderr warns, exit 0 (skipped is not failed); --json says ok null', async () => {
      const cli = cliWithHome()
      for (const [claims, has] of [
        [{}, 'the token has no aud claim'],
        [{aud: 'api://someone-else'}, "the token's aud is api://someone-else"],
      ] as const) {
        const token = await issuer.sign(claims)
        const result = await verify(cli, token)
        expectExit(result, 0)
        assert.deepEqual(check(result, 'aud'), {name: 'aud', status: 'skipped', detail: `not checked, pass --audience (the web API's client id or app ID URI): ${has}`})
        assert.equal(result.stderr, "warning: the audience was not checked: pass --audience with the web API's client id or app ID URI (or name its client), or a token for another API passes too\n")
        const asJson = await verify(cli, token, ['--json'])
        expectExit(asJson, 0)
        assert.equal(json(asJson).valid, true)
        assert.deepEqual(json(asJson).checks[2], {name: 'aud', ok: null, status: 'skipped', detail: `not checked, pass --audience (the web API's client id or app ID URI): ${has}`})
        assert.equal(asJson.stderr, '', '--json: the verdict is in the document')
      }

      const failing = await verify(cli, await issuer.sign({exp: Math.floor(Date.now() / 1000) - 3600}))
      expectExit(failing, 9)
      assert.doesNotMatch(failing.stderr, /warning/, 'a failed verdict has its own line only')
    })

    it("claims are the token's words: every control character in them is escaped on the check lines, JSON-escaped with --json", async () => {
      const cli = cliWithHome()
      const token = await issuer.sign({iss: `https://issuer.example/${HOSTILE_TEXT}`, aud: 'api', scp: HOSTILE_TEXT})
      const result = await verify(cli, token, ['--audience', 'api', '--scope', 'read'])
      expectExit(result, 9)
      assertNoTerminalControl(result.stdout, 'stdout')
      assertNoTerminalControl(result.stderr, 'stderr')
      assert.equal(check(result, 'iss').detail, `https://issuer.example/${HOSTILE_TEXT_ESCAPED}, expected ${issuer.issuer}`)
      assert.equal(check(result, 'scp').detail, `missing read (scp: ${HOSTILE_TEXT_ESCAPED})`)
      const asJson = await verify(cli, token, ['--audience', 'api', '--json'])
      expectExit(asJson, 9)
      assertNoTerminalControl(asJson.stdout.replaceAll('\n', ''), '--json stdout')
      assert.equal(json(asJson).claims.scp, HOSTILE_TEXT)
    })

    it('a v1.0 token checked against the v2.0 issuer: says so, and that the app manifest decides (accessTokenAcceptedVersion)', async () => {
      const v1 = `https://sts.windows.net/${TENANT}/`
      const result = await verify(cliWithHome(), await issuer.sign({iss: v1, ver: '1.0', aud: 'api://orders'}), ['--audience', 'api://orders'])
      expectExit(result, 9)
      assert.deepEqual(failedChecks(result), ['iss'])
      const {detail} = check(result, 'iss')
      assert.ok(detail.startsWith(`${v1}, expected ${issuer.issuer}: a v1.0 token checked against the v2.0 issuer: `), detail)
      assert.match(detail, /accessTokenAcceptedVersion null or 1 → v1\.0, 2 → v2\.0\); set it to 2, or verify with --issuer https:\/\/sts\.windows\.net\//)
    })

    it('a token of another tenant: names both tenants', async () => {
      const other = '11111111-2222-3333-4444-555555555555'
      const result = await verify(cliWithHome(), await issuer.sign({iss: `https://login.microsoftonline.com/${other}/v2.0`}))
      expectExit(result, 9)
      assert.match(check(result, 'iss').detail, new RegExp(`: the token was issued by tenant ${other}, the issuer given is tenant ${TENANT}$`))
    })

    it('an app-only token (roles, no scp) where a user token was expected: says on-behalf-of needs a user token', async () => {
      const result = await verify(cliWithHome(), await issuer.sign({aud: 'api://orders', roles: ['Orders.Sync']}), ['--audience', 'api://orders', '--scope', 'access_as_user'])
      expectExit(result, 9)
      assert.deepEqual(failedChecks(result), ['scp'])
      assert.equal(
        check(result, 'scp').detail,
        "no scp claim but roles (Orders.Sync): an app-only token (client credentials), where a user token was expected — on-behalf-of needs a user's token; expected access_as_user",
      )
    })

    it('a token not valid yet: "not valid for N more seconds", with the clock skew', async () => {
      const nbf = Math.floor(Date.now() / 1000) + 360
      const result = await verify(cliWithHome(), await issuer.sign({nbf}))
      expectExit(result, 9)
      assert.deepEqual(failedChecks(result), ['nbf'])
      assert.match(check(result, 'nbf').detail, /^not valid for (5\d|60) more seconds \(nbf \S+Z; clock skew 300 s\): check this machine's clock$/)
    })

    it('a Graph token (nonce in the header) never passes, whatever --audience, and is not called a bad signature', async () => {
      const graph = '00000003-0000-0000-c000-000000000000'
      const token = await issuer.sign({aud: graph, scp: 'User.Read'}, {header: {nonce: 'M2Q5ZWI1ZjU'}})
      const result = await verify(cliWithHome(), token, ['--audience', graph, '--scope', 'User.Read'])
      expectExit(result, 9)
      assert.deepEqual(failedChecks(result), ['signature'])
      const {detail} = check(result, 'signature')
      assert.match(detail, /^the header carries a nonce: a token for Microsoft Graph, whose signature only Graph can verify/)
      assert.match(detail, /not an assertion your API can exchange on-behalf-of/)
      assert.doesNotMatch(detail, /bad signature/)
      assert.equal(issuer.jwksRequests, 0, 'no key is fetched for a signature no one but Graph can check')
    })

    it('alg none and HS256 keyed with the public key are refused before any key is fetched', async () => {
      const cli = cliWithHome()
      const none = await verify(cli, issuer.unsigned())
      expectExit(none, 9)
      assert.deepEqual(failedChecks(none), ['signature'])
      assert.equal(check(none, 'signature').detail, 'alg none: an unsigned token, which no web API accepts')

      const confused = await verify(cli, issuer.hmacWithPublicKey())
      expectExit(confused, 9)
      assert.deepEqual(failedChecks(confused), ['signature'])
      assert.match(check(confused, 'signature').detail, /^alg HS256 is symmetric \(HMAC\): .* refused$/)
      assert.equal(issuer.jwksRequests, 0)
    })

    it('after a key rotation, an unknown kid fetches the JWKS again exactly once; the new set is cached; a kid still unknown fails after one fetch', async () => {
      const cli = cliWithHome()
      const before = await verify(cli, await issuer.sign())
      expectExit(before, 0)
      assert.equal(issuer.jwksRequests, 1)

      const retired = issuer.keys.at(-1)!
      await issuer.rotate()
      const rotated = await verify(cli, await issuer.sign())
      expectExit(rotated, 0)
      assert.match(check(rotated, 'signature').detail, /\(fetched again: the key was not in the cached set\)$/)
      assert.equal(issuer.jwksRequests, 2, 'exactly one extra JWKS request')

      const cached = await verify(cli, await issuer.sign())
      expectExit(cached, 0)
      assert.equal(issuer.jwksRequests, 2, 'the set fetched again was cached')

      const old = await verify(cli, await issuer.sign({}, {key: retired}))
      expectExit(old, 9)
      assert.deepEqual(failedChecks(old), ['signature'])
      assert.match(check(old, 'signature').detail, new RegExp(`^no key with kid ${retired.kid} in the JWKS at \\S+ \\(fetched again: .*\\): the token was not issued by this issuer`))
      assert.equal(issuer.jwksRequests, 3, 'one fetch for the unknown kid, not a loop')
    })

    it('JWKS unreachable: exit 6 with the reason, and --json gives the error object', async () => {
      const port = await closedPort()
      const dead = await startTestIssuer({jwksUri: () => `http://127.0.0.1:${port}/keys`})
      try {
        const cli = cliWithHome()
        const token = await dead.sign()
        const result = await cli.run(['token', 'verify', '--issuer', dead.issuer], {input: token})
        expectExit(result, 6)
        assert.equal(result.stdout, '')
        assert.match(result.stderr, new RegExp(`^Error: cannot reach 127\\.0\\.0\\.1:${port}: ECONNREFUSED`))
        const asJson = await cli.run(['token', 'verify', '--issuer', dead.issuer, '--json'], {input: token})
        expectExit(asJson, 6)
        assert.equal(json(asJson).error.exit_code, 6)
        assert.equal(json(asJson).error.code, 'network_error')
      } finally {
        await dead.stop()
      }
    })

    it('the JWKS over https goes through the HTTP layer: an unknown CA is exit 6 (tls_error) naming --ca-file; --ca-file trusts it', async () => {
      const pki = await requireTestPki()
      let frontUrl = ''
      const tlsIssuer = await startTestIssuer({jwksUri: (url) => `${frontUrl}${new URL(url).pathname}/keys`})
      const front = await startHttpsFront({origin: tlsIssuer.issuer, cert: pki.serverCert, key: pki.serverKey})
      frontUrl = front.url
      try {
        const cli = cliWithHome()
        const token = await tlsIssuer.sign()
        const untrusted = await cli.run(['token', 'verify', '--issuer', tlsIssuer.issuer, '--json'], {input: token})
        expectExit(untrusted, 6)
        assert.equal(json(untrusted).error.code, 'tls_error')
        assert.match(json(untrusted).error.hint, /--ca-file/)
        assert.equal(tlsIssuer.jwksRequests, 0)

        const trusted = await cli.run(['token', 'verify', '--issuer', tlsIssuer.issuer, '--ca-file', pki.caCertPath], {input: token})
        expectExit(trusted, 0)
        assert.match(check(trusted, 'signature').detail, new RegExp(`from the JWKS at ${front.url.replaceAll('.', '\\.')}/\\S+/keys \\(fetched\\)$`))
        assert.equal(tlsIssuer.jwksRequests, 1)
      } finally {
        await front.stop()
        await tlsIssuer.stop()
        pki.remove()
      }
    })

    it('a JWKS endpoint answering 404 is exit 6, not a failed check', async () => {
      issuer.failJwks(404)
      const result = await verify(cliWithHome(), await issuer.sign())
      expectExit(result, 6)
      assert.match(result.stderr, /the JWKS at \S+ answered HTTP 404, not a key set/)
    })

    it('bad input: not a JWT, empty or oversized stdin, a missing issuer: one line and exit 2 or 3', async () => {
      const cli = cliWithHome()
      const notJwt = await cli.run(['token', 'verify', '--issuer', issuer.issuer], {input: 'abc.def'})
      expectExit(notJwt, 2)
      assert.match(notJwt.stderr, /^Error: not a JWT .* — for an opaque token, add --introspect/)
      const empty = await cli.run(['token', 'verify', '--issuer', issuer.issuer], {input: ''})
      expectExit(empty, 2)
      assert.match(empty.stderr, /stdin was empty/)
      const huge = await cli.run(['token', 'verify', '--issuer', issuer.issuer], {input: 'a'.repeat(200_000)})
      expectExit(huge, 2)
      assert.match(huge.stderr, /stdin holds more than 64 KiB/)
      const noIssuer = await cli.run(['token', 'verify'], {input: await issuer.sign()})
      expectExit(noIssuer, 3)
      assert.match(noIssuer.stderr, /^Error: no issuer: .* — pass --issuer URL/)
      assert.equal(issuer.jwksRequests, 0)
    })
  })
})
