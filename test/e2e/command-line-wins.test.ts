/**
 * What the command line names, it gets (README, "Environment"): settings come in whole layers —
 * flags, then a named client, then TOKENCTL_* variables — and the server (issuer and token endpoint)
 * is one setting, taken from the first layer that names one. A variable left exported by an earlier
 * step names a server of its own here, which records whatever reaches it: a command line that names
 * another server must send it nothing, not even discovery.
 *
 * Each grant that takes the connection flags is tried (token client, through the fast path and
 * through oclif; token obo; token user --device), then each pair of layers, for the server and for
 * the client id. Empty values, the other half of the rule, are in first-hour.test.ts.
 */
import {strict as assert} from 'node:assert'

import {approveDevice} from '../../src/lib/devidp/robot.js'
import {expectExit} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {cliWithHome, stderrMatch} from '../helpers/cli.js'
import {type Stranger, startStranger} from '../helpers/stranger.js'

const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'command line wins'}

describe('what the command line names, it gets: no TOKENCTL_* variable sends anything to another server', function () {
  this.timeout(60_000)
  let server: AuthServer
  /** The server the variables (or a named client) name, and the command line does not. */
  let elsewhere: Stranger
  useAuthServer(
    (started) => {
      server = started
    },
    {deviceInterval: 1},
  )
  before(async () => {
    elsewhere = await startStranger()
  })
  after(async () => {
    await elsewhere?.stop()
  })
  beforeEach(() => {
    elsewhere.requests.length = 0
  })

  /** The variables the README's ephemeral-runner recipe exports, pointing elsewhere. */
  const elsewhereVariables = () => ({
    TOKENCTL_CLIENT_ID: 'nobody',
    TOKENCTL_ISSUER: `http://127.0.0.1:${elsewhere.port}`,
    TOKENCTL_TOKEN_ENDPOINT: `http://127.0.0.1:${elsewhere.port}/token`,
  })

  const nothingElsewhere = () =>
    assert.deepEqual(
      elsewhere.requests.map((request) => `${request.method} ${request.path}`),
      [],
      'the server the command line did not name got requests',
    )

  const clientIds = () => server.tokenRequests.map((request) => request.client_id)

  describe('the server named by a flag, another by the variables', () => {
    for (const [way, extra] of [
      ['the fast path', {}],
      ['oclif', {TOKENCTL_NO_FAST_PATH: '1'}],
    ] as const) {
      it(`token client --issuer (${way}): discovery and the secret go to that issuer only`, async () => {
        const cli = cliWithHome({env: {...FILE_STORE, ...elsewhereVariables(), ...extra, S: server.clients.basic.clientSecret}})
        const result = await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'S', '--no-cache'])
        expectExit(result, 0)
        nothingElsewhere()
        assert.deepEqual(clientIds(), ['basic'])
      })
    }

    it("token obo --issuer: the user's token and the secret go to that issuer only", async () => {
      const assertion = await server.mintUserToken({aud: server.clients.api.clientId, sub: 'alice'})
      const cli = cliWithHome({env: {...FILE_STORE, ...elsewhereVariables(), S: server.clients.api.clientSecret, U: assertion}})
      const result = await cli.run(['token', 'obo', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-env', 'S', '--assertion-env', 'U', '--scope', 'read', '--no-cache'])
      expectExit(result, 0)
      nothingElsewhere()
    })

    it('token user --device --issuer: the device code is polled at that issuer only', async () => {
      const cli = cliWithHome({env: {...FILE_STORE, ...elsewhereVariables()}})
      const child = cli.start(['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--device'])
      const [, verificationUri, userCode] = await stderrMatch(child, /open (\S+) and enter the code (\S+)/)
      await approveDevice(verificationUri, {login: 'alice', userCode})
      expectExit(await child.result, 0)
      nothingElsewhere()
      assert.ok(server.tokenRequests.some((request) => request.grant_type === 'urn:ietf:params:oauth:grant-type:device_code'))
    })
  })

  describe('each pair of layers, the server', () => {
    it("flag over named client: the client's token endpoint goes with its server", async () => {
      const cli = cliWithHome({env: FILE_STORE})
      const add = ['client', 'add', 'ci', '--token-endpoint', `http://127.0.0.1:${elsewhere.port}/token`, '--client-id', 'basic', '--client-secret-stdin']
      expectExit(await cli.run(add, {input: server.clients.basic.clientSecret}), 0)
      expectExit(await cli.run(['token', 'client', 'ci', '--issuer', server.issuer, '--no-cache']), 0)
      expectExit(await cli.run(['token', 'client', 'ci', '--token-endpoint', server.tokenEndpoint, '--no-cache']), 0)
      nothingElsewhere()
      assert.deepEqual(clientIds(), ['basic', 'basic'])
    })

    it('flag over variable: TOKENCTL_TOKEN_ENDPOINT does not replace the token endpoint of --issuer', async () => {
      // Only the token endpoint exported, as the README's ephemeral runner leaves it.
      const cli = cliWithHome({env: {...FILE_STORE, S: server.clients.basic.clientSecret, TOKENCTL_TOKEN_ENDPOINT: `http://127.0.0.1:${elsewhere.port}/token`}})
      expectExit(await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'S', '--no-cache']), 0)
      nothingElsewhere()
    })

    it("named client over variable: the client's server, whatever TOKENCTL_ISSUER and TOKENCTL_TOKEN_ENDPOINT say", async () => {
      const cli = cliWithHome({env: {...FILE_STORE, ...elsewhereVariables()}})
      expectExit(await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: server.clients.basic.clientSecret}), 0)
      expectExit(await cli.run(['token', 'client', 'ci', '--no-cache']), 0)
      nothingElsewhere()
      assert.deepEqual(clientIds(), ['basic'])
    })
  })

  describe('each pair of layers, the client id', () => {
    it('flag over named client', async () => {
      const cli = cliWithHome({env: FILE_STORE})
      expectExit(await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'nobody', '--client-secret-stdin'], {input: server.clients.basic.clientSecret}), 0)
      expectExit(await cli.run(['token', 'client', 'ci', '--client-id', 'basic', '--no-cache']), 0)
      assert.deepEqual(clientIds(), ['basic'])
    })

    it('flag over variable', async () => {
      const cli = cliWithHome({env: {...FILE_STORE, S: server.clients.basic.clientSecret, TOKENCTL_CLIENT_ID: 'nobody'}})
      expectExit(await cli.run(['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'S', '--no-cache']), 0)
      assert.deepEqual(clientIds(), ['basic'])
    })

    it('named client over variable', async () => {
      const cli = cliWithHome({env: {...FILE_STORE, TOKENCTL_CLIENT_ID: 'nobody'}})
      expectExit(await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: server.clients.basic.clientSecret}), 0)
      expectExit(await cli.run(['token', 'client', 'ci', '--no-cache']), 0)
      assert.deepEqual(clientIds(), ['basic'])
    })

    it('the variable when nothing on the command line names a client id', async () => {
      const cli = cliWithHome({env: {...FILE_STORE, S: server.clients.basic.clientSecret, TOKENCTL_CLIENT_ID: 'basic'}})
      expectExit(await cli.run(['token', 'client', '--issuer', server.issuer, '--client-secret-env', 'S', '--no-cache']), 0)
      assert.deepEqual(clientIds(), ['basic'])
    })
  })

  it("with nothing on the command line naming a server, the variables name it (the ephemeral runner's recipe)", async () => {
    const cli = cliWithHome({env: {...FILE_STORE, TOKENCTL_CLIENT_ID: 'basic', TOKENCTL_CLIENT_SECRET: server.clients.basic.clientSecret!, TOKENCTL_TOKEN_ENDPOINT: server.tokenEndpoint}})
    expectExit(await cli.run(['token', 'client', '--no-cache']), 0)
    assert.deepEqual(clientIds(), ['basic'])
  })
})
