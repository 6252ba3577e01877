import {strict as assert} from 'node:assert'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {join} from 'node:path'

import {decodeJwt} from 'jose'

import {allFileContents, expectExit, stdoutJson as json, waitFor} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {cliWithHome, runCli, startCli} from '../helpers/cli.js'

/** The file store with a passphrase: deterministic on every machine (the keychain has its own tests). */
const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'correct horse battery staple'}

describe('token client (end to end, real authorization server)', function () {
  this.timeout(60_000)
  let server: AuthServer

  useAuthServer((started) => {
    server = started
  })

  /** A home with client "ci" (the `basic` client) added through stdin. */
  async function homeWithClient(extraFlags: string[] = []) {
    const cli = cliWithHome({env: FILE_STORE})
    const add = await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin', ...extraFlags], {input: `${server.clients.basic.clientSecret}\n`})
    expectExit(add, 0)
    return cli
  }

  const tokenRequests = () => server.tokenRequests.filter((request) => !request.fault)

  it('prints only the token on stdout, then serves it from the cache, and --force makes exactly one more request', async () => {
    const cli = await homeWithClient()
    const first = await cli.run(['token', 'client', 'ci'])
    expectExit(first, 0)
    assert.match(first.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/)
    assert.equal(first.stderr, '')
    const token = first.stdout.trim()
    assert.equal(decodeJwt(token).aud, server.resources.api)
    assert.equal(tokenRequests().length, 1)

    const second = await cli.run(['token', 'client', 'ci', '--json'])
    expectExit(second, 0)
    const cached = json(second)
    assert.equal(cached.token_source, 'cache')
    assert.equal(cached.access_token, token)
    assert.equal(cached.client, 'ci')
    assert.equal(cached.token_type, 'Bearer')
    assert.ok(cached.expires_in > 3500 && cached.expires_in <= 3600)
    assert.ok(Date.parse(cached.expires_at) > Date.now())
    assert.equal(tokenRequests().length, 1, 'a cache hit sends no request')

    const forced = await cli.run(['token', 'client', 'ci', '--force', '--json'])
    expectExit(forced, 0)
    assert.equal(json(forced).token_source, 'identity_provider')
    assert.notEqual(json(forced).access_token, token)
    assert.equal(tokenRequests().length, 2)

    const afterForce = await cli.run(['token', 'client', 'ci', '--json'])
    assert.equal(json(afterForce).access_token, json(forced).access_token, '--force writes the new token')
  })

  it('--format header and env', async () => {
    const cli = await homeWithClient()
    const header = await cli.run(['token', 'client', 'ci', '--format', 'header'])
    expectExit(header, 0)
    assert.match(header.stdout, /^Authorization: Bearer [\w-]+\.[\w-]+\.[\w-]+\n$/)
    const env = await cli.run(['token', 'client', 'ci', '--format', 'env'])
    assert.match(env.stdout, /^ACCESS_TOKEN=[\w-]+\.[\w-]+\.[\w-]+\n$/)
    assert.equal(tokenRequests().length, 1)
  })

  it('keeps different scopes, resources and audiences in different cache entries', async () => {
    const cli = await homeWithClient()
    const variants = [
      ['--scope', 'api'],
      ['--scope', 'read write'],
      ['--resource', server.resources.other],
      ['--audience', 'someone'],
    ]
    const tokens = new Set<string>()
    for (const flags of variants) {
      const result = await cli.run(['token', 'client', 'ci', '--json', ...flags])
      expectExit(result, 0)
      assert.equal(json(result).token_source, 'identity_provider', `first ${flags.join(' ')}`)
      tokens.add(json(result).access_token)
    }

    assert.equal(tokens.size, variants.length)
    for (const flags of variants) {
      const again = await cli.run(['token', 'client', 'ci', '--json', ...flags])
      assert.equal(json(again).token_source, 'cache', `again ${flags.join(' ')}`)
    }

    const other = tokenRequests().find((request) => request.params.resource === server.resources.other)
    assert.ok(other, 'the resource parameter reached the server')
    assert.equal(tokenRequests().length, variants.length)
    // Scope order does not matter: "write read" is the cache entry of "read write".
    const reordered = await cli.run(['token', 'client', 'ci', '--json', '--scope', 'write', '--scope', 'read'])
    assert.equal(json(reordered).token_source, 'cache')
  })

  it('10 concurrent runs on a cold cache make exactly one token request and print the same token', async () => {
    const cli = await homeWithClient()
    const runs = Array.from({length: 10}, () => cli.start(['token', 'client', 'ci']))
    const results = await Promise.all(runs.map((run) => run.result))
    for (const result of results) expectExit(result, 0)
    assert.equal(new Set(results.map((result) => result.stdout)).size, 1)
    assert.equal(tokenRequests().length, 1)
  })

  it('discovery is cached: a cache miss then sends exactly one request, the token request', async () => {
    const cli = await homeWithClient()
    expectExit(await cli.run(['token', 'client', 'ci']), 0)
    server.resetCounters()
    expectExit(await cli.run(['token', 'client', 'ci', '--scope', 'read']), 0)
    assert.deepEqual(
      server.requests.map((request) => `${request.method} ${request.path}`),
      ['POST /token'],
    )
  })

  it('authenticates with client_secret_post and with private_key_jwt (PEM and JWK)', async () => {
    const cli = cliWithHome({env: FILE_STORE})
    const post = await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'post', '--auth-method', 'client_secret_post', '--client-secret-env', 'SECRET'], {
      env: {SECRET: server.clients.post.clientSecret},
    })
    expectExit(post, 0)
    const postRequest = tokenRequests().at(-1)!
    assert.equal(postRequest.params.client_secret, server.clients.post.clientSecret)
    assert.equal(postRequest.headers.authorization, undefined)

    const {jwt} = server.clients
    const pem = join(cli.home, 'key.pem')
    const jwk = join(cli.home, 'key.jwk')
    writeFileSync(pem, jwt.privateKeyPem)
    writeFileSync(jwk, JSON.stringify(jwt.privateJwk))
    for (const [file, extra] of [
      [pem, ['--key-id', jwt.kid]],
      [jwk, []],
    ] as const) {
      const result = await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'jwt', '--private-key-file', file, '--no-cache', ...extra])
      expectExit(result, 0)
      const request = tokenRequests().at(-1)!
      assert.equal(request.params.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      assert.equal(decodeJwt(String(request.params.client_assertion)).iss, 'jwt')
    }
  })

  it('works from flags and environment alone, with no config file and no store (--no-cache)', async () => {
    const result = await runCli(['token', 'client', '--token-endpoint', server.tokenEndpoint, '--scope', 'api', '--no-cache', '--json'], {
      env: {TOKENCTL_CLIENT_ID: 'basic', TOKENCTL_CLIENT_SECRET: server.clients.basic.clientSecret, DBUS_SESSION_BUS_ADDRESS: undefined, XDG_RUNTIME_DIR: undefined},
    })
    expectExit(result, 0)
    assert.equal(json(result).token_source, 'identity_provider')
    assert.equal(json(result).client, null)
    assert.deepEqual(readdirSync(result.home), [], 'nothing written to TOKENCTL_HOME')
  })

  it('with no keychain and no passphrase, caching fails with exit 7 naming both ways out', async () => {
    const result = await runCli(['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'basic'], {
      env: {DBUS_SESSION_BUS_ADDRESS: undefined, TOKENCTL_CLIENT_SECRET: 'x', XDG_RUNTIME_DIR: undefined},
    })
    expectExit(result, 7)
    assert.match(result.stderr, /TOKENCTL_STORE_PASSPHRASE/)
    assert.match(result.stderr, /keychain/)
    assert.equal(result.stdout, '')
  })

  it("a wrong secret is exit 4 with the server's error code in --json", async () => {
    const cli = cliWithHome({env: FILE_STORE})
    const result = await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin', '--json'], {input: 'wrong-secret'})
    expectExit(result, 4)
    const {error} = json(result)
    assert.equal(error.code, 'invalid_client')
    assert.equal(error.exit_code, 4)
    assert.equal(error.status, 401)
    assert.doesNotMatch(result.stdout + result.stderr, /wrong-secret/)

    const human = await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: 'wrong-secret'})
    expectExit(human, 4)
    assert.equal(human.stdout, '')
    assert.equal(human.stderr.trim().split('\n').length, 1, `one line: ${human.stderr}`)
    assert.match(human.stderr, /invalid_client/)
  })

  it("access_denied to client credentials is exit 4 with the server's words: the server refused the client, no one is to sign in again", async () => {
    const cli = await homeWithClient()
    // Auth0 answers so a client that has no grant to the API it asks for.
    const denied = {error: 'access_denied', error_description: 'Client is not authorized to access "urn:tokenctl:api". You need to create a "client-grant" associated to this API.'}
    server.injectTokenFaults({body: denied, status: 403}, {body: denied, status: 403})
    const result = await cli.run(['token', 'client', 'ci', '--force', '--json'])
    expectExit(result, 4)
    const {error} = json(result)
    assert.equal(error.code, 'access_denied')
    assert.equal(error.status, 403)
    assert.equal(error.message, `the authorization server refused the request (access_denied: ${denied.error_description})`)
    assert.doesNotMatch(error.hint, /sign in again to continue/)
    const human = await cli.run(['token', 'client', 'ci', '--force'])
    expectExit(human, 4)
    assert.doesNotMatch(human.stderr, /re-authentication required/)
  })

  it('configuration errors are exit 3: unknown client, http:// to a non-loopback host, no secret', async () => {
    const cli = cliWithHome({env: FILE_STORE})
    const unknown = await cli.run(['token', 'client', 'nope'])
    expectExit(unknown, 3)
    assert.match(unknown.stderr, /unknown client "nope"/)
    assert.equal(json(await cli.run(['token', 'client', 'nope', '--json'])).error.code, 'unknown_client')

    const insecure = await cli.run(['token', 'client', '--issuer', 'http://example.com', '--client-id', 'x', '--client-secret-env', 'S'], {env: {S: 'x'}})
    expectExit(insecure, 3)
    assert.match(insecure.stderr, /http/)
    assert.equal(server.requests.length, 0)

    const noSecret = await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'basic'])
    expectExit(noSecret, 3)
    assert.match(noSecret.stderr, /no client secret/)
  })

  it('a literal --client-secret is refused (exit 2) and never echoed', async () => {
    for (const args of [['--client-secret', 's3cret-value'], ['--client-secret=s3cret-value']]) {
      const result = await runCli(['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', ...args])
      expectExit(result, 2)
      assert.doesNotMatch(result.stdout + result.stderr, /s3cret-value/)
      assert.match(result.stderr, /--client-secret-stdin/)
    }
  })

  it('an unreachable server is exit 6 (ECONNREFUSED)', async () => {
    const closed: Server = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const {port} = closed.address() as {port: number}
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const result = await runCli(['token', 'client', '--token-endpoint', `http://127.0.0.1:${port}/token`, '--client-id', 'x', '--no-cache', '--timeout', '5'], {env: {TOKENCTL_CLIENT_SECRET: 'x'}})
    expectExit(result, 6)
    assert.match(result.stderr, /ECONNREFUSED/)
  })

  it('a hanging server is exit 6 after --timeout', async () => {
    server.injectTokenFaults({hang: true})
    const result = await runCli(['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'basic', '--no-cache', '--timeout', '1', '--json'], {
      env: {TOKENCTL_CLIENT_SECRET: server.clients.basic.clientSecret!},
    })
    expectExit(result, 6)
    assert.equal(json(result).error.code, 'timeout')
    assert.ok(result.durationMs >= 1000, `gave up after ${result.durationMs} ms, before its --timeout 1`)
  })

  it('HTML or malformed JSON from the token endpoint is exit 6; 503 twice then 200 succeeds', async () => {
    const env = {TOKENCTL_CLIENT_SECRET: server.clients.basic.clientSecret!}
    const args = ['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'basic', '--no-cache', '--json']
    server.injectTokenFaults({html: true})
    const html = await runCli(args, {env})
    expectExit(html, 6)
    assert.equal(json(html).error.code, 'invalid_response')

    server.injectTokenFaults({malformedJson: true})
    const malformed = await runCli(args, {env})
    expectExit(malformed, 6)
    assert.equal(json(malformed).error.code, 'invalid_response')

    server.resetCounters()
    server.injectTokenFaults({status: 503}, {status: 503})
    const flaky = await runCli(args, {env})
    expectExit(flaky, 0)
    assert.equal(json(flaky).token_source, 'identity_provider')
    assert.equal(server.tokenRequests.length, 3)
  })

  it('honours Retry-After on 429 and never retries a 4xx', async () => {
    const env = {TOKENCTL_CLIENT_SECRET: server.clients.basic.clientSecret!}
    const args = ['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'basic', '--no-cache']
    server.injectTokenFaults({retryAfter: 1, status: 429})
    const throttled = await runCli(args, {env})
    expectExit(throttled, 0)
    assert.equal(server.tokenRequests.length, 2)
    assert.ok(server.tokenRequests[1].time - server.tokenRequests[0].time >= 950, 'waited for Retry-After')

    server.resetCounters()
    server.injectTokenFaults({body: {error: 'invalid_scope', error_description: 'no such scope'}, status: 400})
    const refused = await runCli([...args, '--json'], {env})
    expectExit(refused, 4)
    assert.equal(json(refused).error.code, 'invalid_scope')
    assert.equal(json(refused).error.description, 'no such scope')
    assert.equal(server.tokenRequests.length, 1)
  })

  it("keeps Entra's error_codes, correlation_id and trace_id in --json errors", async () => {
    server.injectTokenFaults({
      body: {
        correlation_id: 'c0ffee',
        error: 'unauthorized_client',
        error_codes: [700016],
        error_description: 'AADSTS700016: Application not found.\r\nTrace ID: x',
        timestamp: '2026-11-25 08:00:00Z',
        trace_id: 'beef',
      },
      status: 400,
    })
    const result = await runCli(['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'basic', '--no-cache', '--json'], {env: {TOKENCTL_CLIENT_SECRET: 'x'}})
    expectExit(result, 4)
    const {error} = json(result)
    assert.deepEqual(
      {code: error.code, codes: error.error_codes, correlation: error.correlation_id, trace: error.trace_id},
      {code: 'unauthorized_client', codes: [700016], correlation: 'c0ffee', trace: 'beef'},
    )
  })

  it("--min-ttl beyond the token's life fetches a new one; a short-lived token is never served from the cache", async () => {
    const cli = await homeWithClient()
    expectExit(await cli.run(['token', 'client', 'ci']), 0)
    const longer = await cli.run(['token', 'client', 'ci', '--min-ttl', '4000', '--json'])
    assert.equal(json(longer).token_source, 'identity_provider')

    const short = ['token', 'client', '--issuer', server.issuer, '--client-id', 'short', '--client-secret-env', 'S', '--json']
    const env = {S: server.clients.short.clientSecret!}
    assert.equal(json(await cli.run(short, {env})).token_source, 'identity_provider')
    assert.equal(json(await cli.run(short, {env})).token_source, 'identity_provider', 'under the 60 s buffer')
  })

  it('--verbose traces each exchange without the client secret or a whole token', async () => {
    const secret = server.clients.basic.clientSecret!
    const cli = cliWithHome({env: FILE_STORE})
    const result = await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'S', '--verbose', '--force'], {
      env: {S: secret},
    })
    expectExit(result, 0)
    const token = result.stdout.trim()
    assert.match(result.stderr, /POST http:\/\/127\.0\.0\.1:\d+\/token → 200 in \d+ ms/)
    assert.match(result.stderr, /GET http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration → 200/)
    assert.match(result.stderr, /access_token=<\d+ chars, sha256:[\da-f]{8}>/)
    assert.ok(!result.stderr.includes(token.slice(0, 6)), 'not even the start of the token')
    assert.ok(!result.stderr.includes(secret), 'no client secret')
    assert.ok(!result.stderr.includes(token), 'no whole token')
    assert.ok(!result.stderr.includes(Buffer.from(`basic:${secret}`).toString('base64')), 'no Basic credentials')

    const {jwt} = server.clients
    const key = join(cli.home, 'key.pem')
    writeFileSync(key, jwt.privateKeyPem)
    const signed = await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'jwt', '--private-key-file', key, '--verbose', '--no-cache'])
    expectExit(signed, 0)
    const assertion = String(tokenRequests().at(-1)!.params.client_assertion)
    assert.ok(!signed.stderr.includes(assertion), 'no client assertion')
    assert.match(signed.stderr, /client_assertion=<redacted>/)
  })

  it('does not hang or print a half-written line when stdin is empty for --client-secret-stdin', async () => {
    const result = await runCli(['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin', '--no-cache'], {input: ''})
    expectExit(result, 2)
    assert.match(result.stderr, /stdin was empty/)
  })

  it('writes no secret to config.json; client show --json has none; client remove deletes the stored secret', async () => {
    const cli = await homeWithClient(['--scope', 'api'])
    const secret = server.clients.basic.clientSecret!
    assert.ok(!allFileContents(cli.home).includes(secret), 'the secret is only inside the encrypted store')
    const show = await cli.run(['client', 'show', 'ci', '--json'])
    expectExit(show, 0)
    assert.equal(json(show).secret, 'stored')
    assert.equal(json(show).client_id, 'basic')
    assert.deepEqual(json(show).scopes, ['api'])
    assert.ok(!show.stdout.includes(secret))
    const list = await cli.run(['client', 'list', '--json'])
    assert.deepEqual(
      json(list).map((client: {name: string}) => client.name),
      ['ci'],
    )

    const removed = await cli.run(['client', 'remove', 'ci', '--json'])
    expectExit(removed, 0)
    assert.equal(json(removed).secret_removed, true)
    expectExit(await cli.run(['client', 'show', 'ci']), 3)
    // The secret is gone from the store too: a client of the same name has none.
    await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic'])
    const again = await cli.run(['token', 'client', 'ci', '--force'])
    expectExit(again, 3)
    assert.match(again.stderr, /no client secret/)
  })

  it('file store: a wrong passphrase or a truncated file is exit 7, and the file is left exactly as it was', async () => {
    const cli = await homeWithClient()
    const file = join(cli.home, 'store.enc')
    const before = readFileSync(file)
    const wrong = await cli.run(['token', 'client', 'ci', '--json'], {env: {TOKENCTL_STORE_PASSPHRASE: 'not the passphrase'}})
    expectExit(wrong, 7)
    assert.equal(json(wrong).error.code, 'store_wrong_passphrase')
    assert.ok(readFileSync(file).equals(before))

    writeFileSync(file, before.subarray(0, Math.floor(before.length / 2)))
    const truncated = await cli.run(['client', 'add', 'other', '--issuer', server.issuer, '--client-id', 'post', '--client-secret-stdin'], {input: 'x'})
    expectExit(truncated, 7)
    assert.match(truncated.stderr, /corrupt/)
    assert.equal(readFileSync(file).length, Math.floor(before.length / 2), 'not rewritten')
  })

  it('a run killed while holding the cache lock leaves a lock the next runs break at once; one of them fetches', async () => {
    const cli = await homeWithClient()
    server.injectTokenFaults({delayMs: 5000})
    const victim = cli.start(['token', 'client', 'ci'])
    // Let the victim take the lock and send its request, then kill it mid-request.
    await waitFor(() => server.tokenRequests.length > 0)

    assert.equal(server.tokenRequests.length, 1, 'the victim reached the server')
    victim.kill('SIGKILL')
    await victim.result
    const results = await Promise.all(Array.from({length: 3}, () => cli.run(['token', 'client', 'ci'])))
    for (const result of results) expectExit(result, 0)
    assert.equal(new Set(results.map((result) => result.stdout)).size, 1)
    assert.equal(server.tokenRequests.length, 2, 'the killed one and exactly one after it')
  })
})

