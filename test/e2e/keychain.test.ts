import {strict as assert} from 'node:assert'
import {readdirSync} from 'node:fs'

import {allFileContents, expectExit} from '../helpers/assertions.js'
import {type AuthServer, startAuthServer} from '../helpers/auth-server.js'
import {cliWithHome} from '../helpers/cli.js'
import {requireKeyring, type KeyringSession} from '../helpers/keyring.js'

describe('the OS keychain through the CLI (a real Secret Service)', function () {
  this.timeout(60_000)
  let keyring: KeyringSession
  let server: AuthServer
  let service: string

  before(async () => {
    keyring = await requireKeyring()
    server = await startAuthServer()
  })

  after(async () => {
    await server?.stop()
    await keyring?.stop()
  })

  let counter = 0
  /** Commands in one home, on the private Secret Service, with a service name of their own. */
  function cli() {
    service = `tokenctl-e2e-${process.pid}-${++counter}`
    return cliWithHome({env: {...keyring.env, TOKENCTL_KEYCHAIN_SERVICE: service}})
  }

  it('client add --client-secret-stdin puts the secret in the keychain, and nowhere under TOKENCTL_HOME', async () => {
    const run = cli()
    const secret = server.clients.basic.clientSecret!
    const add = await run.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: secret})
    expectExit(add, 0)
    const items = await keyring.secretToolSearch({service, username: 'client-secret:ci'})
    assert.equal(items.length, 1)
    assert.equal(items[0].secret, secret)
    assert.ok(!allFileContents(run.home).includes(secret))

    const show = await run.run(['client', 'show', 'ci', '--json'])
    expectExit(show, 0)
    assert.equal(JSON.parse(show.stdout).secret, 'stored')
    assert.ok(!show.stdout.includes(secret))

    const token = await run.run(['token', 'client', 'ci'])
    expectExit(token, 0)
    const cached = await keyring.secretToolSearch({service})
    const entry = cached.find((item) => item.attributes.username.startsWith('token:'))
    assert.ok(entry, 'the token is cached in the keychain')
    assert.equal(JSON.parse(entry.secret!).access_token, token.stdout.trim())
    assert.ok(!allFileContents(run.home).includes(token.stdout.trim()), 'no token in any file')
    assert.equal(JSON.parse((await run.run(['token', 'client', 'ci', '--json'])).stdout).token_source, 'cache')

    const removed = await run.run(['client', 'remove', 'ci'])
    expectExit(removed, 0)
    assert.deepEqual(await keyring.secretToolSearch({service, username: 'client-secret:ci'}), [])
    expectExit(await run.run(['client', 'show', 'ci']), 3)
  })

  it('store status says keychain, chosen by auto because it answers', async () => {
    const status = await cli().run(['store', 'status', '--json'])
    expectExit(status, 0)
    const json = JSON.parse(status.stdout)
    assert.equal(json.backend, 'keychain')
    assert.equal(json.ok, true)
    assert.match(json.reason, /auto.*answers/)
    assert.match(json.location, new RegExp(service))
  })

  it('TOKENCTL_STORE=keychain without a session bus is exit 7, never a silent fall back to the file store', async () => {
    const run = cliWithHome({env: {DBUS_SESSION_BUS_ADDRESS: undefined, TOKENCTL_STORE: 'keychain', TOKENCTL_STORE_PASSPHRASE: 'x', XDG_RUNTIME_DIR: undefined}})
    const result = await run.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin', '--json'], {input: 's'})
    expectExit(result, 7)
    assert.equal(JSON.parse(result.stdout).error.code, 'store_unavailable')
    assert.deepEqual(
      readdirSync(run.home).filter((name) => name.startsWith('store')),
      [],
      'no file store created',
    )
    const status = await run.run(['store', 'status'])
    expectExit(status, 7)
    assert.match(status.stdout, /backend: +keychain/)
  })

  it('auto falls back to the file store when no keychain answers and a passphrase is set, and says why', async () => {
    const run = cliWithHome({env: {DBUS_SESSION_BUS_ADDRESS: undefined, TOKENCTL_STORE_PASSPHRASE: 'x', XDG_RUNTIME_DIR: undefined}})
    const status = await run.run(['store', 'status', '--json'])
    expectExit(status, 0)
    const json = JSON.parse(status.stdout)
    assert.equal(json.backend, 'file')
    assert.match(json.reason, /no keychain answers \(no session bus/)
  })
})
