/**
 * Hostile networks, end to end with the built CLI: a localhost name that a hosts entry (here: a
 * resolver preloaded into the CLI) points at another machine, a rebinding resolver, a proxy that
 * would carry loopback traffic, a proxy that never answers, and a browser that would inherit
 * secrets from tokenctl's environment.
 */
import {strict as assert} from 'node:assert'
import {chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {type ApiServer, useAuthServerWithApi} from '../helpers/api-server.js'
import {expectExit, stdoutJson as json, waitFor} from '../helpers/assertions.js'
import type {AuthServer} from '../helpers/auth-server.js'
import {type CliResult, runCli, startCli, stderrMatch} from '../helpers/cli.js'
import {type SilentProxy, startSilentProxy, type TestProxy, useProxy} from '../helpers/proxy.js'
import {lookupsIn, resolverEnv} from '../helpers/resolver.js'
import {type Stranger, startStranger} from '../helpers/stranger.js'

describe('hostile networks (end to end)', function () {
  this.timeout(90_000)
  let server: AuthServer
  let api: ApiServer
  useAuthServerWithApi((started, startedApi) => {
    server = started
    api = startedApi
  })

  const secret = () => server.clients.basic.clientSecret!
  const portOf = (url: string) => new URL(url).port
  /** `token client` with the `basic` client from flags alone, its secret in $S, no token cache. */
  const tokenClient = (...connection: string[]) => ['token', 'client', ...connection, '--client-id', 'basic', '--client-secret-env', 'S', '--no-cache', '--json']
  const apiToken = async () => server.mintUserToken({aud: server.resources.api, sub: 'alice'})

  function expectRefused(result: CliResult, name: string, address: string): void {
    expectExit(result, 3)
    const {error} = json(result)
    assert.equal(error.code, 'not_loopback')
    assert.match(error.message, new RegExp(`${name.replaceAll('.', '\\.')} resolves to .*${address.replaceAll('.', '\\.')}`))
    assert.ok(!result.stdout.includes(secret()) && !result.stderr.includes(secret()), 'the secret is not repeated')
  }

  describe('a localhost name is loopback only when every address it resolves to is loopback (the connection goes to that address)', () => {
    let stranger: Stranger
    before(async () => {
      stranger = await startStranger()
    })
    after(async () => {
      await stranger?.stop()
    })
    beforeEach(() => {
      stranger.requests.length = 0
    })

    it('http://evil.localhost resolving to another machine: token endpoint, discovery and call refused, exit 3, nothing sent there', async () => {
      const hosts = resolverEnv({'evil.localhost': [[stranger.address]]})
      const origin = `http://evil.localhost:${stranger.port}`
      const token = await runCli(tokenClient('--token-endpoint', `${origin}/token`), {env: {...hosts, S: secret()}})
      expectRefused(token, 'evil.localhost', stranger.address)
      const discovery = await runCli(tokenClient('--issuer', origin), {env: {...hosts, S: secret()}})
      expectRefused(discovery, 'evil.localhost', stranger.address)
      const call = await runCli(['call', `${origin}/echo`, '--token-env', 'T', '--json'], {env: {...hosts, T: await apiToken()}})
      expectExit(call, 3)
      assert.equal(json(call).error.code, 'not_loopback')
      assert.deepEqual(stranger.requests, [], 'the other machine received nothing (no secret, no bearer token)')
    })

    it('one non-loopback address among loopback ones is enough to refuse', async () => {
      const hosts = resolverEnv({'mixed.localhost': [['127.0.0.1', stranger.address]]})
      const result = await runCli(tokenClient('--token-endpoint', `http://mixed.localhost:${stranger.port}/token`), {env: {...hosts, S: secret()}})
      expectRefused(result, 'mixed.localhost', stranger.address)
      assert.deepEqual(stranger.requests, [])
    })

    it('a localhost name that does resolve to loopback works, for tokens and calls', async () => {
      const hosts = resolverEnv({'idp.localhost': [['127.0.0.1']], 'api.localhost': [['127.0.0.1']]})
      const token = await runCli(tokenClient('--token-endpoint', `http://idp.localhost:${portOf(server.issuer)}/token`), {env: {...hosts, S: secret()}})
      expectExit(token, 0)
      assert.equal(server.tokenRequests.length, 1)
      const call = await runCli(['call', `http://api.localhost:${portOf(api.url)}/echo`, '--token-env', 'T'], {env: {...hosts, T: await apiToken()}})
      expectExit(call, 0)
      assert.equal(api.requests.length, 1)
    })

    it('the address checked is the address connected to: a resolver that answers loopback, then elsewhere, is looked up once', async () => {
      const log = join(mkdtempSync(join(tmpdir(), 'tokenctl-lookups-')), 'lookups')
      const hosts = resolverEnv({'flip.localhost': [['127.0.0.1'], [stranger.address]]}, log)
      const call = await runCli(['call', `http://flip.localhost:${portOf(api.url)}/echo`, '--token-env', 'T'], {env: {...hosts, T: await apiToken()}})
      expectExit(call, 0)
      assert.equal(api.requests.length, 1, 'the API on 127.0.0.1 answered')
      assert.deepEqual(lookupsIn(log), ['flip.localhost'], 'one lookup: no second one between the check and the connection')
      assert.deepEqual(stranger.requests, [])
    })
  })

  describe("the GitHub Actions runner's token service is https, or http to loopback only", () => {
    let stranger: Stranger
    let proxy: TestProxy
    before(async () => {
      stranger = await startStranger()
    })
    after(async () => {
      await stranger?.stop()
    })
    useProxy((started) => {
      proxy = started
    })

    it('ACTIONS_ID_TOKEN_REQUEST_URL over plain http to another machine: refused before anything is sent, the request token included (directly or through a proxy)', async () => {
      const hosts = resolverEnv({'evil.localhost': [[stranger.address]], 'runner.tokenctl.test': [[stranger.address]]})
      const requestToken = 'runner-request-token-never-sent'
      const federated = ['token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'basic', '--federated-token-github', '--no-cache', '--json']
      const refusals: Array<[string, string]> = [
        [`http://${stranger.address}:${stranger.port}/idtoken?api-version=2.0`, 'insecure_url'],
        [`http://runner.tokenctl.test:${stranger.port}/idtoken?api-version=2.0`, 'insecure_url'],
        // A localhost name is loopback only when it resolves to loopback.
        [`http://evil.localhost:${stranger.port}/idtoken?api-version=2.0`, 'not_loopback'],
      ]
      for (const proxied of [{}, {HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url}]) {
        for (const [url, code] of refusals) {
          const env = {...hosts, ...proxied, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken, ACTIONS_ID_TOKEN_REQUEST_URL: url}
          const result = await runCli(federated, {env})
          expectExit(result, 3)
          assert.equal(json(result).error.code, code, url)
          assert.match(json(result).error.message, /ACTIONS_ID_TOKEN_REQUEST_URL|evil\.localhost resolves to/)
          assert.ok(!result.stdout.includes(requestToken) && !result.stderr.includes(requestToken), 'the request token is not repeated')
        }
      }

      assert.deepEqual(stranger.requests, [], 'the other machine received nothing')
      assert.deepEqual(proxy.handled(), [], 'the proxy saw nothing')
      assert.deepEqual(server.tokenRequests, [], "no token request was made without the runner's token")
    })
  })

  describe("loopback never goes through a proxy (as Go's net/http), localhost names included", () => {
    let proxy: TestProxy
    useProxy((started) => {
      proxy = started
    })

    it('HTTP_PROXY with NO_PROXY naming something else: the secret and the bearer token stay on loopback', async () => {
      const hosts = resolverEnv({'idp.localhost': [['127.0.0.1']]})
      const env = {...hosts, HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com'}
      const viaName = await runCli(tokenClient('--token-endpoint', `http://idp.localhost:${portOf(server.issuer)}/token`), {env: {...env, S: secret()}})
      expectExit(viaName, 0)
      const viaAddress = await runCli(tokenClient('--issuer', server.issuer), {env: {...env, S: secret()}})
      expectExit(viaAddress, 0)
      const call = await runCli(['call', `${api.url}/echo`, '--token-env', 'T'], {env: {...env, T: await apiToken()}})
      expectExit(call, 0)
      assert.deepEqual(proxy.handled(), [], 'the proxy saw nothing')
      assert.equal(server.tokenRequests.length, 2)
      assert.equal(api.requests.length, 1)
    })
  })

  describe('--timeout against a proxy that accepts the connection and never answers CONNECT', () => {
    let silent: SilentProxy
    before(async () => {
      silent = await startSilentProxy()
    })
    after(async () => {
      await silent?.stop()
    })

    /** Killed after 30 s: a command that needed killing hung, whatever it printed. */
    function expectTimedOutAndExited(result: CliResult): void {
      assert.equal(result.timedOut, false, `the process did not exit by itself\nstderr: ${result.stderr}`)
      expectExit(result, 6)
      assert.equal(json(result).error.code, 'timeout')
    }

    it('token client --timeout 3: exit 6, code timeout, and the process exits', async () => {
      const result = await runCli(tokenClient('--token-endpoint', 'https://auth.tokenctl.test/token', '--timeout', '3'), {
        env: {HTTPS_PROXY: silent.url, S: secret()},
        timeoutMs: 30_000,
      })
      expectTimedOutAndExited(result)
      assert.ok(silent.requestLines.includes('CONNECT auth.tokenctl.test:443 HTTP/1.1'), silent.requestLines.join('\n'))
    })

    it('call --timeout 3: exit 6, code timeout, and the process exits', async () => {
      const result = await runCli(['call', 'https://api.tokenctl.test/echo', '--token-env', 'T', '--timeout', '3', '--json'], {
        env: {HTTPS_PROXY: silent.url, T: await apiToken()},
        timeoutMs: 30_000,
      })
      expectTimedOutAndExited(result)
      assert.ok(silent.requestLines.includes('CONNECT api.tokenctl.test:443 HTTP/1.1'), silent.requestLines.join('\n'))
    })
  })

  describe('token user --browser: the browser gets neither our secrets nor our umask', () => {
    it('TOKENCTL_* and the variables named by --*-env flags are not in the environment of xdg-open', async () => {
      const directory = mkdtempSync(join(tmpdir(), 'tokenctl-browser-'))
      const record = join(directory, 'environment')
      // A fake xdg-open first on PATH: records its environment and umask, and opens nothing.
      const opener = join(directory, 'xdg-open')
      writeFileSync(opener, `#!/bin/sh\n{ env; echo "UMASK_SEEN=$(umask)"; } > "$RECORD.part" && mv "$RECORD.part" "$RECORD"\n`)
      chmodSync(opener, 0o755)
      const secrets = {
        MY_CLIENT_SECRET: 'secret-named-by-a-flag',
        TOKENCTL_CLIENT_SECRET: 'secret-in-tokenctl-client-secret',
        TOKENCTL_REDIS_PASSWORD: 'secret-redis-password',
        TOKENCTL_STORE_PASSPHRASE: 'secret-store-passphrase',
      }
      const child = startCli(['token', 'user', '--browser', '--issuer', server.issuer, '--client-id', 'cli', '--client-secret-env', 'MY_CLIENT_SECRET', '--scope', 'access_as_user'], {
        env: {...secrets, KEEP_ME: 'an ordinary variable', PATH: `${directory}:${process.env.PATH}`, RECORD: record, TOKENCTL_STORE: 'file'},
        umask: 0o022,
      })
      await waitFor(() => existsSync(record), 15_000)
      child.kill('SIGINT')
      const result = await child.result
      assert.ok(existsSync(record), `the browser was started\nstderr: ${result.stderr}`)
      const environment = readFileSync(record, 'utf8')
      for (const [name, value] of Object.entries(secrets)) {
        assert.ok(!environment.includes(value), `${name} reached the browser`)
        assert.doesNotMatch(environment, new RegExp(`^${name}=`, 'm'))
      }

      assert.match(environment, /^KEEP_ME=an ordinary variable$/m)
      assert.match(environment, /^UMASK_SEEN=0?022$/m, "the user's umask, not tokenctl's private one")
      expectExit(result, 130)
    })

    it('no browser at all when what stored clients read cannot be known (an unreadable config.json): the URL is printed instead', async () => {
      const directory = mkdtempSync(join(tmpdir(), 'tokenctl-browser-'))
      const record = join(directory, 'started')
      const opener = join(directory, 'browser')
      writeFileSync(opener, `#!/bin/sh\ntouch "${record}"\n`)
      chmodSync(opener, 0o755)
      const home = mkdtempSync(join(tmpdir(), 'tokenctl-home-'))
      writeFileSync(join(home, 'config.json'), 'not json', {mode: 0o600})
      const child = startCli(['token', 'user', '--browser', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user'], {
        env: {BROWSER: opener, TOKENCTL_STORE: 'file'},
        home,
      })
      await stderrMatch(child, /To sign in, open this URL in a browser:\n\S+/)
      child.kill('SIGINT')
      expectExit(await child.result, 130)
      assert.ok(!existsSync(record), 'the browser was not started')
    })
  })
})
