/**
 * Keycloak from the command line, against a server as strict as Keycloak 26's standard token
 * exchange (test/helpers/keycloak-strict.ts; https://www.keycloak.org/securing-apps/token-exchange):
 * long-running sessions over token exchange (a refresh token only when asked for by
 * requested_token_type, RFC 8693 §2.2.1's issued_token_type read as written), repeated audiences,
 * and a 403 access_denied that is the server's refusal (exit 4), not a sign-in to redo.
 */
import {strict as assert} from 'node:assert'

import {decodeJwt} from 'jose'

import {allFileContents, expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {cliWithHome} from '../helpers/cli.js'
import {type KeycloakServer, useKeycloakServer} from '../helpers/keycloak-strict.js'
import {type KeyringSession, requireKeyring} from '../helpers/keyring.js'

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const REFRESH_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token'
const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'keycloak e2e'}

/** Web APIs of the realm, one per "Allow refresh token in Standard Token Exchange" (and the RFC 8693 shape). */
const CLIENTS = {
  /** "Same session": a refresh token with the access token, when asked for by type. */
  sameSession: {audiences: ['downstream', 'reports'], clientId: 'report-api', refreshInExchange: 'same-session', scopes: ['read'], secret: 'report-api-secret'},
  /** The refresh token alone, in access_token (issued_token_type refresh_token). */
  inAccessToken: {audiences: ['downstream', 'reports'], clientId: 'rfc-api', refreshInExchange: 'in-access-token', scopes: ['read'], secret: 'rfc-api-secret'},
  /** "No", Keycloak's default: never a refresh token from an exchange. */
  never: {clientId: 'plain-api', scopes: ['read'], secret: 'plain-api-secret'},
  /** Allowed to exchange, but not in the user token's audience. */
  outsider: {clientId: 'outsider-api', refreshInExchange: 'same-session', scopes: ['read'], secret: 'outsider-api-secret'},
} as const

