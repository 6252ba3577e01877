/**
 * A token response may leave `scope` out when it is the scope asked for (RFC 6749 §5.1), as
 * Lemonldap::NG does for client credentials and every refresh (test/helpers/scope-omitting.ts in
 * front of the test server): tokenctl then reports the scope it asked for, never `"scope": null`, and
 * a session keeps it, so that a refresh asks again for what was granted.
 */
import {strict as assert} from 'node:assert'

import {expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {cliWithHome} from '../helpers/cli.js'
import {omitGrantedScope} from '../helpers/scope-omitting.js'

const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'scope omitted'}

describe('a server that leaves scope out of its answers (RFC 6749 §5.1, as Lemonldap::NG)', function () {
  this.timeout(60_000)
  let server: AuthServer
  let omitting: {readonly omitted: number}
  useAuthServer((started) => {
    server = started
    omitting = omitGrantedScope(started.provider)
  })

  it('client credentials: --json reports the scope asked for, from the server and from the cache', async () => {
    const cli = cliWithHome({env: {...FILE_STORE, S: server.clients.basic.clientSecret}})
    const args = ['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'S', '--scope', 'read write', '--json']
    const before = omitting.omitted
    const fetched = await cli.run(args)
    expectExit(fetched, 0)
    assert.equal(omitting.omitted, before + 1, 'the server said no scope')
    assert.equal(json(fetched).scope, 'read write')
    const cached = await cli.run(args)
    assert.equal(json(cached).token_source, 'cache')
    assert.equal(json(cached).scope, 'read write')
  })

  it("a session's refresh: --json reports the granted scope, and every refresh asks for it again", async () => {
    const userToken = await server.mintUserToken({aud: server.clients.api.clientId, sub: 'alice'})
    const cli = cliWithHome({env: {...FILE_STORE, S: server.clients.api.clientSecret, USER_TOKEN: userToken}})
    const start = ['session', 'start', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-env', 'S', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--key', 'k']
    expectExit(await cli.run(start), 0)
    for (let round = 0; round < 2; round++) {
      const before = omitting.omitted
      const refreshed = await cli.run(['session', 'refresh', '--key', 'k', '--force', '--json'])
      expectExit(refreshed, 0)
      assert.equal(omitting.omitted, before + 1, 'the server said no scope')
      assert.equal(json(refreshed).scope, 'read')
      assert.equal(server.tokenRequests.at(-1)!.grant_type, 'refresh_token')
      assert.equal(server.tokenRequests.at(-1)!.params.scope, 'read', 'what was granted, asked for again')
    }

    const cached = await cli.run(['session', 'refresh', '--key', 'k', '--json'])
    assert.equal(json(cached).token_source, 'cache')
    assert.equal(json(cached).scope, 'read')
  })
})
