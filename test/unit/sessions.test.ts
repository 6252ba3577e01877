/**
 * Long-running on-behalf-of sessions (src/lib/oauth/sessions.ts) in one process, against the real
 * authorization server of the tests (oidc-provider, in this process) and a real encrypted file store:
 * what a session keeps, when a refresh goes to the server and what it stores afterwards, how a dead
 * refresh token marks the session, how a session ends. test/e2e/obo-sessions.test.ts runs the same
 * life through the CLI, several processes at once.
 */
import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {saveClient} from '../../src/lib/config/clients.js'
import {toConnection} from '../../src/lib/config/connection.js'
import type {Connection} from '../../src/lib/config/connection.js'
import {clientCredentialEntry, clientSecretEntry, type CredentialSource} from '../../src/lib/config/credentials.js'
import type {TokenctlError} from '../../src/lib/errors.js'
import type {Progress} from '../../src/lib/http/context.js'
import type {GrantResult} from '../../src/lib/oauth/grants.js'
import type {Runtime} from '../../src/lib/runtime.js'
import {decodeJwt} from 'jose'

import {FileStore} from '../../src/lib/store/file-store.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {holdLock} from '../helpers/locks.js'

/**
 * sessions.ts is loaded as grants.js is (a dynamic import): under mocha's tsx a static import would be
 * another instance of errors.js than the one grants.js throws from, and `instanceof` would fail.
 */
type Sessions = typeof import('../../src/lib/oauth/sessions.js')
let assertSessionKey: Sessions['assertSessionKey']
let assertSessionKeyFree: Sessions['assertSessionKeyFree']
let automaticSessionKey: Sessions['automaticSessionKey']
let endSession: Sessions['endSession']
let keepSession: Sessions['keepSession']
let listSessions: Sessions['listSessions']
let refreshSession: Sessions['refreshSession']
let showSession: Sessions['showSession']
let startSession: Sessions['startSession']

const PASSPHRASE = 'sessions unit tests'
const SECRET_VARIABLE = 'SESSIONS_TEST_CLIENT_SECRET'
const sha256hex = (text: string) => createHash('sha256').update(text).digest('hex')

/** The error a promise rejects with: by name and code, since grants.js is a dynamic import (another module instance under tsx). */
async function failure(promise: Promise<unknown>, name: string, code: string): Promise<TokenctlError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof Error, String(error))
    assert.equal(error.name, name, error.message)
    assert.equal((error as TokenctlError).code, code, error.message)
    return error as TokenctlError
  }

  assert.fail(`expected ${name} ${code}`)
}

interface StoredRecord {
  access_token: {access_token: string; expires_at?: number; scope?: string}
  client: Record<string, unknown>
  created_at: string
  credential: Record<string, unknown>
  flavor: string
  granted_scopes: string[]
  key: string
  last_refreshed_at: null | string
  reauthentication?: {at: string; error: string}
  refresh_count: number
  refresh_token: string
  scopes: string[]
  status: string
  token_endpoint: string
}

