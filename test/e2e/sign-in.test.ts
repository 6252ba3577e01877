import {strict as assert} from 'node:assert'
import {chmodSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {decodeJwt} from 'jose'

import {approveDevice, completeAuthorization} from '../../src/lib/devidp/robot.js'
import {expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {cliWithHome, startNode, stderrMatch} from '../helpers/cli.js'

const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'sign-in tests'}
const BIN = join(process.cwd(), 'bin', 'run.js')

const DEVICE_PROMPT = /open (\S+) and enter the code (\S+)/
const BROWSER_PROMPT = /open this URL in a browser:\n(\S+)/

describe('token user: a person signs in (device flow, browser flow) against the dev authorization server', function () {
  this.timeout(90_000)
  let server: AuthServer
  useAuthServer(
    (started) => {
      server = started
    },
    {deviceInterval: 1},
  )

  const cli = () => cliWithHome({env: FILE_STORE})
  const signInArgs = (...extra: string[]) => ['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', ...extra]

  it('device flow: the code on stderr, the user approves, the token (for the web API) alone on stdout', async () => {
    const run = cli()
    const child = run.start(signInArgs('--device'))
    const [, verificationUri, userCode] = await stderrMatch(child, DEVICE_PROMPT)
    await approveDevice(verificationUri, {login: 'alice', userCode})
    const result = await child.result
    expectExit(result, 0)
    assert.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/)
    const claims = decodeJwt(result.stdout.trim())
    assert.equal(claims.sub, 'alice')
    assert.equal(claims.aud, 'api')
    assert.match(result.stderr, /expires in \d+ min/)
    const polls = server.tokenRequests.filter((request) => request.grant_type === 'urn:ietf:params:oauth:grant-type:device_code')
    assert.ok(polls.length >= 1)
  })

  it('a refused device sign-in is exit 5 (access_denied)', async () => {
    const child = cli().start(signInArgs('--device', '--json'))
    const [, verificationUri, userCode] = await stderrMatch(child, DEVICE_PROMPT)
    await approveDevice(verificationUri, {deny: true, login: 'alice', userCode}).catch(() => {})
    const result = await child.result
    expectExit(result, 5)
    assert.equal(json(result).error.code, 'access_denied')
  })

  it('slow_down makes the poll slower (5 s more between polls)', async () => {
    const child = cli().start(signInArgs('--device'))
    const [, verificationUri, userCode] = await stderrMatch(child, DEVICE_PROMPT)
    server.injectTokenFaults({body: {error: 'slow_down'}, status: 400})
    const polls = () => server.tokenRequests.filter((request) => request.grant_type === 'urn:ietf:params:oauth:grant-type:device_code')
    while (polls().length < 2) await new Promise((resolve) => setTimeout(resolve, 100))
    await approveDevice(verificationUri, {login: 'alice', userCode})
    expectExit(await child.result, 0)
    const [first, second] = polls()
    assert.equal(first.fault !== undefined, true, 'the first poll was answered slow_down')
    assert.ok(second.time - first.time >= 5500, `polled again after ${second.time - first.time} ms`)
  })

  it('Ctrl-C while waiting cancels cleanly (exit 130)', async () => {
    const child = cli().start(signInArgs('--device'))
    await stderrMatch(child, DEVICE_PROMPT)
    child.kill('SIGINT')
    const result = await child.result
    expectExit(result, 130)
    assert.match(result.stderr, /cancelled/)
    assert.equal(result.stdout, '')
  })

  it('browser flow: authorization code with S256 PKCE through a loopback redirect', async () => {
    const child = cli().start(signInArgs('--browser', '--no-open', '--json'))
    const [, url] = await stderrMatch(child, BROWSER_PROMPT)
    const authorization = new URL(url)
    assert.equal(authorization.searchParams.get('code_challenge_method'), 'S256')
    assert.ok(authorization.searchParams.get('state'))
    const redirect = new URL(authorization.searchParams.get('redirect_uri')!)
    assert.equal(redirect.hostname, '127.0.0.1')
    assert.notEqual(redirect.port, '')

    const back = await completeAuthorization(authorization, {login: 'bob'})
    assert.equal(back.origin, redirect.origin)
    const page = await fetch(back)
    assert.equal(page.status, 200)
    assert.match(await page.text(), /close this window/)
    const result = await child.result
    expectExit(result, 0)
    assert.equal(decodeJwt(json(result).access_token).sub, 'bob')
    assert.equal(json(result).token_source, 'identity_provider')
    const exchange = server.tokenRequests.find((request) => request.grant_type === 'authorization_code')!
    assert.ok(exchange.params.code_verifier, 'PKCE verifier sent')
  })

  it('browser flow: an answer with a wrong state is rejected', async () => {
    const child = cli().start(signInArgs('--browser', '--no-open', '--json'))
    const [, url] = await stderrMatch(child, BROWSER_PROMPT)
    const back = await completeAuthorization(url, {login: 'mallory'})
    back.searchParams.set('state', 'forged')
    const page = await fetch(back)
    assert.equal(page.status, 400)
    const result = await child.result
    expectExit(result, 5)
    assert.equal(json(result).error.code, 'state_mismatch')
    assert.equal(server.tokenRequests.filter((request) => request.grant_type === 'authorization_code').length, 0, 'the code was never redeemed')
  })

  it('browser flow: a person who refuses is exit 5 (access_denied); a sign-in the server refuses is exit 4', async () => {
    const refusing = cli().start(signInArgs('--browser', '--no-open', '--json'))
    const [, url] = await stderrMatch(refusing, BROWSER_PROMPT)
    const denied = await completeAuthorization(url, {deny: true, login: 'erin'})
    assert.equal(denied.searchParams.get('error'), 'access_denied')
    assert.equal((await fetch(denied)).status, 400)
    const refused = await refusing.result
    expectExit(refused, 5)
    assert.equal(json(refused).error.code, 'access_denied')
    assert.match(json(refused).error.hint, /sign in again/)

    // An unknown scope: the server itself redirects back with invalid_scope, before anyone is asked.
    const unknown = cli().start(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'no-such-scope', '--browser', '--no-open', '--json'])
    const [, unknownUrl] = await stderrMatch(unknown, BROWSER_PROMPT)
    const back = await completeAuthorization(unknownUrl, {login: 'erin'})
    assert.equal(back.searchParams.get('error'), 'invalid_scope')
    await fetch(back)
    const result = await unknown.result
    expectExit(result, 4)
    assert.equal(json(result).error.code, 'invalid_scope')
  })

  it("browser flow: $BROWSER is tried first, entry by entry until one starts, the URL in place of %s (WSL's BROWSER=wslview)", async () => {
    const directory = mkdtempSync(join(tmpdir(), 'tokenctl-browser-'))
    const argsFile = join(directory, 'args')
    // A browser that signs in as a person would: the dev server's login and consent, then the loopback redirect.
    const robot = join(directory, 'robot.mjs')
    const robotModule = pathToFileURL(join(process.cwd(), 'dist', 'lib', 'devidp', 'robot.js')).href
    writeFileSync(robot, `import {completeAuthorization} from '${robotModule}'\nconst back = await completeAuthorization(process.argv[2], {login: 'wsl-user'})\nawait fetch(back)\n`)
    const browser = join(directory, 'sign-in-browser')
    writeFileSync(browser, `#!/bin/sh\nprintf '%s\\n' "$@" > '${argsFile}'\nexec '${process.execPath}' '${robot}' "$2"\n`)
    chmodSync(browser, 0o755)

    // One that is not there, one that fails at once, then ours.
    const child = cli().start(signInArgs('--browser', '--json'), {env: {BROWSER: `no-such-browser-tokenctl:false:${browser} --new-tab %s`}})
    const result = await child.result
    expectExit(result, 0)
    assert.equal(decodeJwt(json(result).access_token).sub, 'wsl-user')
    assert.match(result.stderr, /Opened the browser to sign in/)
    const [flag, url, ...rest] = readFileSync(argsFile, 'utf8').trimEnd().split('\n')
    assert.equal(flag, '--new-tab')
    assert.equal(new URL(url).origin + new URL(url).pathname, server.authorizationEndpoint)
    assert.deepEqual(rest, [], 'the URL is one argument, in place of %s')
  })

  it('browser flow: Ctrl-C while the browser is still starting cancels (exit 130), never lost (a hang until --wait runs out)', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'tokenctl-browser-'))
    const browser = join(directory, 'interrupting-browser')
    // The person presses Ctrl-C while the browser is still coming up.
    writeFileSync(browser, '#!/bin/sh\nkill -INT $PPID\nsleep 3\n')
    chmodSync(browser, 0o755)
    const result = await cli().run(signInArgs('--browser', '--wait', '300'), {env: {BROWSER: browser}})
    expectExit(result, 130)
    assert.match(result.stderr, /cancelled/)
  })

  it('pipes: token user --device | token obo --assertion-stdin', async () => {
    const run = cli()
    const add = await run.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {
      input: server.clients.api.clientSecret,
    })
    expectExit(add, 0)
    const pipeline = `"${process.execPath}" "${BIN}" ${signInArgs('--device').join(' ')} | "${process.execPath}" "${BIN}" token obo api --assertion-stdin --scope read --json`
    const child = startNode(['-e', `require('node:child_process').execSync(process.argv[1], {stdio: 'inherit', shell: '/bin/sh'})`, pipeline], {
      env: FILE_STORE,
      home: run.home,
    })
    const [, verificationUri, userCode] = await stderrMatch(child, DEVICE_PROMPT)
    await approveDevice(verificationUri, {login: 'carol', userCode})
    const result = await child.result
    expectExit(result, 0)
    const downstream = json(result)
    assert.equal(decodeJwt(downstream.access_token).sub, 'carol')
    assert.equal(downstream.flavor, 'rfc8693', 'detected from the metadata')
  })

  it("--session-key keeps the refresh token: session refresh serves the user's token", async () => {
    const run = cli()
    const child = run.start(signInArgs('--device', '--session-key', 'me', '--json'))
    const [, verificationUri, userCode] = await stderrMatch(child, DEVICE_PROMPT)
    await approveDevice(verificationUri, {login: 'dave', userCode})
    const result = await child.result
    expectExit(result, 0)
    assert.equal(json(result).session_key, 'me')
    const poll = server.tokenRequests.find((request) => request.grant_type === 'urn:ietf:params:oauth:grant-type:device_code')
    assert.ok(poll)

    const show = await run.run(['session', 'show', '--key', 'me', '--json'])
    expectExit(show, 0)
    assert.equal(json(show).flavor, 'sign-in')
    const refreshed = await run.run(['session', 'refresh', '--key', 'me', '--force', '--json'])
    expectExit(refreshed, 0)
    assert.equal(json(refreshed).token_source, 'identity_provider')
    assert.equal(decodeJwt(json(refreshed).access_token).sub, 'dave')
    assert.equal(server.reuseDetected, 0)
  })
})