describe('token decode', () => {
  const header = Buffer.from(JSON.stringify({alg: 'RS256', kid: 'k1'})).toString('base64url')
  const claims = (exp: number) => Buffer.from(JSON.stringify({aud: 'api', exp, iat: exp - 3600, sub: 'worker'})).toString('base64url')

  it('shows the header, the claims and "expires in …", and says the signature is not verified', async () => {
    const jwt = `${header}.${claims(Math.floor(Date.now() / 1000) + 3200)}.c2ln`
    const result = await runCli(['token', 'decode', jwt])
    expectExit(result, 0)
    assert.match(result.stdout, /"sub": "worker"/)
    assert.match(result.stdout, /"kid": "k1"/)
    // 53m20s ahead of this process's clock; the CLI reads its own a moment later (never compared exactly).
    const [, minutes] = /exp: .*expires in (\d+)m/.exec(result.stdout) ?? []
    assert.ok(Number(minutes) >= 50 && Number(minutes) <= 53, result.stdout)
    assert.match(result.stdout, /iat: .*ago/)
    assert.match(result.stdout, /signature not verified/)
    const piped = await runCli(['token', 'decode', '--json'], {input: `${jwt}\n`})
    expectExit(piped, 0)
    assert.equal(json(piped).claims.sub, 'worker')
  })

  it('says "expired … ago" for an expired token', async () => {
    const old = Buffer.from(JSON.stringify({exp: Math.floor(Date.now() / 1000) - 7300})).toString('base64url')
    const result = await runCli(['token', 'decode', `${header}.${old}.c2ln`])
    expectExit(result, 0)
    const [, minutes] = /expired 2h (\d+)m ago/.exec(result.stdout) ?? []
    assert.ok(Number(minutes) >= 1 && Number(minutes) <= 4, result.stdout)
  })

  it('is exit 2 for anything that is not a JWT, and for empty stdin', async () => {
    for (const input of ['not-a-jwt', 'a.b.c', `${header}.${claims(1)}`]) {
      const result = await runCli(['token', 'decode', input])
      expectExit(result, 2)
      assert.match(result.stderr, /not a JWT/)
    }

    expectExit(await runCli(['token', 'decode'], {input: ''}), 2)
  })

  it('--version prints the version', async () => {
    const started = startCli(['--version'])
    const result = await started.result
    expectExit(result, 0)
    assert.match(result.stdout, /^tokenctl\/\d+\.\d+\.\d+/)
  })
})
