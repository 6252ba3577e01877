/**
 * What a newcomer meets in the first hour: help, unknown commands, missing flags, advice that fits
 * the flag given, `--output` files a script can trust, the store set-up message, list tables.
 */
import {strict as assert} from 'node:assert'
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'

import {approveDevice} from '../../src/lib/devidp/robot.js'
import {expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type ApiServer, useAuthServerWithApi} from '../helpers/api-server.js'
import type {AuthServer} from '../helpers/auth-server.js'
import {cleanEnvironment, cliWithHome, runCli, stderrMatch, tempHome} from '../helpers/cli.js'

const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'first hour tests'}
const BIN = join(process.cwd(), 'bin', 'run.js')
const DEVICE_PROMPT = /open (\S+) and enter the code (\S+)/

/** One line on stderr (a trailing newline), the way every failure is reported. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`)
  return lines[0]
}

/** Runs tokenctl on a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
function onTerminal(args: string[], env: NodeJS.ProcessEnv): Promise<{code: null | number; output: string}> {
  const command = [process.execPath, BIN, ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {env, stdio: ['pipe', 'pipe', 'pipe']})
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    // A prompt would wait for an answer on the terminal: nobody gives one, so a prompt is a timeout.
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({code, output: output.replaceAll('\r', '')})
    })
  })
}

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('the first hour: help, suggestions and advice', function () {
  this.timeout(60_000)

  it('tokenctl help lists the commands, and tokenctl help token client is token client --help', async () => {
    const help = await runCli(['help'])
    expectExit(help, 0)
    for (const command of ['token client', 'token obo', 'session refresh', 'dev idp', 'call']) assert.match(help.stdout, new RegExp(command))
    const one = await runCli(['help', 'token', 'client'])
    expectExit(one, 0)
    const flag = await runCli(['token', 'client', '--help'])
    assert.equal(one.stdout, flag.stdout)
    assert.match(one.stdout, /--output/)
  })

  it('an unknown command names the closest ones on stderr and exits 127 without waiting for input (stdin a pipe left open)', async () => {
    const child = cliWithHome().start(['tokn', 'client'])
    // stdin is closed by the helper; keep a second run with stdin never closed to be sure no prompt waits.
    const result = await child.result
    expectExit(result, 127)
    assert.equal(result.stdout, '')
    assert.equal(oneLine(result.stderr), 'Error: tokn client is not a tokenctl command — did you mean `token client`? (`tokenctl help` lists every command)')

    const open = spawn(process.execPath, [BIN, 'sesion', 'refrsh'], {env: cleanEnvironment(tempHome()), stdio: ['pipe', 'pipe', 'pipe']})
    let stderr = ''
    open.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const code = await new Promise((resolve) => open.once('close', resolve))
    assert.equal(code, 127)
    assert.match(stderr, /did you mean `session refresh`\?/)
  })

  it('on a terminal too: the suggestion, exit 127, no "Did you mean …? (Y/n)" prompt', async () => {
    const result = await onTerminal(['token', 'clinet'], cleanEnvironment(tempHome()))
    assert.equal(result.code, 127, result.output)
    assert.match(result.output, /did you mean `token client`\?/)
    assert.doesNotMatch(result.output, /\(Y\/n\)/)
  })

  it('a missing required flag or argument is one line naming it, with an example', async () => {
    const flag = await runCli(['session', 'show'])
    expectExit(flag, 2)
    assert.equal(oneLine(flag.stderr), 'Error: missing required flag --session-key — e.g. tokenctl session show --session-key nightly-report')
    const argument = await runCli(['client', 'show'])
    expectExit(argument, 2)
    assert.equal(oneLine(argument.stderr), 'Error: missing the argument NAME — e.g. tokenctl client show ci')
  })

  it('a usage mistake is told before a missing configuration: a bad session key, no assertion (exit 2, not "no client id")', async () => {
    const badKey = await runCli(['session', 'start', '--key', 'bad key!', '--assertion-env', 'USER_TOKEN', '--scope', 'read'])
    expectExit(badKey, 2)
    assert.match(oneLine(badKey.stderr), /a session key is 1–128 characters/)
    const signInKey = await runCli(['token', 'user', '--session-key', 'x y', '--scope', 'read', '--device'])
    expectExit(signInKey, 2)
    assert.match(oneLine(signInKey.stderr), /a session key is 1–128 characters/)
    for (const command of [
      ['session', 'start'],
      ['token', 'obo'],
    ]) {
      const noAssertion = await runCli([...command, '--scope', 'read'])
      expectExit(noAssertion, 2)
      assert.match(oneLine(noAssertion.stderr), /no assertion: pass the user's access token with --assertion-env VAR/)
    }
  })

  it('--assertion VALUE is refused (exit 2, secret_on_command_line) with advice naming --assertion-env|-stdin|-file, never the value', async () => {
    const secret = 'eyJhbGciOi.secret-user-token.sig'
    const human = await runCli(['token', 'obo', 'api', '--assertion', secret, '--scope', 'read'])
    expectExit(human, 2)
    const line = oneLine(human.stderr)
    assert.equal(line, 'Error: secrets are never taken as flag values: --assertion does not exist — use --assertion-env VAR, --assertion-stdin or --assertion-file PATH')
    assert.ok(!human.stderr.includes(secret))
    const machine = await runCli(['token', 'obo', 'api', `--assertion=${secret}`, '--scope', 'read', '--json'])
    expectExit(machine, 2)
    assert.equal(json(machine).error.code, 'secret_on_command_line')
    assert.ok(!machine.stdout.includes(secret))
  })

  it('call --token VALUE names --token-env and --token-stdin; --client-secret VALUE the client secret sources', async () => {
    const call = await runCli(['call', 'http://127.0.0.1:9/api/echo', '--token', 'abc.def.ghi'])
    expectExit(call, 2)
    assert.match(oneLine(call.stderr), /--token does not exist — use --token-env VAR or --token-stdin$/)
    const client = await runCli(['token', 'client', '--client-secret', 'hunter2'])
    expectExit(client, 2)
    assert.match(oneLine(client.stderr), /use --client-secret-env VAR, --client-secret-stdin or --client-secret-file PATH \(or TOKENCTL_CLIENT_SECRET\)$/)
    assert.ok(!client.stderr.includes('hunter2'))
  })

  it('exit 6 "cannot reach" says what to check next: the URL, the server, a proxy', async () => {
    const port = await closedPort()
    const env = {...FILE_STORE, SECRET: 's'}
    const token = await runCli(['token', 'client', '--token-endpoint', `http://127.0.0.1:${port}/token`, '--client-id', 'x', '--client-secret-env', 'SECRET', '--no-cache'], {env})
    expectExit(token, 6)
    assert.match(
      oneLine(token.stderr),
      new RegExp(
        `cannot reach 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.* — nothing listens on 127\\.0\\.0\\.1:${port}: check the --issuer / --token-endpoint URL \\(or the named client's\\) and its port, and that the server is running`,
      ),
    )
    const call = await runCli(['call', `http://127.0.0.1:${port}/x`, '--token-env', 'SECRET', '--retries', '0'], {env: {SECRET: 'abc'}})
    expectExit(call, 6)
    assert.match(oneLine(call.stderr), new RegExp(`ECONNREFUSED.* — nothing listens on 127\\.0\\.0\\.1:${port}: check the URL and its port, and that the API is running`))
    const proxied = await runCli(['call', 'https://203.0.113.1/x', '--token-env', 'SECRET', '--retries', '0'], {env: {SECRET: 'abc', HTTPS_PROXY: `http://127.0.0.1:${port}`}})
    expectExit(proxied, 6)
    assert.match(oneLine(proxied.stderr), /the proxy in HTTPS_PROXY/)
  })

  it('with no keychain and no passphrase, exit 7 gives both ways out in words to paste', async () => {
    const result = await runCli(['client', 'add', 'ci', '--token-endpoint', 'http://127.0.0.1:9/token', '--client-id', 'ci', '--client-secret-stdin'], {input: 's'})
    expectExit(result, 7)
    const line = oneLine(result.stderr)
    assert.match(line, /export TOKENCTL_STORE_PASSPHRASE_FILE=\S+/)
    assert.match(line, /export TOKENCTL_STORE_PASSPHRASE="\$SECRET"/)
    assert.match(line, /unlock the OS keychain/)
  })
})

/** Every command as a user types it, from the manifest the build writes. */
function everyCommand(): string[][] {
  const manifest = JSON.parse(readFileSync(join(process.cwd(), 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {hidden?: boolean}>}
  return Object.entries(manifest.commands)
    .filter(([, command]) => !command.hidden)
    .map(([id]) => id.split(':'))
}

describe('the first hour, second pass: messages a newcomer can act on', function () {
  this.timeout(120_000)

  it('help for a command that does not exist is exit 127 with the closest commands, as the command itself', async () => {
    for (const args of [
      ['help', 'token', 'clinet'],
      ['token', 'clinet', '--help'],
      ['token', 'clinet', '-h'],
    ]) {
      const result = await runCli(args)
      expectExit(result, 127)
      assert.equal(result.stdout, '')
      assert.equal(oneLine(result.stderr), 'Error: token clinet is not a tokenctl command — did you mean `token client`? (`tokenctl help` lists every command)', args.join(' '))
    }

    const arguments_ = await runCli(['help', 'token', 'client', 'ci'])
    expectExit(arguments_, 0)
    assert.match(arguments_.stdout, /Get a client-credentials access token/)
  })

  it('-h is --help: tokenctl -h, and on every command', async () => {
    const root = await runCli(['-h'])
    expectExit(root, 0)
    assert.equal(root.stdout, (await runCli(['--help'])).stdout)
    const commands = everyCommand()
    assert.ok(commands.length > 15, 'the manifest lists the commands')
    for (const words of commands) {
      const short = await runCli([...words, '-h'])
      expectExit(short, 0)
      assert.equal(short.stderr, '', words.join(' '))
      assert.equal(short.stdout, (await runCli([...words, '--help'])).stdout, words.join(' '))
    }
  })

  it('tokenctl -v and tokenctl version point to --version, not to dev or session', async () => {
    for (const word of ['-v', 'version']) {
      const result = await runCli([word])
      expectExit(result, 127)
      assert.equal(oneLine(result.stderr), `Error: ${word} is not a tokenctl command — did you mean \`tokenctl --version\`?`)
    }
  })

  for (const [way, extra] of [
    ['the fast path', {}],
    ['oclif', {TOKENCTL_NO_FAST_PATH: '1'}],
  ] as const) {
    it(`an unknown flag names the command and its closest flag (${way})`, async () => {
      const scope = await runCli(['token', 'client', 'ci', '--scop', 'read'], {env: extra})
      expectExit(scope, 2)
      assert.equal(oneLine(scope.stderr), 'Error: unknown flag --scop for token client — did you mean --scope?')
      const issuer = await runCli(['token', 'verify', '--isuer', 'https://idp.example.com'], {env: extra})
      expectExit(issuer, 2)
      assert.equal(oneLine(issuer.stderr), 'Error: unknown flag --isuer for token verify — did you mean --issuer?')
    })
  }

  it("oclif's own mistakes are said as tokenctl says everything else: one line, what to do, exit 2", async () => {
    const cases: Array<[string[], string]> = [
      [['token', 'user', '--browser', '--device', '--scope', 'read'], 'Error: --browser and --device cannot go together — give one of them'],
      [['help', 'token', 'client', '--json'], 'Error: unknown flag --json for help — help has no --json output'],
      [['demo', '--json'], 'Error: unknown flag --json for demo — demo has no --json output'],
      [['session', 'show', '--key'], 'Error: --key needs a value — e.g. tokenctl session show --session-key nightly-report'],
      [['client', 'show', 'ci', 'extra'], 'Error: one argument too many: client show takes NAME — e.g. tokenctl client show ci'],
      // oclif reads a word after a command without arguments as more of its name: still that command's mistake.
      [['session', 'list', 'extra'], 'Error: one argument too many: session list takes no arguments — e.g. tokenctl session list'],
      [['token', 'client', '--format', 'nope'], 'Error: --format takes one of: token, header, env, exec-credential'],
    ]
    for (const [args, line] of cases) {
      const result = await runCli(args)
      expectExit(result, 2)
      assert.equal(result.stdout, '', args.join(' '))
      assert.equal(oneLine(result.stderr), line)
    }
  })

  it('client add without --client-id or a server: the flags it needs, whatever TOKENCTL_* variables are set (a client keeps none)', async () => {
    const env = {TOKENCTL_CLIENT_ID: 'from-the-environment', TOKENCTL_ISSUER: 'https://idp.example.com'}
    const noId = await runCli(['client', 'add', 'foo', '--issuer', 'https://idp.example.com'], {env})
    expectExit(noId, 2)
    assert.match(oneLine(noId.stderr), /^Error: missing required flag --client-id — e\.g\. .*tokenctl client add /)
    assert.doesNotMatch(noId.stderr, /TOKENCTL_CLIENT_ID|name a client added/)
    const noServer = await runCli(['client', 'add', 'foo', '--client-id', 'foo'], {env})
    expectExit(noServer, 2)
    assert.match(oneLine(noServer.stderr), /^Error: missing one of --issuer, --token-endpoint — e\.g\. /)
    assert.doesNotMatch(noServer.stderr, /TOKENCTL_ISSUER/)
  })

  it('token decode on a terminal with no argument says to give TOKEN or pipe it in, with whole examples', async () => {
    const result = await onTerminal(['token', 'decode'], cleanEnvironment(tempHome()))
    assert.equal(result.code, 2, result.output)
    assert.equal(
      result.output.trim(),
      'Error: token decode: no TOKEN — give the token as the argument (tokenctl token decode eyJhbGciOi…), or pipe it in (tokenctl token client ci | tokenctl token decode)',
    )
  })
})

describe('the first hour, third pass: the wrong home, no store, damaged files', function () {
  this.timeout(120_000)
  const UNSIGNED = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'

  it('a command that only reads creates no home: with no HOME and no TOKENCTL_HOME, the default stays absent', async () => {
    const xdg = tempHome()
    const home = join(xdg, 'tokenctl')
    const port = await closedPort()
    // As cron runs a job: no HOME, no TOKENCTL_HOME; env-paths then takes XDG_CONFIG_HOME (or the passwd entry's home).
    const env = {HOME: undefined, TOKENCTL_HOME: undefined, TOKENCTL_STORE_PASSPHRASE: 'p', XDG_CONFIG_HOME: xdg}
    const reads: Array<[string[], number]> = [
      [['session', 'list'], 0],
      [['session', 'show', '--session-key', 'nightly-report'], 3],
      [['session', 'refresh', '--session-key', 'nightly-report'], 3],
      [['session', 'end', '--session-key', 'nightly-report'], 3],
      [['client', 'list'], 0],
      [['client', 'show', 'ci'], 3],
      [['token', 'client', 'ci'], 3],
      [['store', 'status'], 0],
      [['token', 'decode', UNSIGNED], 0],
      // A key set it could not fetch is no cache to keep.
      [['token', 'verify', UNSIGNED, '--issuer', `http://127.0.0.1:${port}`, '--timeout', '5'], 6],
    ]
    for (const [args, code] of reads) {
      const result = await runCli(args, {env})
      expectExit(result, code)
      assert.ok(!existsSync(home), `${args.join(' ')} created ${home}`)
    }

    const unknown = await runCli(['session', 'refresh', '--session-key', 'nightly-report'], {env})
    assert.match(unknown.stderr, new RegExp(`not in the file store of the default home ${home.replaceAll('/', '\\/')} \\(TOKENCTL_HOME is not set\\)`))
  })

  it('a cron job with the wrong home: the session is not found, and the line names the home and store searched and how to point at the right one', async () => {
    const started = cliWithHome({env: FILE_STORE})
    const wrong = tempHome()
    const result = await runCli(['session', 'refresh', '--session-key', 'nightly-report', '--format', 'header'], {env: FILE_STORE, home: wrong})
    expectExit(result, 3)
    assert.equal(
      oneLine(result.stderr),
      `Error: unknown session "nightly-report": not in the file store of TOKENCTL_HOME=${wrong} — run this with the TOKENCTL_HOME and TOKENCTL_STORE of the shell the session was started in (a crontab line sets them itself: cron reads no shell profile); tokenctl session list shows the sessions there; tokenctl session start creates one`,
    )
    const asJson = await runCli(['session', 'show', '--session-key', 'nightly-report', '--json'], {env: FILE_STORE, home: started.home})
    expectExit(asJson, 3)
    assert.equal(json(asJson).error.code, 'unknown_session')
    const client = await runCli(['token', 'client', 'ci'], {env: FILE_STORE, home: wrong})
    assert.match(oneLine(client.stderr), new RegExp(`unknown client "ci": not in the config.json of TOKENCTL_HOME=${wrong.replaceAll('/', '\\/')} — `))
  })

  it('store status with no store at all: the report all the same (backend none, why, what to do), exit 7', async () => {
    const result = await runCli(['store', 'status'])
    expectExit(result, 7)
    assert.equal(result.stderr, '')
    const lines = result.stdout.split('\n')
    assert.equal(lines[0], 'backend:  none')
    assert.match(lines[1], /^reason: +no secure store: no keychain answers \(.+\) and no key or passphrase is set for the encrypted file store$/)
    assert.equal(lines[2], 'location: -')
    assert.equal(lines[3], 'answers:  no')
    assert.match(lines[4], /^to do: +on a server, container or CI runner: export TOKENCTL_STORE_KEY_FILE=.+; or a passphrase: export TOKENCTL_STORE_PASSPHRASE_FILE=/)
    assert.match(lines[5], /^ +on a desktop: start or unlock the OS keychain/)
    const asJson = await runCli(['store', 'status', '--json'])
    expectExit(asJson, 7)
    const status = json(asJson)
    assert.deepEqual([status.backend, status.location, status.ok, status.error_code, status.advice.length], ['none', null, false, 'no_store', 2])
  })

  it('a passphrase file that is not there: store status reports the file store not answering, in words, and what to check (exit 7)', async () => {
    const run = cliWithHome({env: {TOKENCTL_STORE_PASSPHRASE_FILE: '/run/secrets/not-mounted'}})
    const result = await run.run(['store', 'status'])
    expectExit(result, 7)
    assert.match(result.stdout, /^backend: +file\nreason: +TOKENCTL_STORE=auto and no keychain answers, so the encrypted file store\n/)
    assert.match(result.stdout, /\nanswers: +no — cannot read the store passphrase file \/run\/secrets\/not-mounted \(TOKENCTL_STORE_PASSPHRASE_FILE\): there is no such file\n/)
    assert.match(result.stdout, /\nto do: +check the path in TOKENCTL_STORE_PASSPHRASE_FILE/)
    assert.doesNotMatch(result.stdout + result.stderr, /ENOENT/)
    const refresh = await run.run(['session', 'refresh', '--session-key', 'nightly-report'])
    expectExit(refresh, 7)
    assert.match(oneLine(refresh.stderr), /: there is no such file — check the path in TOKENCTL_STORE_PASSPHRASE_FILE/)
  })

  it('no store: session refresh gets the ways to a store only; token client without --no-cache is told --no-cache would do', async () => {
    const refresh = await runCli(['session', 'refresh', '--session-key', 'nightly-report'])
    expectExit(refresh, 7)
    const line = oneLine(refresh.stderr)
    assert.match(line, /^Error: no secure store: /)
    assert.doesNotMatch(line, /--no-cache|needs no store/)
    const env = {SECRET: 's'}
    const token = await runCli(['token', 'client', '--token-endpoint', 'http://127.0.0.1:9/token', '--client-id', 'x', '--client-secret-env', 'SECRET'], {env})
    expectExit(token, 7)
    assert.match(oneLine(token.stderr), /; or pass --no-cache: this token needs the store only for its cache$/)
    const call = await runCli(['call', 'http://127.0.0.1:9/x', '--client', 'ci'])
    assert.doesNotMatch(call.stderr, /--no-cache/, 'call has no --no-cache')
  })

  it("a damaged session index is one sentence with what to do, not a JSON parser's words", async () => {
    const run = cliWithHome({env: FILE_STORE})
    writeFileSync(join(run.home, 'sessions.json'), 'garbage\n', {mode: 0o600})
    const result = await run.run(['session', 'list'])
    expectExit(result, 3)
    assert.equal(
      oneLine(result.stderr),
      `Error: the session index ${join(run.home, 'sessions.json')} is damaged (not the JSON object tokenctl writes) — remove the file: the sessions themselves are in the secure store, and the next refresh of each writes its entry again`,
    )
  })
})

describe('the first hour: against an authorization server', function () {
  this.timeout(90_000)
  let server: AuthServer
  let api: ApiServer
  useAuthServerWithApi(
    (started, startedApi) => {
      server = started
      api = startedApi
    },
    {deviceInterval: 1},
  )

  const worker = () => ['--issuer', server.issuer, '--client-id', 'worker', '--client-secret-env', 'WORKER_SECRET']
  const cli = () => cliWithHome({env: {...FILE_STORE, WORKER_SECRET: server.clients.worker.clientSecret!}})
  const leftovers = (folder: string) => readdirSync(folder).filter((name) => name.endsWith('.tmp'))

  describe('--output PATH', () => {
    it('writes what stdout would get into PATH, 0600, through a temporary file that does not stay', async () => {
      const run = cli()
      const folder = join(run.home, 'out')
      mkdirSync(folder)
      const file = join(folder, 'token')
      writeFileSync(file, 'the previous token\n', {mode: 0o644})
      const written = await run.run(['token', 'client', ...worker(), '-o', file])
      expectExit(written, 0)
      assert.equal(written.stdout, '')
      assert.match(readFileSync(file, 'utf8'), /^[\w-]+\.[\w-]+\.[\w-]+\n$/)
      assert.equal(statSync(file).mode & 0o777, 0o600)
      assert.deepEqual(leftovers(folder), [])

      const jsonFile = join(folder, 'token.json')
      const asJson = await run.run(['token', 'client', ...worker(), '--json', '--output', jsonFile])
      expectExit(asJson, 0)
      assert.equal(asJson.stdout, '')
      assert.equal(JSON.parse(readFileSync(jsonFile, 'utf8')).token_source, 'cache')
    })

    it('leaves PATH exactly as it was when the command fails, and the error JSON on stdout', async () => {
      const run = cli()
      const file = join(run.home, 'header')
      writeFileSync(file, 'Authorization: Bearer the-last-good-one\n')
      const refused = await run.run(['token', 'client', ...worker(), '--scope', 'nonsense', '--format', 'header', '-o', file, '--json'])
      expectExit(refused, 4)
      assert.equal(json(refused).error.code, 'invalid_scope')
      assert.equal(readFileSync(file, 'utf8'), 'Authorization: Bearer the-last-good-one\n')
      const unknown = await run.run(['session', 'refresh', '--key', 'nightly-report', '--format', 'header', '-o', file])
      expectExit(unknown, 3)
      assert.equal(readFileSync(file, 'utf8'), 'Authorization: Bearer the-last-good-one\n')
      assert.deepEqual(leftovers(run.home), [])
    })

    it('refuses a folder that does not exist before any request is made (exit 3)', async () => {
      const run = cli()
      server.resetCounters()
      const result = await run.run(['token', 'client', ...worker(), '-o', join(run.home, 'missing', 'token')])
      expectExit(result, 3)
      assert.match(oneLine(result.stderr), /cannot write --output .*missing\/token: no such folder/)
      assert.equal(server.tokenRequests.length, 0, 'nothing was asked of the server')
    })

    it('session start and token user --session-key write the key and the token into PATH', async () => {
      const run = cli()
      const token = join(run.home, 'user-token')
      const child = run.start(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--device', '-o', token])
      const [, uri, code] = await stderrMatch(child, DEVICE_PROMPT)
      await approveDevice(uri, {login: 'alice', userCode: code})
      expectExit(await child.result, 0)
      const key = join(run.home, 'key')
      const add = await run.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret})
      expectExit(add, 0)
      const started = await run.run(['session', 'start', 'api', '--assertion-file', token, '--scope', 'read', '--key', 'k1', '-o', key])
      expectExit(started, 0)
      assert.equal(readFileSync(key, 'utf8'), 'k1\n')
    })

    it('call -o: the body on success; a status >= 400 leaves PATH as it was (exit 8) unless --no-fail', async () => {
      const run = cli()
      expectExit(await run.run(['client', 'add', 'worker', ...worker()]), 0)
      const file = join(run.home, 'answer.json')
      const ok = await run.run(['call', `${api.url}/echo`, '--client', 'worker', '-o', file])
      expectExit(ok, 0)
      assert.equal(ok.stdout, '')
      assert.equal(JSON.parse(readFileSync(file, 'utf8')).claims.client_id, 'worker')
      const before = readFileSync(file, 'utf8')
      const failed = await run.run(['call', `${api.url}/status/503`, '--client', 'worker', '--retries', '0', '-o', file])
      expectExit(failed, 8)
      assert.equal(readFileSync(file, 'utf8'), before, 'the last good answer stays')
      const kept = await run.run(['call', `${api.url}/status/404`, '--client', 'worker', '--no-fail', '-o', file])
      expectExit(kept, 0)
      assert.equal(readFileSync(file, 'utf8'), 'status 404')
      assert.deepEqual(leftovers(run.home), [])
    })

    it('Ctrl-C while call -o waits leaves PATH as it was and no temporary file', async () => {
      const run = cli()
      expectExit(await run.run(['client', 'add', 'worker', ...worker()]), 0)
      const file = join(run.home, 'slow.json')
      writeFileSync(file, 'before\n')
      const child = run.start(['call', `${api.url}/slow-headers`, '--client', 'worker', '-o', file])
      while (!api.requests.some((request) => request.path === '/slow-headers')) await new Promise((resolve) => setTimeout(resolve, 50))
      assert.equal(leftovers(run.home).length, 1, 'the temporary file exists while the answer is awaited')
      child.kill('SIGINT')
      const result = await child.result
      assert.equal(result.signal ?? result.code, result.signal ? 'SIGINT' : 130)
      assert.equal(readFileSync(file, 'utf8'), 'before\n')
      assert.deepEqual(leftovers(run.home), [])
    })
  })

  describe('an empty value is never "not given" (exit 2, nothing sent)', () => {
    const secretEverywhere = () => cliWithHome({env: {...FILE_STORE, TOKENCTL_CLIENT_SECRET: server.clients.worker.clientSecret!, WORKER_SECRET: server.clients.worker.clientSecret!}})

    for (const [way, extra] of [
      ['the fast path', {}],
      ['oclif', {TOKENCTL_NO_FAST_PATH: '1'}],
    ] as const) {
      it(`--client-secret-file= does not fall back to TOKENCTL_CLIENT_SECRET (${way})`, async () => {
        const run = secretEverywhere()
        for (const empty of [['--client-secret-file='], ['--client-secret-file', '']]) {
          const result = await run.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'worker', ...empty, '--no-cache'], {env: extra})
          expectExit(result, 2)
          assert.match(oneLine(result.stderr), /^Error: --client-secret-file is empty — give it a value, or leave it out$/)
        }

        assert.equal(server.tokenRequests.length, 0)
      })

      it(`--ca-file=, --scope '' and an empty NAME are refused the same way (${way})`, async () => {
        const run = secretEverywhere()
        expectExit(await run.run(['client', 'add', 'ci', ...worker()]), 0)
        const refusals: Array<[string[], RegExp]> = [
          [['token', 'client', 'ci', '--ca-file=', '--no-cache'], /--ca-file is empty/],
          [['token', 'client', 'ci', '--scope', '', '--no-cache'], /--scope is empty/],
          // With TOKENCTL_ISSUER and TOKENCTL_CLIENT_ID set, "$CLIENT" unset must not run on the variables.
          [['token', 'client', '', '--no-cache'], /the argument NAME is empty/],
          [['session', 'refresh', '--key='], /--key is empty/],
        ]
        for (const [args, message] of refusals) {
          const result = await run.run(args, {env: {...extra, TOKENCTL_CLIENT_ID: 'worker', TOKENCTL_ISSUER: server.issuer}})
          expectExit(result, 2)
          assert.match(oneLine(result.stderr), message, args.join(' '))
        }

        assert.equal(server.tokenRequests.length, 0)
      })
    }

    it("call -d '' is an empty body, sent as curl sends it", async () => {
      const run = cli()
      expectExit(await run.run(['client', 'add', 'ci', ...worker(), '--scope', 'read']), 0)
      const result = await run.run(['call', `${api.url}/echo`, '--client', 'ci', '-d', '', '--json'])
      expectExit(result, 0)
      assert.deepEqual([json(result).body.method, json(result).body.bodyLength], ['POST', 0])
    })
  })

  describe("--timeout and --wait hold at most a day (Node's timers fire at once past 24.8 days)", () => {
    for (const [way, extra] of [
      ['the fast path', {}],
      ['oclif', {TOKENCTL_NO_FAST_PATH: '1'}],
    ] as const) {
      it(`a larger value is exit 2 naming the bound, before anything is sent (${way})`, async () => {
        const commands = [
          ['token', 'client', ...worker(), '--no-cache', '--timeout', '2147484'],
          ['call', `${api.url}/echo`, '--token-env', 'WORKER_SECRET', '--timeout', '86401'],
          ['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--device', '--wait', '2147484'],
        ]
        for (const args of commands) {
          const result = await cli().run(args, {env: extra})
          expectExit(result, 2)
          assert.match(oneLine(result.stderr), /takes a whole number from 1 to 86400/, args.join(' '))
        }

        assert.equal(server.requests.length, 0)
        assert.equal(api.requests.length, 0)
      })
    }

    it('a day itself is a timeout like any other', async () => {
      expectExit(await cli().run(['token', 'client', ...worker(), '--no-cache', '--timeout', '86400']), 0)
    })
  })

  describe('--verbose: a stack trace for a bug (exit 1) only, never for an expected outcome', () => {
    const stackLine = /^\s+at .+$/m
    it('an unknown session (exit 3), a refusal (exit 4), a failed check (exit 9): the one error line, no stack', async () => {
      const run = cli()
      const unknown = await run.run(['session', 'show', '--key', 'nope', '--verbose'])
      expectExit(unknown, 3)
      assert.match(oneLine(unknown.stderr), /unknown session "nope"/)
      const refused = await run.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'worker', '--client-secret-env', 'WRONG', '--no-cache', '--verbose'], {
        env: {WRONG: 'not-the-secret'},
      })
      expectExit(refused, 4)
      const token = await server.mintUserToken({aud: server.clients.api.clientId, sub: 'alice'})
      const failed = await run.run(['token', 'verify', token, '--issuer', server.issuer, '--audience', 'someone-else', '--verbose'])
      expectExit(failed, 9)
      for (const result of [refused, failed]) {
        assert.doesNotMatch(result.stderr, stackLine, result.stderr)
        // The trace lines, then the one error line.
        assert.equal(
          result.stderr
            .trimEnd()
            .split('\n')
            .filter((line) => !line.startsWith('* ')).length,
          1,
          result.stderr,
        )
      }
    })
  })

  describe('advice that fits', () => {
    it('token user --wait: the wait running out names --wait', async () => {
      const result = await cli().run(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--device', '--wait', '2'])
      expectExit(result, 5)
      assert.match(result.stderr, /nobody approved the sign-in within 2 s \(--wait\) — .*--wait SECONDS/)
    })

    it('a session that token user --session-key began, needing the user again, suggests token user … --session-key K', async () => {
      const run = cli()
      const child = run.start(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--device', '--session-key', 'mine'])
      const [, uri, code] = await stderrMatch(child, DEVICE_PROMPT)
      await approveDevice(uri, {login: 'alice', userCode: code})
      expectExit(await child.result, 0)
      server.injectTokenFaults({body: {error: 'invalid_grant', error_description: 'refresh token revoked'}, status: 400})
      const first = await run.run(['session', 'refresh', '--key', 'mine', '--force'])
      expectExit(first, 5)
      assert.match(first.stderr, /sign the user in again: tokenctl token user … --session-key mine --replace/)
      assert.doesNotMatch(first.stderr, /session start/)
      const later = await run.run(['session', 'refresh', '--key', 'mine'])
      expectExit(later, 5)
      assert.match(oneLine(later.stderr), /tokenctl token user … --session-key mine --replace$/)
      // session show says why in words; --json keeps the record.
      const shown = await run.run(['session', 'show', '--session-key', 'mine'])
      expectExit(shown, 0)
      assert.match(
        shown.stdout,
        /^reauthentication: the server answered invalid_grant at \d{4}-[\d-]+T[\d:.]+Z \(refresh token revoked\): sign the user in again: tokenctl token user … --session-key mine --replace$/m,
      )
      assert.doesNotMatch(shown.stdout, /\{"at"/)
      const record = json(await run.run(['session', 'show', '--session-key', 'mine', '--json']))
      assert.deepEqual([record.reauthentication.error, record.reauthentication.description], ['invalid_grant', 'refresh token revoked'])
    })
  })

  describe('what a command did, on stderr; its data alone on stdout', () => {
    it('client add, client add --replace, session start, session end, client remove: one line each on stderr, the key alone on stdout', async () => {
      const run = cli()
      const added = await run.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret})
      expectExit(added, 0)
      assert.equal(added.stdout, '')
      assert.equal(added.stderr, 'added client api (credential: client secret in the secure store)\n')
      const replaced = await run.run(['client', 'add', 'api', '--replace', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret})
      expectExit(replaced, 0)
      assert.equal(replaced.stderr, 'replaced client api (credential: client secret in the secure store)\n')
      const userToken = await server.mintUserToken({aud: 'api', sub: 'alice'})
      const started = await run.run(['session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--session-key', 'nightly-report'], {input: userToken})
      expectExit(started, 0)
      assert.equal(started.stdout, 'nightly-report\n')
      assert.equal(started.stderr, 'started session nightly-report for client api (scopes read offline_access; its refresh token is in the secure store)\n')
      const quiet = await run.run(['session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--session-key', 'other', '--json'], {input: userToken})
      expectExit(quiet, 0)
      assert.equal(quiet.stderr, '', '--json: the JSON says it')
      const ended = await run.run(['session', 'end', '--session-key', 'nightly-report', '--no-revoke'])
      expectExit(ended, 0)
      assert.deepEqual([ended.stdout, ended.stderr], ['', 'ended session nightly-report (not revoked: --no-revoke)\n'])
      const removed = await run.run(['client', 'remove', 'api'])
      expectExit(removed, 0)
      assert.deepEqual([removed.stdout, removed.stderr], ['', 'removed client api and its secret\n'])
    })
  })

  describe('token user without a scope, and one name for a session key', () => {
    it('token user cli with no scope anywhere, off a terminal: exit 2 at once, nothing asked of the server', async () => {
      const run = cli()
      expectExit(await run.run(['client', 'add', 'cli', '--issuer', server.issuer, '--client-id', 'cli', '--auth-method', 'none']), 0)
      server.resetCounters()
      for (const args of [
        ['token', 'user', 'cli'],
        ['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--device'],
      ]) {
        const result = await run.run(args, {timeoutMs: 10_000})
        expectExit(result, 2)
        assert.equal(oneLine(result.stderr), 'Error: token user: no scope to sign in for — pass --scope S, the scope of the web API that receives the token (e.g. --scope api://my-api/access_as_user)')
      }

      assert.equal(server.requests.length, 0)
    })

    it('--session-key on every command that takes a session; --key and --session still work, without a warning', async () => {
      const run = cli()
      expectExit(await run.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret}), 0)
      for (const [spelling, key] of [
        ['--session-key', 'me'],
        ['--key', 'old'],
      ]) {
        const userToken = await server.mintUserToken({aud: 'api', sub: 'alice'})
        const started = await run.run(['session', 'start', 'api', '--assertion-stdin', '--scope', 'read', spelling, key], {input: userToken})
        expectExit(started, 0)
        assert.equal(started.stdout, `${key}\n`)
      }

      for (const spelling of ['--session-key', '--key']) {
        for (const command of [
          ['session', 'refresh'],
          ['session', 'show'],
        ]) {
          const result = await run.run([...command, spelling, 'me'])
          expectExit(result, 0)
          assert.equal(result.stderr, '', `${command.join(' ')} ${spelling}`)
        }
      }

      for (const spelling of ['--session-key', '--session']) {
        const called = await run.run(['call', `${api.url}/echo`, spelling, 'me'])
        expectExit(called, 0)
        assert.equal(called.stderr, '', `call ${spelling}`)
        assert.equal(JSON.parse(called.stdout).claims.sub, 'alice')
        const ran = await run.run(['exec', spelling, 'me', '--', 'sh', '-c', 'test -n "$ACCESS_TOKEN"'])
        expectExit(ran, 0)
      }

      for (const [spelling, key] of [
        ['--session-key', 'me'],
        ['--key', 'old'],
      ])
        expectExit(await run.run(['session', 'end', spelling, key, '--no-revoke']), 0)
    })

    it('--open, the old twin of --no-open, still works for one release with a deprecation line on stderr', async () => {
      const run = cli()
      const child = run.start(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--device', '--open'])
      const [, uri, code] = await stderrMatch(child, DEVICE_PROMPT)
      await approveDevice(uri, {login: 'alice', userCode: code})
      const result = await child.result
      expectExit(result, 0)
      assert.match(result.stderr, /^warning: --open is deprecated and goes in the next release: the browser opens by default \(--no-open only prints the URL\)$/m)
    })
  })

  describe('client list and session list', () => {
    it('piped: tab-separated rows of plain values (counts, ISO times), no header or colour; on a terminal: a header, and times with "in …" beside them', async () => {
      const run = cli()
      expectExit(await run.run(['client', 'add', 'worker', ...worker()]), 0)
      const piped = await run.run(['client', 'list'], {env: {FORCE_COLOR: '1', NO_COLOR: undefined}})
      expectExit(piped, 0)
      assert.equal(piped.stdout, `worker\tworker\t${server.issuer}\tclient_secret_basic\tstored\t-\n`)

      const env = cleanEnvironment(run.home, FILE_STORE)
      const terminal = await onTerminal(['client', 'list'], env)
      assert.equal(terminal.code, 0, terminal.output)
      assert.match(terminal.output, /^NAME +CLIENT ID +ISSUER \/ TOKEN ENDPOINT +AUTH +SECRET +SCOPES\nworker +worker +http/m)

      const token = join(run.home, 'user-token')
      const child = run.start(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--device', '--session-key', 'me', '-o', token])
      const [, uri, code] = await stderrMatch(child, DEVICE_PROMPT)
      await approveDevice(uri, {login: 'alice', userCode: code})
      expectExit(await child.result, 0)
      const sessions = await onTerminal(['session', 'list'], env)
      assert.equal(sessions.code, 0, sessions.output)
      assert.match(sessions.output, /^KEY +STATUS +CLIENT +SCOPES +REFRESHED +TOKEN EXPIRES\nme +active +cli +access_as_user offline_access +0× +\d{4}-\d\d-\d\dT[\d:.]+Z \(in [\dhm ]+\)/m)
      // Piped: plain values in fixed columns (key, status, client, scopes, count, last refresh, expiry), nothing relative.
      const rows = await run.run(['session', 'list'])
      assert.match(rows.stdout, /^me\tactive\tcli\taccess_as_user offline_access\t0\t-\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n$/)
      expectExit(await run.run(['session', 'refresh', '--session-key', 'me', '--force']), 0)
      const refreshed = (await run.run(['session', 'list'])).stdout.trimEnd().split('\t')
      assert.equal(refreshed.length, 7)
      assert.equal(refreshed[4], '1')
      assert.ok(!Number.isNaN(Date.parse(refreshed[5])) && !Number.isNaN(Date.parse(refreshed[6])), refreshed.join(' | '))
      assert.doesNotMatch(refreshed.join('\t'), /×|ago|\(in /)
      assert.ok(existsSync(token))
    })
  })
})