describe('long-running OBO sessions (in process, real authorization server, real file store)', function () {
  this.timeout(30_000)
  let server: AuthServer
  useAuthServer((started) => {
    server = started
  })

  before(async () => {
    ;({assertSessionKey, assertSessionKeyFree, automaticSessionKey, endSession, keepSession, listSessions, refreshSession, showSession, startSession} = await import('../../src/lib/oauth/sessions.js'))
  })

  const savedEnv = {...process.env}
  let home: string
  let store: FileStore
  let progress: Progress[]
  let runtime: Runtime

  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'tokenctl-sessions-'))
    for (const name of Object.keys(process.env)) if (name.startsWith('TOKENCTL_')) delete process.env[name]
    process.env.TOKENCTL_HOME = home
    process.env[SECRET_VARIABLE] = server.clients.api.clientSecret
    store = new FileStore({kdfParams: {N: 1024, p: 1, r: 8}, passphrase: PASSPHRASE})
    progress = []
    runtime = {hooks: {progress: (event) => progress.push(event)}, openStore: async () => store}
  })

  afterEach(() => {
    for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name]
    Object.assign(process.env, savedEnv)
    rmSync(home, {force: true, recursive: true})
  })

  const givenSecret: CredentialSource = {from: {kind: 'env', variable: SECRET_VARIABLE}, kind: 'secret'}

  /** The web API's connection, its secret given for this run (as --client-secret-env would). */
  function apiConnection(scopes = ['read'], credential: CredentialSource | undefined = givenSecret): Connection {
    return toConnection({clientId: server.clients.api.clientId, issuer: server.issuer, scopes}, credential ? {credential: {kind: 'given', source: credential}} : {})
  }

  const userToken = (sub = 'alice') => server.mintUserToken({aud: server.clients.api.clientId, sub})

  async function record(key: string): Promise<StoredRecord> {
    const text = await store.get(`session:${key}`)
    assert.ok(text, `session ${key} is stored`)
    return JSON.parse(text) as StoredRecord
  }

  async function started(key = 'nightly', sub = 'alice') {
    const result = await startSession(apiConnection(), {assertion: await userToken(sub), key}, runtime)
    server.resetCounters()
    progress.length = 0
    return result
  }

  describe('session keys', () => {
    it('are 1 to 128 characters of letters, digits, . _ : and -', () => {
      for (const key of ['a', 'nightly-report', 'A.b_c:d-9', 'k'.repeat(128)]) assertSessionKey(key)
      for (const key of ['', 'k'.repeat(129), 'a b', 'a/b', 'ü', 'a\n', '\na']) {
        assert.throws(
          () => assertSessionKey(key),
          (error: TokenctlError) => error.name === 'UsageError' && error.code === 'invalid_session_key' && error.message === 'a session key is 1–128 characters of A-Z a-z 0-9 . _ : -',
          JSON.stringify(key),
        )
      }
    })

    it('allocated from the assertion as MSAL does: base64url(SHA-256(assertion)), unpadded', () => {
      assert.equal(automaticSessionKey('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0')
    })

    it('every operation refuses a bad key before touching the store', async () => {
      const untouchable: Runtime = {hooks: {}, openStore: () => assert.fail('the store was opened')}
      await failure(refreshSession('a b', {}, untouchable), 'UsageError', 'invalid_session_key')
      await failure(showSession('a b', untouchable), 'UsageError', 'invalid_session_key')
      await failure(endSession('a b', {revoke: false}, untouchable), 'UsageError', 'invalid_session_key')
      await failure(startSession(apiConnection(), {assertion: 'x', key: 'a b'}, untouchable), 'UsageError', 'invalid_session_key')
    })
  })

  describe('start', () => {
    it('keeps the refresh token and the access token under the key, with what a refresh needs and no more', async () => {
      const assertion = await userToken()
      const {result, summary} = await startSession(apiConnection(), {assertion, key: 'nightly'}, runtime)
      assert.equal(result.source, 'identity_provider')
      const exchange = server.tokenRequests.at(-1)!
      assert.equal(exchange.params.scope, 'read offline_access', 'offline_access asked for')

      const stored = await record('nightly')
      assert.equal(stored.key, 'nightly')
      assert.equal(stored.status, 'active')
      assert.equal(stored.refresh_count, 0)
      assert.equal(stored.last_refreshed_at, null)
      assert.equal(stored.flavor, 'rfc8693')
      assert.deepEqual(stored.scopes, ['read', 'offline_access'])
      assert.equal(stored.access_token.access_token, result.token.access_token)
      assert.ok(stored.refresh_token.length > 10)
      assert.equal(stored.token_endpoint, server.tokenEndpoint)
      assert.deepEqual(stored.credential, {kind: 'kept', material: {kind: 'secret', secret: server.clients.api.clientSecret}, session: 'nightly'})
      assert.deepEqual(stored.client, {authMethod: 'client_secret_basic', clientId: 'api', issuer: new URL(server.issuer).href, params: [], resources: [], timeout: 30})
      assert.ok(!JSON.stringify(stored).includes(assertion), 'the assertion is not kept')

      assert.deepEqual(summary, {
        access_token_expires_at: new Date(stored.access_token.expires_at!).toISOString(),
        client: 'api',
        client_id: 'api',
        created_at: summary.created_at,
        credential: 'kept with the session',
        flavor: 'rfc8693',
        last_refreshed_at: null,
        refresh_count: 0,
        scopes: ['read', 'offline_access'],
        session_key: 'nightly',
        status: 'active',
        token_endpoint: server.tokenEndpoint,
      })
      assert.ok(Math.abs(Date.parse(summary.created_at) - Date.now()) < 60_000)
      assert.deepEqual(await showSession('nightly', runtime), summary)
      assert.deepEqual(await listSessions(runtime), [summary])
    })

    it('asks for offline_access once when the scopes already hold it', async () => {
      await startSession(apiConnection(['read', 'offline_access']), {assertion: await userToken(), key: 'k'}, runtime)
      assert.equal(server.tokenRequests.at(-1)!.params.scope, 'read offline_access')
      assert.deepEqual((await record('k')).scopes, ['read', 'offline_access'])
    })

    it('in the Entra flavor when asked', async () => {
      const {summary} = await startSession(apiConnection(), {assertion: await userToken(), flavor: 'entra', key: 'entra'}, runtime)
      assert.equal(summary.flavor, 'entra')
      assert.equal(server.tokenRequests.at(-1)!.grant_type, 'urn:ietf:params:oauth:grant-type:jwt-bearer')
    })

    it('without a key: the automatic key, and the same assertion again replaces that session', async () => {
      const assertion = await userToken()
      const first = await startSession(apiConnection(), {assertion}, runtime)
      assert.equal(first.summary.session_key, automaticSessionKey(assertion))
      const firstRefreshToken = (await record(first.summary.session_key)).refresh_token
      const again = await startSession(apiConnection(), {assertion}, runtime)
      assert.equal(again.summary.session_key, first.summary.session_key)
      assert.notEqual((await record(first.summary.session_key)).refresh_token, firstRefreshToken, 'replaced')
    })

    it('an explicit key that is taken is refused before the assertion is spent, unless replacing is asked for', async () => {
      await started('taken')
      const error = await failure(startSession(apiConnection(), {assertion: await userToken(), key: 'taken'}, runtime), 'ConfigError', 'session_exists')
      assert.equal(error.message, 'a session with key "taken" exists')
      assert.deepEqual(error.suggestions, ['pass --replace to replace it, or end it first (tokenctl session end)'])
      assert.equal(server.tokenRequests.length, 0, 'no exchange was made')
      await startSession(apiConnection(), {assertion: await userToken('bob'), key: 'taken', replace: true}, runtime)
      assert.equal(server.tokenRequests.length, 1)
      await assertSessionKeyFree(store, 'taken', true)
      await assertSessionKeyFree(store, 'free', false)
    })

    it('a key taken while the exchange was under way is refused under the lock, and the first session stays', async () => {
      const assertion = await userToken()
      const connection = apiConnection()
      const {requestObo} = await import('../../src/lib/oauth/grants.js')
      const granted = await requestObo(connection, {assertion, offline: true}, runtime)
      await started('raced', 'bob')
      const before = await record('raced')
      await failure(keepSession(connection, granted, {flavor: 'rfc8693', key: 'raced', mayReplace: false, scopes: ['read']}, runtime), 'ConfigError', 'session_exists')
      assert.deepEqual(await record('raced'), before)
    })

    it('no refresh token in the answer: no session, and advice that fits how it began', async () => {
      const granted: GrantResult = {token: {access_token: 'abc', token_type: 'Bearer'}}
      const obo = await failure(keepSession(apiConnection(), granted, {flavor: 'rfc8693', key: 'k', mayReplace: false, scopes: ['read']}, runtime), 'AuthorizationError', 'no_refresh_token')
      assert.equal(obo.message, 'the authorization server returned no refresh token, so there is no session to keep')
      assert.match(obo.suggestions[0], /^the client must be allowed refresh tokens in token exchange .*"Allow refresh token in Standard Token Exchange" to "Same session"/)
      assert.equal(obo.details.description, undefined)
      const entra = await failure(keepSession(apiConnection(), granted, {flavor: 'entra', key: 'k', mayReplace: false, scopes: ['read']}, runtime), 'AuthorizationError', 'no_refresh_token')
      assert.match(entra.suggestions[0], /^the web API must be allowed offline_access at the authorization server/)
      const signIn = await failure(keepSession(apiConnection(), granted, {flavor: 'sign-in', key: 'k', mayReplace: false, scopes: ['read']}, runtime), 'AuthorizationError', 'no_refresh_token')
      assert.deepEqual(signIn.suggestions, ['the client must be allowed refresh tokens (offline_access) at the authorization server'])
      assert.equal(await store.get('session:k'), undefined)
    })

    it('a server that refused to issue a refresh token when asked by type: its words in the no_refresh_token error', async () => {
      const {oauthErrorFromBody} = await import('../../src/lib/oauth/errors.js')
      const refusal = oauthErrorFromBody({error: 'invalid_request', error_description: 'requested_token_type unsupported\nsecond line'}, 400, 'obo')
      const granted: GrantResult = {refreshTokenRefused: refusal, token: {access_token: 'abc', token_type: 'Bearer'}}
      const error = await failure(keepSession(apiConnection(), granted, {flavor: 'rfc8693', key: 'k', mayReplace: false, scopes: ['read']}, runtime), 'AuthorizationError', 'no_refresh_token')
      assert.equal(
        error.message,
        'the authorization server returned no refresh token (asked for one by requested_token_type, it answered invalid_request: requested_token_type unsupported), so there is no session to keep',
      )
      assert.equal(error.details.status, 400)
      assert.equal(error.details.description, 'requested_token_type unsupported\nsecond line')
      const silent = oauthErrorFromBody({error: 'unsupported_token_type'}, 400, 'obo')
      const bare = await failure(
        keepSession(apiConnection(), {...granted, refreshTokenRefused: silent}, {flavor: 'rfc8693', key: 'k', mayReplace: false, scopes: []}, runtime),
        'AuthorizationError',
        'no_refresh_token',
      )
      assert.match(bare.message, /it answered unsupported_token_type\), so/)
      assert.equal(await store.get('session:k'), undefined)
    })

    it('keeps the audiences it was started with (--audience repeats), and no audience field without them', async () => {
      const granted: GrantResult = {refreshToken: 'r', token: {access_token: 'abc', token_type: 'Bearer'}}
      const audiences = toConnection({audience: ['reports', 'ledger'], clientId: 'api', issuer: server.issuer}, {credential: {kind: 'none'}})
      await keepSession(audiences, granted, {flavor: 'rfc8693', key: 'narrowed', mayReplace: false, scopes: []}, runtime)
      assert.deepEqual((await record('narrowed')).client.audience, ['reports', 'ledger'])
      const none = toConnection({clientId: 'api', issuer: server.issuer}, {credential: {kind: 'none'}})
      await keepSession(none, granted, {flavor: 'rfc8693', key: 'one', mayReplace: false, scopes: []}, runtime)
      assert.ok(!('audience' in (await record('one')).client), 'no audience field')
    })

    it('a credential kept with another session is kept as it is, inside this one', async () => {
      const material = {kind: 'secret', secret: server.clients.api.clientSecret!} as const
      const kept = toConnection({clientId: 'api', issuer: server.issuer}, {credential: {kind: 'kept', material, session: 'earlier'}})
      await keepSession(kept, {refreshToken: 'r', token: {access_token: 'abc', token_type: 'Bearer'}}, {flavor: 'rfc8693', key: 'copy', mayReplace: false, scopes: []}, runtime)
      assert.deepEqual((await record('copy')).credential, {kind: 'kept', material, session: 'copy'})
      // Never read again: a certificate kept elsewhere is not even parsed, only copied.
      const certificate = {certificates: ['not read'], key: 'not read', kind: 'certificate' as const}
      const keptCertificate = toConnection({clientId: 'api', issuer: server.issuer}, {credential: {kind: 'kept', material: certificate, session: 'earlier'}})
      await keepSession(keptCertificate, {refreshToken: 'r', token: {access_token: 'abc', token_type: 'Bearer'}}, {flavor: 'rfc8693', key: 'copied', mayReplace: false, scopes: []}, runtime)
      assert.deepEqual((await record('copied')).credential, {kind: 'kept', material: certificate, session: 'copied'})
    })

    it("on a fleet (a shared store), a credential given for the start is kept with the session, not looked for under a client's name", async () => {
      process.env.TOKENCTL_STORE = 'redis'
      await keepSession(apiConnection(), {refreshToken: 'r', token: {access_token: 'abc', token_type: 'Bearer'}}, {flavor: 'rfc8693', key: 'given', mayReplace: false, scopes: []}, runtime)
      assert.deepEqual((await record('given')).credential, {kind: 'kept', material: {kind: 'secret', secret: server.clients.api.clientSecret}, session: 'given'})
    })

    it('records the token endpoint that answered, else the one configured', async () => {
      const granted: GrantResult = {refreshToken: 'r1', token: {access_token: 'abc', token_type: 'Bearer'}}
      const viaIssuer = await keepSession(apiConnection(), granted, {flavor: 'sign-in', key: 'a', mayReplace: false, scopes: []}, runtime)
      assert.equal(viaIssuer.summary.token_endpoint, new URL(server.issuer).href)
      const direct = toConnection({clientId: 'api', tokenEndpoint: server.tokenEndpoint}, {credential: {kind: 'none'}})
      assert.equal((await keepSession(direct, granted, {flavor: 'sign-in', key: 'b', mayReplace: false, scopes: []}, runtime)).summary.token_endpoint, server.tokenEndpoint)
      const answered = await keepSession(direct, {...granted, tokenEndpoint: 'https://elsewhere.example/token'}, {flavor: 'sign-in', key: 'c', mayReplace: false, scopes: []}, runtime)
      assert.equal(answered.summary.token_endpoint, 'https://elsewhere.example/token')
      assert.equal(answered.summary.credential, 'none (public client)')
      assert.deepEqual(answered.summary.scopes, ['offline_access'])
      assert.equal(answered.summary.access_token_expires_at, null, 'an unknown expiry')
    })

    it('keeps the granted scopes the answer named, else those asked for', async () => {
      const base = {flavor: 'sign-in' as const, mayReplace: false, scopes: ['read', 'write']}
      await keepSession(apiConnection(), {refreshToken: 'r', token: {access_token: 'a', scope: 'read', token_type: 'Bearer'}}, {...base, key: 'said'}, runtime)
      assert.deepEqual((await record('said')).granted_scopes, ['read'])
      await keepSession(apiConnection(), {refreshToken: 'r', token: {access_token: 'a', scope: ' ', token_type: 'Bearer'}}, {...base, key: 'blank'}, runtime)
      assert.deepEqual((await record('blank')).granted_scopes, ['read', 'write', 'offline_access'])
      await keepSession(apiConnection(), {refreshToken: 'r', token: {access_token: 'a', token_type: 'Bearer'}}, {...base, key: 'none'}, runtime)
      assert.deepEqual((await record('none')).granted_scopes, ['read', 'write', 'offline_access'])
    })
  })

  describe('refresh', () => {
    it('serves the stored token while it is valid, without the server', async () => {
      const {result} = await started()
      const served = await refreshSession('nightly', {}, runtime)
      assert.equal(served.result.source, 'cache')
      assert.equal(served.result.token.access_token, result.token.access_token)
      assert.equal(served.summary.session_key, 'nightly')
      assert.equal(served.summary.credential, 'kept with the session')
      assert.equal(server.tokenRequests.length, 0)
      assert.deepEqual(progress, [])
    })

    it('refreshes when the token has less than --min-ttl left, or with --force; the rotated refresh token is stored', async () => {
      await started()
      const before = await record('nightly')
      const refreshed = await refreshSession('nightly', {minTtlSeconds: 4000}, runtime)
      assert.equal(refreshed.result.source, 'identity_provider')
      assert.equal(server.refreshTokenUses.length, 1)
      assert.equal(server.refreshTokenUses[0].sha256, sha256hex(before.refresh_token), 'the stored refresh token was presented')

      const after = await record('nightly')
      assert.notEqual(after.refresh_token, before.refresh_token, 'the rotated refresh token is stored')
      assert.equal(after.access_token.access_token, refreshed.result.token.access_token)
      assert.equal(after.refresh_count, 1)
      assert.ok(Math.abs(Date.parse(after.last_refreshed_at!) - Date.now()) < 60_000)
      assert.equal(after.created_at, before.created_at)
      assert.deepEqual(after.granted_scopes, ['read'])
      assert.equal(refreshed.summary.refresh_count, 1)
      assert.equal(refreshed.summary.last_refreshed_at, after.last_refreshed_at)

      const forced = await refreshSession('nightly', {force: true}, runtime)
      assert.equal(forced.result.source, 'identity_provider')
      assert.equal((await record('nightly')).refresh_count, 2)
      assert.equal(server.reuseDetected, 0)
      // RFC 6749 §6: what the server granted (read), not the offline_access it did not list.
      assert.equal(server.tokenRequests.at(-1)!.params.scope, 'read')
    })

    it('keeps the old refresh token and the known token endpoint when the answer brings none', async () => {
      await started()
      const before = await record('nightly')
      server.injectTokenFaults({body: {access_token: 'fresh-token', expires_in: 3600, token_type: 'Bearer'}, status: 200})
      const refreshed = await refreshSession('nightly', {force: true}, runtime)
      assert.equal(refreshed.result.token.access_token, 'fresh-token')
      const after = await record('nightly')
      assert.equal(after.refresh_token, before.refresh_token)
      assert.equal(after.token_endpoint, before.token_endpoint)
    })

    it('a stored access token that is not well formed is dropped and replaced', async () => {
      await started()
      const stored = await record('nightly')
      stored.access_token = {access_token: 'has spaces in it', expires_at: Date.now() + 3_600_000}
      await store.set('session:nightly', JSON.stringify(stored))
      const refreshed = await refreshSession('nightly', {}, runtime)
      assert.equal(refreshed.result.source, 'identity_provider')
    })

    it('two refreshes forced at once present the refresh token once: the second gets what the first fetched', async () => {
      await started()
      const [first, second] = await Promise.all([refreshSession('nightly', {force: true}, runtime), refreshSession('nightly', {force: true}, runtime)])
      assert.equal(server.refreshTokenUses.length, 1)
      assert.deepEqual([first.result.source, second.result.source].sort(), ['cache', 'identity_provider'])
      assert.equal(first.result.token.access_token, second.result.token.access_token)
      assert.ok(
        progress.some((event) => event.state === 'waiting' && event.message === 'waiting for another tokenctl refreshing session nightly'),
        JSON.stringify(progress),
      )
      assert.equal((await record('nightly')).refresh_count, 1)
    })

    it('a forced refresh after an earlier refresh goes to the server again', async () => {
      await started()
      await refreshSession('nightly', {force: true}, runtime)
      await refreshSession('nightly', {force: true}, runtime)
      assert.equal(server.refreshTokenUses.length, 2)
    })

    it('a dead refresh token: exit 5, the session marked needs_reauthentication with when and why, and never sent again', async () => {
      await started()
      const before = await record('nightly')
      server.injectTokenFaults({body: {error: 'invalid_grant', error_codes: [70043], error_description: 'expired'}, status: 400})
      const dead = await failure(refreshSession('nightly', {force: true}, runtime), 'ReauthenticationRequiredError', 'invalid_grant')
      assert.equal(dead.exitCode, 5)
      assert.equal(dead.suggestions.at(-1), 'start it again with a fresh user token: tokenctl session start … --key nightly --replace')
      assert.equal(dead.details.description, 'expired')

      const marked = await record('nightly')
      assert.equal(marked.status, 'needs_reauthentication')
      assert.equal(marked.refresh_token, before.refresh_token)
      assert.equal(marked.reauthentication!.error, 'invalid_grant')
      assert.ok(Math.abs(Date.parse(marked.reauthentication!.at) - Date.now()) < 60_000)
      const shown = await showSession('nightly', runtime)
      assert.equal(shown.status, 'needs_reauthentication')
      assert.deepEqual(shown.reauthentication, {at: marked.reauthentication!.at, description: 'expired', error: 'invalid_grant', error_codes: [70043]})
      assert.equal((await listSessions(runtime))[0].status, 'needs_reauthentication')

      const requests = server.tokenRequests.length
      const again = await failure(refreshSession('nightly', {}, runtime), 'ReauthenticationRequiredError', 'invalid_grant')
      assert.equal(again.message, `session "nightly" needs the user to sign in again (invalid_grant at ${marked.reauthentication!.at})`)
      assert.deepEqual(again.suggestions, ['start it again with a fresh user token: tokenctl session start … --key nightly --replace'])
      assert.deepEqual(again.details, {description: 'expired', error_codes: [70043]})
      assert.equal(server.tokenRequests.length, requests, 'not sent to the server again')
    })

    it('a sign-in session that needs the user again says to sign in again; an old mark without details still reads', async () => {
      const granted: GrantResult = {refreshToken: 'r', token: {access_token: 'abc', token_type: 'Bearer'}}
      await keepSession(apiConnection(), granted, {flavor: 'sign-in', key: 'me', mayReplace: false, scopes: ['read']}, runtime)
      const stored = await record('me')
      await store.set('session:me', JSON.stringify({...stored, status: 'needs_reauthentication'}))
      const error = await failure(refreshSession('me', {}, runtime), 'ReauthenticationRequiredError', 'invalid_grant')
      assert.equal(error.message, 'session "me" needs the user to sign in again (invalid_grant at an earlier refresh)')
      assert.deepEqual(error.suggestions, ['sign the user in again: tokenctl token user … --session-key me --replace'])
    })

    it('any other failure leaves the stored session exactly as it was', async () => {
      await started()
      const before = await store.get('session:nightly')
      server.injectTokenFaults({body: {error: 'invalid_client'}, status: 401})
      const refused = await failure(refreshSession('nightly', {force: true}, runtime), 'AuthorizationError', 'invalid_client')
      assert.equal(refused.exitCode, 4)
      assert.equal(await store.get('session:nightly'), before)
    })

    it("a valid stored token is served while another process holds the session's lock (a cache hit takes no lock)", async () => {
      const {result} = await started()
      const release = await holdLock(store, 'session:nightly')
      try {
        // Were the lock taken, this would wait for the holder, which waits for it: the test would time out.
        const served = await refreshSession('nightly', {}, runtime)
        assert.equal(served.result.token.access_token, result.token.access_token)
      } finally {
        await release()
      }
    })

    it('a forced refresh waits for the holder of the lock, with or without a progress hook', async () => {
      await started()
      const release = await holdLock(store, 'session:nightly')
      const quiet: Runtime = {hooks: {}, openStore: async () => store}
      const waiting = refreshSession('nightly', {force: true}, quiet)
      await new Promise((resolve) => setTimeout(resolve, 100))
      assert.equal(server.refreshTokenUses.length, 0, 'not before the holder is done')
      await release()
      assert.equal((await waiting).result.source, 'identity_provider')
    })

    it('records the token endpoint that answered the refresh', async () => {
      await started()
      const stored = await record('nightly')
      await store.set('session:nightly', JSON.stringify({...stored, token_endpoint: 'https://old.example/token'}))
      const refreshed = await refreshSession('nightly', {force: true}, runtime)
      assert.equal(refreshed.summary.token_endpoint, server.tokenEndpoint)
      assert.equal((await record('nightly')).token_endpoint, server.tokenEndpoint)
    })

    it('an unknown session is exit 3 naming the store and TOKENCTL_HOME searched, how to point at the right ones, the way to list or start one', async () => {
      const error = await failure(refreshSession('nobody', {}, runtime), 'ConfigError', 'unknown_session')
      assert.equal(error.message, `unknown session "nobody": not in the file store of TOKENCTL_HOME=${home}`)
      assert.deepEqual(error.suggestions, [
        'run this with the TOKENCTL_HOME and TOKENCTL_STORE of the shell the session was started in (a crontab line sets them itself: cron reads no shell profile)',
        'tokenctl session list shows the sessions there; tokenctl session start creates one',
      ])
      assert.equal((await failure(showSession('nobody', runtime), 'ConfigError', 'unknown_session')).message, error.message)
      assert.equal((await failure(endSession('nobody', {revoke: true}, runtime), 'ConfigError', 'unknown_session')).message, error.message)
    })

    it('a record that is not JSON is unreadable, with the way out', async () => {
      await store.set('session:broken', '{not json')
      const error = await failure(showSession('broken', runtime), 'ConfigError', 'config_error')
      assert.equal(error.message, 'the stored session "broken" is unreadable')
      assert.deepEqual(error.suggestions, ['end it (tokenctl session end --key broken --no-revoke) and start it again'])
    })
  })

  describe('the credential a refresh uses', () => {
    it('a credential given for this run is used instead, and the session says so', async () => {
      await started()
      const stored = await record('nightly')
      stored.credential = {kind: 'kept', material: {kind: 'secret', secret: 'a stale secret'}, session: 'nightly'}
      await store.set('session:nightly', JSON.stringify(stored))
      await failure(refreshSession('nightly', {force: true}, runtime), 'AuthorizationError', 'invalid_client')
      const refreshed = await refreshSession('nightly', {credential: givenSecret, force: true}, runtime)
      assert.equal(refreshed.result.source, 'identity_provider')
      assert.equal(refreshed.summary.credential, 'given on the command line')
      assert.equal((await refreshSession('nightly', {credential: givenSecret}, runtime)).summary.credential, 'given on the command line')
    })

    it("a session started from a named client follows the client's current credential", async () => {
      await saveClient('api', {clientId: 'api', issuer: server.issuer, storedCredential: 'secret'})
      await store.set(clientSecretEntry('api'), server.clients.api.clientSecret!)
      const connection = toConnection({clientId: 'api', issuer: server.issuer, scopes: ['read'], storedCredential: 'secret'}, {clientName: 'api'})
      const {summary} = await startSession(connection, {assertion: await userToken(), key: 'named'}, runtime)
      assert.equal(summary.credential, 'named client api')
      assert.equal(summary.client, 'api')
      assert.deepEqual((await record('named')).credential, {kind: 'named_client', name: 'api', stored: 'secret'})

      await store.set(clientSecretEntry('api'), 'rotated away')
      await failure(refreshSession('named', {force: true}, runtime), 'AuthorizationError', 'invalid_client')
      await store.set(clientSecretEntry('api'), server.clients.api.clientSecret!)
      assert.equal((await refreshSession('named', {force: true}, runtime)).result.source, 'identity_provider')
    })

    it('a named client that is gone: exit 3 naming it and the credential flags that would do', async () => {
      await saveClient('api', {clientId: 'api', issuer: server.issuer, storedCredential: 'secret'})
      await store.set(clientSecretEntry('api'), server.clients.api.clientSecret!)
      const connection = toConnection({clientId: 'api', issuer: server.issuer, scopes: ['read'], storedCredential: 'secret'}, {clientName: 'api'})
      await startSession(connection, {assertion: await userToken(), key: 'orphan'}, runtime)
      const {deleteClient} = await import('../../src/lib/config/clients.js')
      await deleteClient('api')
      const error = await failure(refreshSession('orphan', {force: true}, runtime), 'ConfigError', 'unknown_client')
      assert.equal(error.message, 'session "orphan" takes its credential from client "api", which no longer exists')
      assert.match(error.suggestions[0], /^add the client again \(tokenctl client add api …\), or give the credential to session refresh/)

      // With a store shared by hosts, the client's credential is found under its name though this host has no such client.
      process.env.TOKENCTL_STORE = 'redis'
      assert.equal((await refreshSession('orphan', {force: true}, runtime)).result.source, 'identity_provider')
    })

    it('a named client whose secret only TOKENCTL_CLIENT_SECRET gave: the secret is kept with the session', async () => {
      await saveClient('env-only', {clientId: 'api', issuer: server.issuer})
      process.env.TOKENCTL_CLIENT_SECRET = server.clients.api.clientSecret
      const connection = toConnection({clientId: 'api', issuer: server.issuer, scopes: ['read']}, {clientName: 'env-only'})
      const {summary} = await startSession(connection, {assertion: await userToken(), key: 'kept'}, runtime)
      assert.equal(summary.credential, 'kept with the session')
      delete process.env.TOKENCTL_CLIENT_SECRET
      assert.equal((await refreshSession('kept', {force: true}, runtime)).result.source, 'identity_provider')
    })

    it("a public client's session sends no secret, even with TOKENCTL_CLIENT_SECRET set", async () => {
      const granted: GrantResult = {refreshToken: 'r', token: {access_token: 'abc', token_type: 'Bearer'}}
      await keepSession(toConnection({clientId: 'cli', issuer: server.issuer}, {credential: {kind: 'none'}}), granted, {flavor: 'sign-in', key: 'public', mayReplace: false, scopes: []}, runtime)
      process.env.TOKENCTL_CLIENT_SECRET = 'not for a public client'
      server.injectTokenFaults({body: {access_token: 'public-token', expires_in: 3600, token_type: 'Bearer'}, status: 200})
      await refreshSession('public', {force: true}, runtime)
      const sent = server.tokenRequests.at(-1)!
      assert.equal(sent.headers.authorization, undefined)
      assert.equal(sent.params.client_secret, undefined)
      assert.ok(!sent.body.includes('not for a public client'))
    })

    it("a named client's current way of signing is followed: client_secret_post once the client says so", async () => {
      await saveClient('api', {authMethod: 'client_secret_basic', clientId: 'api', issuer: server.issuer, storedCredential: 'secret'})
      await store.set(clientSecretEntry('api'), server.clients.api.clientSecret!)
      const connection = toConnection({authMethod: 'client_secret_basic', clientId: 'api', issuer: server.issuer, scopes: ['read'], storedCredential: 'secret'}, {clientName: 'api'})
      await startSession(connection, {assertion: await userToken(), key: 'named'}, runtime)
      await saveClient('api', {authMethod: 'client_secret_post', clientId: 'api', issuer: server.issuer, storedCredential: 'secret'})
      server.injectTokenFaults({body: {access_token: 'fresh-token', expires_in: 3600, token_type: 'Bearer'}, status: 200})
      await refreshSession('named', {force: true}, runtime)
      const sent = server.tokenRequests.at(-1)!
      assert.equal(sent.params.client_secret, server.clients.api.clientSecret)
      assert.equal(sent.headers.authorization, undefined)
    })

    it('an assertion audience the session started with holds when its named client names none', async () => {
      const {jwt} = server.clients
      await saveClient('signer', {alg: 'ES256', authMethod: 'private_key_jwt', clientId: jwt.clientId, issuer: server.issuer, keyId: jwt.kid, storedCredential: 'private_key'})
      await store.set(clientCredentialEntry('signer'), JSON.stringify({key: jwt.privateKeyPem, kind: 'private_key'}))
      const connection = toConnection(
        {alg: 'ES256', assertionAudience: 'token-endpoint', authMethod: 'private_key_jwt', clientId: jwt.clientId, issuer: server.issuer, keyId: jwt.kid, storedCredential: 'private_key'},
        {clientName: 'signer'},
      )
      const granted: GrantResult = {refreshToken: 'r', token: {access_token: 'abc', token_type: 'Bearer'}}
      await keepSession(connection, granted, {flavor: 'sign-in', key: 'signed', mayReplace: false, scopes: []}, runtime)
      assert.deepEqual((await record('signed')).credential, {kind: 'named_client', name: 'signer', stored: 'private_key'})
      server.injectTokenFaults({body: {access_token: 'fresh-token', expires_in: 3600, token_type: 'Bearer'}, status: 200})
      await refreshSession('signed', {force: true}, runtime)
      const assertion = server.tokenRequests.at(-1)!.params.client_assertion as string
      assert.equal(decodeJwt(assertion).aud, server.tokenEndpoint)
    })

    it('the timeout the session was started with holds for its refreshes', async function () {
      this.timeout(20_000)
      await started()
      const stored = await record('nightly')
      await store.set('session:nightly', JSON.stringify({...stored, client: {...stored.client, timeout: 0.3}}))
      server.injectTokenFaults({hang: true})
      // With the default 30 s instead, the attempt alone would outlast this test. A timed-out token request is not sent again.
      const error = await failure(refreshSession('nightly', {force: true}, runtime), 'NetworkError', 'timeout')
      assert.equal(server.tokenRequests.length, 1)
      assert.equal(error.exitCode, 6)
      assert.equal(await store.get('session:nightly'), JSON.stringify({...stored, client: {...stored.client, timeout: 0.3}}))
    })

    it("a credential given for one run picks the way of signing that fits it: a private key signs, a secret keeps the session's method", async () => {
      const postConnection = toConnection({authMethod: 'client_secret_post', clientId: 'api', issuer: server.issuer, scopes: ['read']}, {credential: {kind: 'given', source: givenSecret}})
      const granted: GrantResult = {refreshToken: 'r', token: {access_token: 'abc', token_type: 'Bearer'}}
      await keepSession(postConnection, granted, {flavor: 'sign-in', key: 'post', mayReplace: false, scopes: []}, runtime)

      server.injectTokenFaults({body: {access_token: 'fresh-token', expires_in: 3600, token_type: 'Bearer'}, status: 200})
      await refreshSession('post', {credential: givenSecret, force: true}, runtime)
      assert.equal(server.tokenRequests.at(-1)!.params.client_secret, server.clients.api.clientSecret, 'still client_secret_post')

      const keyFile = path.join(home, 'key.pem')
      writeFileSync(keyFile, server.clients.jwt.privateKeyPem)
      server.injectTokenFaults({body: {access_token: 'fresh-token', expires_in: 3600, token_type: 'Bearer'}, status: 200})
      await refreshSession('post', {credential: {file: keyFile, kind: 'private_key'}, force: true}, runtime)
      const sent = server.tokenRequests.at(-1)!
      assert.equal(sent.params.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
      assert.equal(sent.params.client_secret, undefined)
    })

    it('a named client whose token is read from a source is followed, not copied', async () => {
      const granted: GrantResult = {refreshToken: 'r', token: {access_token: 'abc', token_type: 'Bearer'}}
      const session = {flavor: 'sign-in' as const, mayReplace: false, scopes: []}
      const federated = {federatedToken: {kind: 'env' as const, variable: 'FED'}}
      await keepSession(toConnection({authMethod: 'federated', clientId: 'workload', issuer: server.issuer, ...federated}, {clientName: 'fed'}), granted, {...session, key: 'fed'}, runtime)
      assert.deepEqual((await record('fed')).credential, {kind: 'named_client', name: 'fed'})
    })

    it('what session show says of each kind of credential', async () => {
      await started()
      const stored = await record('nightly')
      const described = async (credential: unknown) => {
        await store.set('session:nightly', JSON.stringify({...stored, credential}))
        return (await showSession('nightly', runtime)).credential
      }

      assert.equal(await described({kind: 'none'}), 'none (public client)')
      assert.equal((await showSession('nightly', runtime)).credential_variables, undefined)
      assert.equal(await described({kind: 'named_client', name: 'ci'}), 'named client ci')
      assert.equal(await described({kind: 'kept', material: {kind: 'secret', secret: 's'}, session: 'nightly'}), 'kept with the session')
      assert.equal(await described({kind: 'given', source: {from: {kind: 'env', variable: 'FED'}, kind: 'federated'}}), 'federated token from $FED, read for every request')
      assert.deepEqual((await showSession('nightly', runtime)).credential_variables, ['FED'])
      assert.equal(await described({kind: 'given', source: {from: {kind: 'file', path: '/var/run/token'}, kind: 'federated'}}), 'federated token from file /var/run/token, read for every request')
      assert.deepEqual((await showSession('nightly', runtime)).credential_variables, [], 'a file is no variable')
    })

    it('a session of a public client refreshes with no credential', async () => {
      const granted: GrantResult = {refreshToken: 'r', token: {access_token: 'abc', token_type: 'Bearer'}}
      await keepSession(toConnection({clientId: 'cli', issuer: server.issuer}, {credential: {kind: 'none'}}), granted, {flavor: 'sign-in', key: 'public', mayReplace: false, scopes: []}, runtime)
      assert.deepEqual((await record('public')).credential, {kind: 'none'})
      server.injectTokenFaults({body: {access_token: 'public-token', expires_in: 3600, token_type: 'Bearer'}, status: 200})
      await refreshSession('public', {force: true}, runtime)
      const sent = server.tokenRequests.at(-1)!
      assert.equal(sent.params.client_id, 'cli')
      assert.equal(sent.headers.authorization, undefined, 'no client authentication')
    })

    it('a session of a federated client keeps where the token is read, never the token', async () => {
      process.env.FEDERATED_TOKEN = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'
      const connection = toConnection(
        {authMethod: 'federated', clientId: 'workload', issuer: server.issuer},
        {credential: {kind: 'given', source: {from: {kind: 'env', variable: 'FEDERATED_TOKEN'}, kind: 'federated'}}},
      )
      const granted: GrantResult = {refreshToken: 'r', token: {access_token: 'abc', token_type: 'Bearer'}}
      await keepSession(connection, granted, {flavor: 'sign-in', key: 'fed', mayReplace: false, scopes: []}, runtime)
      assert.deepEqual((await record('fed')).credential, {kind: 'given', source: {from: {kind: 'env', variable: 'FEDERATED_TOKEN'}, kind: 'federated'}})
      assert.ok(!JSON.stringify(await record('fed')).includes(process.env.FEDERATED_TOKEN))
      const [indexed] = await listSessions(runtime)
      assert.deepEqual(indexed.credential_variables, ['FEDERATED_TOKEN'], 'the index names the variable (never its value), so that no browser inherits it')
      assert.deepEqual((await showSession('fed', runtime)).credential_variables, ['FEDERATED_TOKEN'])
      server.injectTokenFaults({body: {access_token: 'fed-token', expires_in: 3600, token_type: 'Bearer'}, status: 200})
      await refreshSession('fed', {force: true}, runtime)
      assert.equal(server.tokenRequests.at(-1)!.params.client_assertion, process.env.FEDERATED_TOKEN, 'read from its source for the refresh')
    })

    it("this run's --timeout and --ca-file apply to the refresh", async () => {
      await started()
      await assert.rejects(refreshSession('nightly', {caFile: path.join(home, 'no-such-ca.pem'), force: true}, runtime), /no-such-ca\.pem/)
      await failure(refreshSession('nightly', {force: true, timeout: -1}, runtime), 'UsageError', 'usage_error')
    })
  })

  describe('end', () => {
    it('revokes the refresh token at the server (RFC 7009), then removes the session and its index entry', async () => {
      await started()
      const {refresh_token: refreshToken} = await record('nightly')
      assert.deepEqual(await endSession('nightly', {revoke: true}, runtime), {revocation: 'revoked', session_key: 'nightly'})
      assert.equal(server.revocations.length, 1)
      assert.equal(server.revocations[0].sha256, sha256hex(refreshToken))
      assert.equal(await store.get('session:nightly'), undefined)
      assert.deepEqual(await listSessions(runtime), [])
    })

    it("with a store shared by hosts, the session's summary goes from the store's own index too", async () => {
      process.env.TOKENCTL_STORE = 'redis' // the index follows TOKENCTL_STORE; the store itself is this test's file store
      await started()
      assert.deepEqual(await store.list('session-index:'), ['session-index:nightly'])
      await endSession('nightly', {revoke: false}, runtime)
      assert.deepEqual(await store.list('session-index:'), [])
      assert.deepEqual(await listSessions(runtime), [])
    })

    it('--no-revoke removes it without a word to the server', async () => {
      await started()
      assert.deepEqual(await endSession('nightly', {revoke: false}, runtime), {revocation: 'skipped', session_key: 'nightly'})
      assert.equal(server.revocations.length, 0)
      assert.equal(await store.get('session:nightly'), undefined)
    })

    it('a failed revocation is a warning: the session is removed all the same', async () => {
      await started()
      const stored = await record('nightly')
      await store.set('session:nightly', JSON.stringify({...stored, client: {...stored.client, caFile: path.join(home, 'no-such-ca.pem')}}))
      const ended = await endSession('nightly', {revoke: true}, runtime)
      assert.equal(ended.revocation, 'failed')
      assert.match(ended.warning!, /no-such-ca\.pem/)
      assert.equal(await store.get('session:nightly'), undefined)
      assert.deepEqual(await listSessions(runtime), [])
    })
  })
})
