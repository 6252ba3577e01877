/**
 * `tokenctl exec NAME -- COMMAND`: COMMAND is a real program (sh), started by tokenctl as a user's
 * script would be, with the token in its environment. These tests look at what the child got (its
 * environment, its own /proc/PID/cmdline, its stdin), at what became of signals sent to tokenctl, and
 * at exit codes, against the test authorization server's record of token requests.
 */
import {strict as assert} from 'node:assert'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {expectExit, waitFor} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {cliWithHome, tempHome} from '../helpers/cli.js'

const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'exec tests'}

describe('exec: a command run with the token in its environment', function () {
  this.timeout(60_000)
  let server: AuthServer
  useAuthServer((started) => {
    server = started
  })

  const tokenRequests = () => server.tokenRequests.filter((request) => !request.fault)

  /** A home with client "ci" (the `basic` client), its token not yet fetched. */
  async function homeWithClient(secret = server.clients.basic.clientSecret) {
    const cli = cliWithHome({env: FILE_STORE})
    expectExit(await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: secret}), 0)
    return cli
  }

  it('puts the token in the environment (ACCESS_TOKEN), never in the argv of the command (its /proc/PID/cmdline)', async () => {
    const cli = await homeWithClient()
    const folder = tempHome()
    const script = 'tr "\\0" " " < /proc/$$/cmdline > "$1"; printf %s "$ACCESS_TOKEN" > "$2"'
    const result = await cli.run(['exec', 'ci', '--', 'sh', '-c', script, 'sh', join(folder, 'cmdline'), join(folder, 'token')])
    expectExit(result, 0)
    assert.equal(result.stdout, '')
    assert.equal(result.stderr, '')
    const token = readFileSync(join(folder, 'token'), 'utf8')
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
    const cmdline = readFileSync(join(folder, 'cmdline'), 'utf8')
    assert.match(cmdline, /^sh -c /, 'the child read its own command line')
    assert.ok(!cmdline.includes(token), 'the token is not in the command line')
    assert.equal(tokenRequests().length, 1)

    // The token is token client's, from its cache: a second run makes no request.
    const cached = await cli.run(['token', 'client', 'ci'])
    assert.equal(cached.stdout.trim(), token)
    expectExit(await cli.run(['exec', 'ci', '--', 'sh', '-c', 'test -n "$ACCESS_TOKEN"']), 0)
    assert.equal(tokenRequests().length, 1, 'exec on a cache hit sends no token request')
  })

  it("--env VAR names the variable; tokenctl's own secrets (TOKENCTL_*, a --client-secret-env variable) stay out of the environment", async () => {
    const cli = await homeWithClient()
    const env = {CI_SECRET: server.clients.basic.clientSecret, TOKENCTL_CLIENT_SECRET: 'not-for-the-child', UNRELATED: 'kept'}
    const args = ['exec', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'CI_SECRET', '--env', 'API_TOKEN', '--']
    const result = await cli.run([...args, 'sh', '-c', 'env | sort'], {env})
    expectExit(result, 0)
    const names = result.stdout.split('\n').map((line) => line.replace(/=.*/, ''))
    assert.ok(names.includes('API_TOKEN') && names.includes('UNRELATED'))
    assert.deepEqual(
      names.filter((name) => /^TOKENCTL_|^CI_SECRET$|^ACCESS_TOKEN$/.test(name)),
      [],
    )
    assert.ok(!result.stdout.includes(server.clients.basic.clientSecret!) && !result.stdout.includes('not-for-the-child'))
  })

  it('exit codes pass through: 0, 3, 42, and 128 + the number of a signal that ends the command', async () => {
    const cli = await homeWithClient()
    for (const code of [0, 3, 42]) expectExit(await cli.run(['exec', 'ci', '--', 'sh', '-c', `exit ${code}`]), code)
    expectExit(await cli.run(['exec', 'ci', '--', 'sh', '-c', 'kill -KILL $$']), 128 + 9)
  })

  for (const [signal, number] of [
    ['SIGTERM', 15],
    ['SIGINT', 2],
    ['SIGHUP', 1],
  ] as const) {
    it(`${signal} sent to tokenctl reaches the command, and tokenctl ends with the command's status`, async () => {
      const cli = await homeWithClient()
      const folder = tempHome()
      const [ready, marker] = [join(folder, 'ready'), join(folder, 'marker')]
      // The child traps the signal, writes a marker and exits 7: tokenctl's exit 7 says it waited for it.
      // It gives up by itself after some 20 s, so that a tokenctl that died first leaves no child behind.
      const script = `trap 'echo "${signal}" > "${marker}"; exit 7' ${signal.slice(3)}; : > "${ready}"; i=0; while [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done`
      const child = cli.start(['exec', 'ci', '--', 'sh', '-c', script])
      await waitFor(() => existsSync(ready), 15_000)
      assert.ok(existsSync(ready), 'the command started')
      child.kill(signal)
      const result = await child.result
      expectExit(result, 7)
      assert.equal(readFileSync(marker, 'utf8').trim(), signal)

      // A command that does not trap it dies of it: 128 + its number, as a shell reports it.
      const plain = cli.start(['exec', 'ci', '--', 'sh', '-c', `: > "${ready}.2"; exec sleep 20`])
      await waitFor(() => existsSync(`${ready}.2`), 15_000)
      await new Promise((resolve) => setTimeout(resolve, 100)) // sh has become sleep
      plain.kill(signal)
      expectExit(await plain.result, 128 + number)
    })
  }

  it("stdin is the command's", async () => {
    const cli = await homeWithClient()
    const result = await cli.run(['exec', 'ci', '--', 'cat'], {input: 'line one\nline two\n'})
    expectExit(result, 0)
    assert.equal(result.stdout, 'line one\nline two\n')
  })

  it('a refused client (a wrong secret, exit 4) never starts the command', async () => {
    const cli = await homeWithClient('wrong-secret')
    const marker = join(tempHome(), 'started')
    const result = await cli.run(['exec', 'ci', '--', 'sh', '-c', `: > "${marker}"`])
    expectExit(result, 4)
    assert.equal(existsSync(marker), false, 'the command ran')
    assert.equal(result.stdout, '')
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
    assert.match(result.stderr, /invalid_client/)
  })

  it("--session KEY: the session's access token, by session refresh's rules", async () => {
    const cli = cliWithHome({env: FILE_STORE})
    expectExit(await cli.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret}), 0)
    const userToken = await server.mintUserToken({aud: 'api', sub: 'alice'})
    expectExit(await cli.run(['session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--key', 'nightly'], {input: userToken}), 0)
    const result = await cli.run(['exec', '--session', 'nightly', '--', 'sh', '-c', 'printf %s "$ACCESS_TOKEN"'])
    expectExit(result, 0)
    const refreshed = await cli.run(['session', 'refresh', '--key', 'nightly'])
    assert.equal(result.stdout, refreshed.stdout.trim())

    const mixed = await cli.run(['exec', '--session', 'nightly', '--scope', 'write', '--', 'true'])
    expectExit(mixed, 2)
    assert.match(mixed.stderr, /a session goes without --scope/)
  })

  it('mistakes: no command (or none after --), a command that does not exist (127, as a shell), --env that is not a name', async () => {
    const cli = await homeWithClient()
    const noCommand = await cli.run(['exec', 'ci'])
    expectExit(noCommand, 2)
    assert.match(noCommand.stderr, /no command to run: it goes after --/)
    const noDashes = await cli.run(['exec', 'ci', 'env'])
    expectExit(noDashes, 2)
    assert.match(noDashes.stderr, /the command to run goes after --/)
    const missing = await cli.run(['exec', 'ci', '--', 'tokenctl-no-such-command'])
    expectExit(missing, 127)
    assert.match(missing.stderr, /tokenctl-no-such-command: command not found/)
    expectExit(await cli.run(['exec', 'ci', '--env', 'NOT A NAME', '--', 'true']), 2)
    const stdinTaken = await cli.run(['exec', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin', '--', 'cat'], {input: 'x'})
    expectExit(stdinTaken, 2)
    assert.match(stdinTaken.stderr, /stdin is the command's/)
  })
})
