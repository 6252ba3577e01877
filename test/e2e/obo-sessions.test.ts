import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {decodeJwt} from 'jose'

import {JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT} from '../../src/lib/oauth/urns.js'
import {FileStore} from '../../src/lib/store/file-store.js'
import {allFileContents, expectExit, stdoutJson as json, waitFor} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {cliWithHome} from '../helpers/cli.js'
import {requireKeyring, type KeyringSession} from '../helpers/keyring.js'

const PASSPHRASE = 'correct horse battery staple'
const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}
const CLAIMS = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'

const sha256 = (text: string) => createHash('sha256').update(text).digest()

/**
 * A web API registered without the refresh_token grant: the server then answers its OBO exchanges,
 * offline_access included, with no refresh token (as a server does for a client not allowed one).
 */
const NO_REFRESH_CLIENT = {
  client_id: 'api-no-refresh',
  client_secret: 'api-no-refresh-secret',
  grant_types: ['client_credentials', JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_basic',
}

/** The session record as the file store keeps it, decrypted the way tokenctl does. */
async function storedSession(home: string, key: string): Promise<{refresh_token: string; status: string}> {
  const previous = process.env.TOKENCTL_HOME
  process.env.TOKENCTL_HOME = home
  try {
    const text = await new FileStore({passphrase: PASSPHRASE}).get(`session:${key}`)
    assert.ok(text, `session ${key} is stored`)
    return JSON.parse(text)
  } finally {
    if (previous === undefined) delete process.env.TOKENCTL_HOME
    else process.env.TOKENCTL_HOME = previous
  }
}

describe('on-behalf-of and long-running sessions (end to end, real authorization server)', function () {
  this.timeout(90_000)
  let server: AuthServer
  useAuthServer(
    (started) => {
      server = started
    },
    {extraClients: [NO_REFRESH_CLIENT]},
  )

  /** The refresh token redeemed at the server by the web API itself: dead once revoked (RFC 7009 answers 200 either way). */
  async function redeemAtServer(refreshToken: string): Promise<{error?: string; status: number}> {
    const {clientId, clientSecret} = server.clients.api
    const response = await fetch(server.tokenEndpoint, {
      body: new URLSearchParams({grant_type: 'refresh_token', refresh_token: refreshToken}),
      headers: {authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`},
      method: 'POST',
    })
    const body = (await response.json()) as {error?: string}
    return {status: response.status, ...(body.error === undefined ? {} : {error: body.error})}
  }

  /** A home with the web API's client "api" added, and the user's token in USER_TOKEN. */
  async function webApi(options: {env?: Record<string, string>; sub?: string} = {}) {
    const userToken = await server.mintUserToken({aud: server.clients.api.clientId, sub: options.sub ?? 'alice'})
    const cli = cliWithHome({env: {...FILE_STORE, USER_TOKEN: userToken, ...options.env}})
    const add = await cli.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {
      input: server.clients.api.clientSecret,
    })
    expectExit(add, 0)
    return {cli, userToken}
  }

  describe('token obo', () => {
    it('exchanges in both flavors: rfc8693 detected from the metadata, entra on request; the second call is the cache', async () => {
      const {cli, userToken} = await webApi()
      const detected = await cli.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--json'])
      expectExit(detected, 0)
      assert.equal(json(detected).flavor, 'rfc8693')
      assert.equal(json(detected).token_source, 'identity_provider')
      assert.equal(decodeJwt(json(detected).access_token).sub, 'alice')
      const exchange = server.tokenRequests.at(-1)!
      assert.equal(exchange.grant_type, 'urn:ietf:params:oauth:grant-type:token-exchange')
      assert.equal(exchange.params.subject_token, userToken)
      assert.equal(exchange.params.subject_token_type, 'urn:ietf:params:oauth:token-type:access_token')

      const entra = await cli.run(['token', 'obo', 'api', '--assertion-stdin', '--scope', 'write', '--flavor', 'entra', '--json'], {input: `${userToken}\n`})
      expectExit(entra, 0)
      assert.equal(json(entra).flavor, 'entra')
      const jwtBearer = server.tokenRequests.at(-1)!
      assert.equal(jwtBearer.grant_type, 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      assert.equal(jwtBearer.params.requested_token_use, 'on_behalf_of')
      assert.equal(jwtBearer.params.assertion, userToken)

      const again = await cli.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--json'])
      assert.equal(json(again).token_source, 'cache')
      assert.equal(json(again).access_token, json(detected).access_token)
      assert.equal(json(again).flavor, 'rfc8693')
      assert.equal(server.tokenRequests.length, 2)

      const bob = await server.mintUserToken({aud: 'api', sub: 'bob'})
      const other = await cli.run(['token', 'obo', 'api', '--assertion-env', 'BOB', '--scope', 'read', '--json'], {env: {BOB: bob}})
      assert.equal(json(other).token_source, 'identity_provider', 'another assertion is another cache entry')
      assert.equal(decodeJwt(json(other).access_token).sub, 'bob')
      assert.ok(!allFileContents(cli.home).includes(userToken), 'the assertion is in no file')
    })

    it('an assertion for another audience is refused (exit 4) in both flavors', async () => {
      const {cli} = await webApi()
      const elsewhere = await server.mintUserToken({aud: 'some-other-api', sub: 'alice'})
      for (const flavor of ['entra', 'rfc8693']) {
        const result = await cli.run(['token', 'obo', 'api', '--assertion-env', 'T', '--scope', 'read', '--flavor', flavor, '--json'], {env: {T: elsewhere}})
        expectExit(result, 4)
        assert.match(json(result).error.code, /invalid_(grant|request)/)
      }
    })

    it('consent or interaction required is exit 5, with the claims challenge in --json and on stderr', async () => {
      const {cli} = await webApi()
      server.injectTokenFaults({
        body: {error: 'invalid_grant', error_codes: [65001], error_description: 'AADSTS65001: The user or administrator has not consented.', suberror: 'consent_required'},
        status: 400,
      })
      const consent = await cli.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--flavor', 'entra', '--json'])
      expectExit(consent, 5)
      assert.equal(json(consent).error.suberror, 'consent_required')
      assert.deepEqual(json(consent).error.error_codes, [65001])
      assert.match(json(consent).error.hint, /consent/)

      const mfa = {
        body: {claims: CLAIMS, correlation_id: 'corr-1', error: 'interaction_required', error_codes: [50076], error_description: 'AADSTS50076: MFA required', trace_id: 'trace-1'},
        status: 400,
      }
      server.injectTokenFaults(mfa, mfa)
      const asJson = await cli.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--flavor', 'entra', '--json'])
      expectExit(asJson, 5)
      assert.equal(json(asJson).error.claims, CLAIMS)
      assert.equal(json(asJson).error.correlation_id, 'corr-1')
      assert.equal(json(asJson).error.trace_id, 'trace-1')
      const human = await cli.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--flavor', 'entra'])
      expectExit(human, 5)
      assert.ok(human.stderr.includes(CLAIMS), human.stderr)
    })

    it('needs an assertion source, never a literal, and traces without it', async () => {
      const {cli, userToken} = await webApi()
      expectExit(await cli.run(['token', 'obo', 'api', '--scope', 'read']), 2)
      const literal = await cli.run(['token', 'obo', 'api', '--assertion', userToken, '--scope', 'read'])
      expectExit(literal, 2)
      assert.ok(!literal.stderr.includes(userToken))
      // The advice fits the flag given: the assertion's own sources, not the client secret's.
      assert.match(literal.stderr, /secrets are never taken as flag values: --assertion .*--assertion-env VAR, --assertion-stdin or --assertion-file PATH/)
      assert.doesNotMatch(literal.stderr, /client-secret/)
      const literalJson = await cli.run(['token', 'obo', 'api', '--assertion', userToken, '--scope', 'read', '--json'])
      expectExit(literalJson, 2)
      assert.equal(json(literalJson).error.code, 'secret_on_command_line')
      assert.ok(!literalJson.stdout.includes(userToken))
      expectExit(await cli.run(['token', 'obo', 'api', '--assertion-stdin', '--scope', 'read'], {input: ''}), 2)
      const traced = await cli.run(['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--verbose', '--no-cache'])
      expectExit(traced, 0)
      assert.ok(!traced.stderr.includes(userToken), 'no assertion in the trace')
      assert.ok(!traced.stderr.includes(traced.stdout.trim()), 'no whole token in the trace')
      assert.match(traced.stderr, /subject_token=<redacted>/)
    })
  })

  describe('session start', () => {
    it('without --key allocates base64url(SHA-256(assertion)) and prints it; starting again replaces it', async () => {
      const {cli, userToken} = await webApi()
      const started = await cli.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read'])
      expectExit(started, 0)
      const key = sha256(userToken).toString('base64url')
      assert.equal(started.stdout, `${key}\n`)
      assert.ok(!key.includes('='))
      const exchange = server.tokenRequests.at(-1)!
      assert.match(String(exchange.params.scope), /\boffline_access\b/)

      const again = await cli.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--json'])
      expectExit(again, 0)
      assert.equal(json(again).session_key, key)
      assert.equal(json(again).token_source, 'identity_provider')
      assert.equal(json(again).client, 'api')
      assert.equal(json(await cli.run(['session', 'list', '--json'])).length, 1)
    })

    it('uses --key as given; an existing explicit key is exit 3 unless --replace; a bad key is exit 2', async () => {
      const {cli} = await webApi()
      const start = (...extra: string[]) => cli.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', ...extra])
      const first = await start('--key', 'nightly-report')
      expectExit(first, 0)
      assert.equal(first.stdout, 'nightly-report\n')
      const requests = server.tokenRequests.length
      const taken = await start('--key', 'nightly-report', '--json')
      expectExit(taken, 3)
      assert.equal(json(taken).error.code, 'session_exists')
      assert.equal(server.tokenRequests.length, requests, 'refused before any request')
      expectExit(await start('--key', 'nightly-report', '--replace'), 0)
      for (const bad of ['a b/c', '', 'x'.repeat(129)]) {
        const result = await start('--key', bad)
        expectExit(result, 2)
      }
    })

    it('without a refresh token in the response there is no session: exit 4 no_refresh_token', async () => {
      // The real server answers, 200 with an access token and no refresh token: this client may not have one.
      const userToken = await server.mintUserToken({aud: NO_REFRESH_CLIENT.client_id, sub: 'carol'})
      const cli = cliWithHome({env: {...FILE_STORE, USER_TOKEN: userToken}})
      const add = await cli.run(['client', 'add', 'noref', '--issuer', server.issuer, '--client-id', NO_REFRESH_CLIENT.client_id, '--client-secret-stdin'], {
        input: NO_REFRESH_CLIENT.client_secret,
      })
      expectExit(add, 0)
      const result = await cli.run(['session', 'start', 'noref', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--key', 'k', '--json'])
      expectExit(result, 4)
      assert.equal(json(result).error.code, 'no_refresh_token')
      assert.match(json(result).error.hint, /offline_access/)
      // Asked twice: with offline_access, then (token exchange) by requested_token_type, which this server refuses.
      const [first, second] = server.tokenRequests
      assert.equal(server.tokenRequests.length, 2)
      assert.equal(first.fault, undefined, 'answered by the server itself')
      assert.match(String(first.params.scope), /\boffline_access\b/, 'a refresh token was asked for')
      assert.equal(second.params.requested_token_type, 'urn:ietf:params:oauth:token-type:refresh_token')
      assert.match(json(result).error.message, /asked for one by requested_token_type, it answered invalid_request: requested_token_type must be/)
      expectExit(await cli.run(['session', 'show', '--key', 'k']), 3)
      assert.deepEqual(json(await cli.run(['session', 'list', '--json'])), [])
    })
  })

  describe('session refresh', () => {
    async function startedSession(key = 'nightly-report', sub = 'alice') {
      const api = await webApi({sub})
      expectExit(await api.cli.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--key', key]), 0)
      server.resetCounters()
      return api
    }

    it('returns the stored token, then after expiry a new one through the rotated refresh token, each refresh token used once', async () => {
      const {cli} = await startedSession()
      const cached = await cli.run(['session', 'refresh', '--key', 'nightly-report', '--json'])
      expectExit(cached, 0)
      assert.equal(json(cached).token_source, 'cache')
      assert.equal(json(cached).session_key, 'nightly-report')
      assert.equal(server.tokenRequests.length, 0)

      const tokens = new Set<string>()
      const refreshTokens = new Set<string>()
      for (let round = 0; round < 3; round++) {
        // --min-ttl beyond the token's 3600 s: the stored token counts as expired.
        const refreshed = await cli.run(['session', 'refresh', '--key', 'nightly-report', '--min-ttl', '4000', '--json'])
        expectExit(refreshed, 0)
        assert.equal(json(refreshed).token_source, 'identity_provider')
        tokens.add(json(refreshed).access_token)
        refreshTokens.add((await storedSession(cli.home, 'nightly-report')).refresh_token)
      }

      assert.equal(tokens.size, 3)
      assert.equal(refreshTokens.size, 3, 'the refresh token rotated every time and was stored')
      assert.equal(server.refreshTokenUses.length, 3)
      assert.ok(server.refreshTokenUses.every((use) => !use.alreadyUsed && use.status === 200))
      assert.equal(new Set(server.refreshTokenUses.map((use) => use.sha256)).size, 3, 'every refresh token presented once')
      assert.equal(server.reuseDetected, 0)

      const show = json(await cli.run(['session', 'show', '--key', 'nightly-report', '--json']))
      assert.equal(show.status, 'active')
      assert.equal(show.refresh_count, 3)
      assert.ok(Date.now() - Date.parse(show.last_refreshed_at) < 60_000, `last_refreshed_at ${show.last_refreshed_at} is the last refresh's time`)
      assert.ok(!JSON.stringify(show).includes(json(cached).access_token))
    })

    it('an Entra-flavor session (jwt-bearer with offline_access) refreshes the same way', async () => {
      const {cli} = await webApi({sub: 'erin'})
      const start = await cli.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--flavor', 'entra', '--key', 'entra', '--json'])
      expectExit(start, 0)
      assert.equal(json(start).flavor, 'entra')
      const obo = server.tokenRequests.at(-1)!
      assert.equal(obo.grant_type, 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      assert.equal(obo.params.scope, 'read offline_access')
      const refreshed = await cli.run(['session', 'refresh', '--key', 'entra', '--force', '--json'])
      expectExit(refreshed, 0)
      assert.equal(server.tokenRequests.at(-1)!.grant_type, 'refresh_token')
      // RFC 6749 §6: the scope the server granted (its response said `read`), not an offline_access it did not list.
      assert.equal(server.tokenRequests.at(-1)!.params.scope, 'read')
      assert.equal(decodeJwt(json(refreshed).access_token).sub, 'erin')
    })

    it('20 concurrent --force refreshes: all exit 0, no refresh token presented twice, the grant alive afterwards', async () => {
      const {cli} = await startedSession()
      const runs = Array.from({length: 20}, () => cli.start(['session', 'refresh', '--key', 'nightly-report', '--force'], {timeoutMs: 60_000}))
      const results = await Promise.all(runs.map((run) => run.result))
      for (const result of results) expectExit(result, 0)
      assert.equal(server.reuseDetected, 0)
      assert.ok(server.refreshTokenUses.length >= 1)
      assert.ok(server.refreshTokenUses.every((use) => use.status === 200))
      const after = await cli.run(['session', 'refresh', '--key', 'nightly-report', '--force', '--json'])
      expectExit(after, 0)
      assert.equal(json(after).token_source, 'identity_provider')
      assert.equal(server.reuseDetected, 0)
    })

    it('a grant revoked at the server: exit 5, needs_reauthentication kept until session end, which revokes', async () => {
      const {cli} = await startedSession()
      assert.ok((await server.revokeAllGrants('alice')) > 0)
      const dead = await cli.run(['session', 'refresh', '--key', 'nightly-report', '--force', '--json'])
      expectExit(dead, 5)
      assert.equal(json(dead).error.code, 'invalid_grant')
      const show = json(await cli.run(['session', 'show', '--key', 'nightly-report', '--json']))
      assert.equal(show.status, 'needs_reauthentication')
      assert.equal(show.reauthentication.error, 'invalid_grant')
      assert.ok(Date.parse(show.reauthentication.at) > Date.now() - 60_000)
      assert.equal(json(await cli.run(['session', 'list', '--json']))[0].status, 'needs_reauthentication')

      const requests = server.tokenRequests.length
      const stillDead = await cli.run(['session', 'refresh', '--key', 'nightly-report'])
      expectExit(stillDead, 5)
      assert.match(stillDead.stderr, /sign in again/)
      assert.equal(server.tokenRequests.length, requests, 'a dead session is not sent to the server again')

      const ended = await cli.run(['session', 'end', '--key', 'nightly-report', '--json'])
      expectExit(ended, 0)
      assert.equal(json(ended).revocation, 'revoked')
      expectExit(await cli.run(['session', 'show', '--key', 'nightly-report']), 3)
      assert.deepEqual(json(await cli.run(['session', 'list', '--json'])), [])
    })

    it('session end revokes the refresh token at the server (RFC 7009), and --no-revoke does not', async () => {
      const {cli} = await startedSession()
      const stored = await storedSession(cli.home, 'nightly-report')
      const ended = await cli.run(['session', 'end', '--key', 'nightly-report'])
      expectExit(ended, 0)
      assert.equal(server.revocations.length, 1)
      assert.equal(server.revocations[0].sha256, sha256(stored.refresh_token).toString('hex'))
      assert.equal(server.revocations[0].token_type_hint, 'refresh_token')
      assert.equal(server.revocations[0].status, 200)
      assert.match(ended.stderr, /revoked/)
      assert.deepEqual(await redeemAtServer(stored.refresh_token), {error: 'invalid_grant', status: 400}, 'the refresh token is dead at the server')
      expectExit(await cli.run(['session', 'end', '--key', 'nightly-report']), 3)

      const second = await startedSession('other', 'dave')
      const kept = await storedSession(second.cli.home, 'other')
      expectExit(await second.cli.run(['session', 'end', '--key', 'other', '--no-revoke']), 0)
      assert.equal(server.revocations.length, 0)
      assert.equal((await redeemAtServer(kept.refresh_token)).status, 200, '--no-revoke left it alive at the server')
    })

    it('a failed revocation is a warning: the local session is removed all the same', async () => {
      const {cli} = await startedSession()
      await server.goDown()
      try {
        const ended = await cli.run(['session', 'end', '--key', 'nightly-report', '--timeout', '2'])
        expectExit(ended, 0)
        assert.match(ended.stderr, /warning: the refresh token was not revoked/)
      } finally {
        await server.comeBack()
      }

      expectExit(await cli.run(['session', 'show', '--key', 'nightly-report']), 3)
    })

    it('server down, 503 or hanging: exit 6 with the stored session byte for byte unchanged, and a later refresh works', async () => {
      const {cli} = await startedSession()
      const store = join(cli.home, 'store.enc')
      const before = readFileSync(store)
      const refresh = (...extra: string[]) => cli.run(['session', 'refresh', '--key', 'nightly-report', '--force', '--json', ...extra])

      await server.goDown()
      let result
      try {
        result = await refresh('--timeout', '2')
      } finally {
        await server.comeBack()
      }

      expectExit(result, 6)
      assert.equal(json(result).error.code, 'network_error')
      assert.ok(readFileSync(store).equals(before), 'down: unchanged')

      server.injectTokenFaults({status: 503}, {status: 503}, {status: 503}, {status: 503})
      result = await refresh()
      expectExit(result, 6)
      assert.ok(readFileSync(store).equals(before), '503: unchanged')

      server.injectTokenFaults({hang: true})
      result = await refresh('--timeout', '2')
      expectExit(result, 6)
      assert.equal(json(result).error.code, 'timeout')
      assert.ok(readFileSync(store).equals(before), 'hanging: unchanged')

      const later = await refresh()
      expectExit(later, 0)
      assert.equal(json(later).token_source, 'identity_provider')
      assert.equal(server.reuseDetected, 0)
    })

    it('kill -9 of a refresh in flight leaves a session that refreshes afterwards', async () => {
      const {cli} = await startedSession()
      server.injectTokenFaults({delayMs: 3000})
      const victim = cli.start(['session', 'refresh', '--key', 'nightly-report', '--force'])
      await waitFor(() => server.tokenRequests.length > 0)

      assert.equal(server.tokenRequests.length, 1, 'the refresh is in flight')
      victim.kill('SIGKILL')
      await victim.result
      const after = await cli.run(['session', 'refresh', '--key', 'nightly-report', '--force', '--json'])
      expectExit(after, 0)
      assert.equal(json(after).token_source, 'identity_provider')
      assert.equal(server.reuseDetected, 0)
    })

    it('remembers its client: a cron job needs only --key (the secret from the store)', async () => {
      const {cli} = await startedSession()
      const cron = await cli.run(['session', 'refresh', '--key', 'nightly-report', '--force', '--format', 'header'], {env: {USER_TOKEN: undefined}})
      expectExit(cron, 0)
      assert.match(cron.stdout, /^Authorization: Bearer [\w-]+\.[\w-]+\.[\w-]+\n$/)
      expectExit(await cli.run(['session', 'refresh', '--key', 'no-such-session']), 3)
      expectExit(await cli.run(['session', 'refresh', '--key', 'a b']), 2)
    })

    it('with the file store, the refresh token exists only inside the encrypted file', async () => {
      const {cli} = await startedSession()
      const {refresh_token: refreshToken} = await storedSession(cli.home, 'nightly-report')
      assert.ok(refreshToken.length > 10)
      assert.ok(!allFileContents(cli.home).includes(refreshToken))
      const list = await cli.run(['session', 'list', '--json'])
      assert.ok(!list.stdout.includes(refreshToken))
    })
  })

  describe('with the OS keychain', () => {
    let keyring: KeyringSession
    before(async () => {
      keyring = await requireKeyring()
    })
    after(async () => {
      await keyring?.stop()
    })

    it('keeps the refresh token in the keychain (secret-tool finds it) and in no file under TOKENCTL_HOME', async () => {
      const service = `tokenctl-e2e-sessions-${process.pid}`
      const {cli} = await webApi({env: {...keyring.env, TOKENCTL_KEYCHAIN_SERVICE: service, TOKENCTL_STORE: 'auto', TOKENCTL_STORE_PASSPHRASE: ''}})
      expectExit(await cli.run(['session', 'start', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--key', 'k']), 0)
      const [item] = await keyring.secretToolSearch({service, username: 'session:k'})
      assert.ok(item, 'the session is in the keychain')
      const refreshToken = JSON.parse(item.secret!).refresh_token as string
      assert.ok(refreshToken.length > 10)
      assert.ok(!allFileContents(cli.home).includes(refreshToken))
      expectExit(await cli.run(['session', 'refresh', '--key', 'k', '--force']), 0)
      const [rotated] = await keyring.secretToolSearch({service, username: 'session:k'})
      assert.notEqual(JSON.parse(rotated.secret!).refresh_token, refreshToken)
      expectExit(await cli.run(['session', 'end', '--key', 'k']), 0)
      assert.deepEqual(await keyring.secretToolSearch({service, username: 'session:k'}), [])
    })
  })
})