describe("Keycloak (end to end, a server as strict as Keycloak 26's standard token exchange)", function () {
  this.timeout(120_000)
  let server: KeycloakServer
  useKeycloakServer(
    (started) => {
      server = started
    },
    {clients: [...Object.values(CLIENTS), {clientId: 'frontend'}, {clientId: 'downstream', secret: 'd'}, {clientId: 'reports', secret: 'r'}]},
  )

  /** A user's token as the realm issues it to the front end: its audience names the web APIs (an audience mapper). */
  const userToken = () => server.mintUserToken({aud: [CLIENTS.sameSession.clientId, CLIENTS.inAccessToken.clientId, CLIENTS.never.clientId], sub: 'alice'})

  /** A home with the web API added as client "api" (its secret in the store), and the user's token in USER_TOKEN. */
  async function webApi(client: {clientId: string; secret: string}, env: Record<string, string | undefined> = FILE_STORE, ...extra: string[]) {
    const cli = cliWithHome({env: {...env, USER_TOKEN: await userToken()}})
    const add = await cli.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', client.clientId, '--client-secret-stdin', ...extra], {input: client.secret})
    expectExit(add, 0)
    return cli
  }

  const exchanges = () => server.tokenRequests.filter((request) => request.grant_type === EXCHANGE)

  for (const store of ['file store', 'keychain'] as const) {
    describe(`a session over token exchange refreshes with --key alone (${store})`, () => {
      let keyring: KeyringSession | undefined
      let env: Record<string, string | undefined> = FILE_STORE
      const service = `tokenctl-e2e-keycloak-${process.pid}`
      before(async () => {
        if (store !== 'keychain') return
        keyring = await requireKeyring()
        env = {...keyring.env, TOKENCTL_KEYCHAIN_SERVICE: service, TOKENCTL_STORE: 'keychain'}
      })
      after(async () => {
        await keyring?.stop()
      })

      const cases = [
        {client: CLIENTS.sameSession, what: 'asked once more by requested_token_type, Keycloak answers both tokens'},
        {client: CLIENTS.inAccessToken, what: 'the refresh token alone in access_token (RFC 8693 §2.2.1): the access token comes from redeeming it'},
      ]
      for (const {client, what} of cases) {
        it(`${client.clientId}: ${what}`, async () => {
          const cli = await webApi(client, env, '--audience', 'downstream', '--audience', 'reports')
          const started = await cli.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--key', 'nightly', '--json'])
          expectExit(started, 0)
          const [first, second, ...more] = exchanges()
          assert.equal(exchanges().length, 2)
          assert.equal(first.params.scope, 'read offline_access', 'the first request asks with offline_access')
          assert.equal(first.params.requested_token_type, undefined)
          assert.equal(first.answer?.refresh_token, undefined, 'and gets no refresh token')
          assert.equal(second.params.requested_token_type, REFRESH_TOKEN_TYPE)
          assert.equal(second.params.scope, 'read', 'Keycloak refuses offline_access with requested_token_type refresh_token')
          for (const request of [first, second]) assert.deepEqual(request.params.audience, ['downstream', 'reports'], 'both audiences, each its own parameter')
          assert.deepEqual(more, [])
          const redemptions = server.tokenRequests.filter((request) => request.grant_type === 'refresh_token')
          assert.equal(redemptions.length, client === CLIENTS.inAccessToken ? 1 : 0)
          const session = json(started)
          assert.equal(session.session_key, 'nightly')
          assert.equal(session.flavor, 'rfc8693')
          assert.equal(session.scope, 'read profile email', 'the scope the server granted')
          assert.deepEqual(decodeJwt(session.access_token).aud, ['downstream', 'reports'])
          assert.equal(decodeJwt(session.access_token).sub, 'alice')
          if (store === 'keychain') {
            const [item] = await keyring!.secretToolSearch({service, username: 'session:nightly'})
            assert.ok(item, 'the session is in the keychain')
          }

          server.resetCounters()
          for (let round = 0; round < 2; round++) {
            const cron = await cli.run(['session', 'refresh', '--key', 'nightly', '--force', '--json'], {env: {USER_TOKEN: undefined}})
            expectExit(cron, 0)
            assert.equal(json(cron).token_source, 'identity_provider')
            assert.equal(decodeJwt(json(cron).access_token).sub, 'alice')
          }

          assert.deepEqual(
            server.tokenRequests.map((request) => [request.grant_type, request.params.scope, request.status]),
            [
              ['refresh_token', 'read profile email', 200],
              ['refresh_token', 'read profile email', 200],
            ],
            'each refresh asks for what was granted, with the rotated refresh token',
          )
          assert.equal(server.reuseDetected, 0)
          const refreshToken = String(server.tokenRequests.at(-1)!.params.refresh_token)
          assert.ok(!allFileContents(cli.home).includes(refreshToken), 'the refresh token is in no file in the clear')
          expectExit(await cli.run(['session', 'end', '--key', 'nightly']), 0)
        })
      }
    })
  }

  it("a client not allowed refresh tokens in token exchange: exit 4 no_refresh_token, the server's words, and the Keycloak setting that allows it", async () => {
    const cli = await webApi(CLIENTS.never)
    const result = await cli.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--key', 'k', '--json'])
    expectExit(result, 4)
    const {error} = json(result)
    assert.equal(error.code, 'no_refresh_token')
    assert.equal(error.status, 400)
    assert.match(error.message, /asked for one by requested_token_type, it answered invalid_request: requested_token_type unsupported/)
    assert.match(error.hint, /"Allow refresh token in Standard Token Exchange" to "Same session"/)
    assert.equal(exchanges().length, 2)
    assert.deepEqual(json(await cli.run(['session', 'list', '--json'])), [])
    const human = await cli.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--key', 'k'])
    expectExit(human, 4)
    assert.equal(human.stderr.trim().split('\n').length, 1, human.stderr)
  })

  it('access_denied from an exchange (the client is not in the token\'s audience, 403) is exit 4 with the server\'s words, never "sign in again"', async () => {
    const cli = await webApi(CLIENTS.outsider)
    for (const command of [
      ['token', 'obo'],
      ['session', 'start'],
    ]) {
      const result = await cli.run([...command, 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--json'])
      expectExit(result, 4)
      const {error} = json(result)
      assert.equal(error.code, 'access_denied', command.join(' '))
      assert.equal(error.status, 403)
      assert.equal(error.message, 'the authorization server refused the request (access_denied: Client is not within the token audience)')
      assert.doesNotMatch(error.hint, /sign in again to continue/)
      assert.match(error.hint, /must be in the user token's audience \(aud\)/)
    }

    const human = await cli.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read'])
    expectExit(human, 4)
    assert.match(human.stderr, /Client is not within the token audience/)
    assert.doesNotMatch(human.stderr, /re-authentication/)
  })

  it('--audience repeats: each one sent, the token narrowed to them, one cache entry whatever their order', async () => {
    const cli = await webApi(CLIENTS.sameSession)
    const obo = (...audiences: string[]) => cli.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', ...audiences.flatMap((audience) => ['--audience', audience]), '--json'])
    const first = await obo('reports', 'downstream')
    expectExit(first, 0)
    assert.deepEqual(exchanges()[0].params.audience, ['reports', 'downstream'])
    assert.deepEqual(decodeJwt(json(first).access_token).aud, ['reports', 'downstream'])
    const again = await obo('downstream', 'reports')
    assert.equal(json(again).token_source, 'cache')
    assert.equal(exchanges().length, 1)
    assert.equal(json(await obo('reports')).token_source, 'identity_provider', 'fewer audiences: another token')
    const unavailable = await obo('reports', 'plain-api')
    expectExit(unavailable, 4)
    assert.equal(json(unavailable).error.message, 'the authorization server refused the request (invalid_request: Requested audience not available: plain-api)')

    const named = await webApi(CLIENTS.sameSession, FILE_STORE, '--audience', 'reports', '--audience', 'downstream')
    assert.deepEqual(json(await named.run(['client', 'show', 'api', '--json'])).audience, ['reports', 'downstream'])
    expectExit(await named.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read']), 0)
    assert.deepEqual(exchanges().at(-1)!.params.audience, ['reports', 'downstream'], 'kept with the named client')
    expectExit(await named.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--audience', 'downstream']), 0)
    assert.equal(exchanges().at(-1)!.params.audience, 'downstream', "the command line's audiences replace the client's")
  })
})
