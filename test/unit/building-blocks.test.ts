import {strict as assert} from 'node:assert'

import {isLoopbackHost, secureUrl} from '../../src/lib/config/urls.js'
import {ConfigError, ExitCode} from '../../src/lib/errors.js'
import {maskParams, maskUrl} from '../../src/lib/http/trace.js'
import {oauthErrorFromBody} from '../../src/lib/oauth/errors.js'
import {isUsable} from '../../src/lib/oauth/token.js'
import {relativeTime} from '../../src/lib/output.js'

describe('building blocks', () => {
  it('allows plain http only to loopback hosts', () => {
    for (const host of ['localhost', '127.0.0.1', '127.8.9.10', '[::1]', 'api.localhost']) assert.ok(isLoopbackHost(host), host)
    for (const host of ['example.com', '128.0.0.1', '10.0.0.1', 'localhost.example.com', '[::2]']) assert.ok(!isLoopbackHost(host), host)
    assert.equal(secureUrl('http://127.0.0.1:8080/x', 'test').port, '8080')
    assert.throws(
      () => secureUrl('http://example.com', 'test'),
      (error: ConfigError) => error.code === 'insecure_url' && error.exitCode === ExitCode.config,
    )
    assert.throws(() => secureUrl('ftp://example.com', 'test'), ConfigError)
  })

  it('masks secrets in traces: never assertions or secrets, tokens as a length and a short hash', () => {
    const masked = maskParams(new URLSearchParams({access_token: 'eyJhbGciOiJSUzI1NiJ9.payload.sig', assertion: 'user-token', client_secret: 's3cret', scope: 'api'}))
    assert.equal(masked.client_secret, '<redacted>')
    assert.equal(masked.assertion, '<redacted>')
    assert.equal(masked.access_token, '<32 chars, sha256:2a7c8aab>')
    assert.equal(masked.scope, 'api')
    assert.equal(maskUrl('https://user:pw@api.example.com/x?access_token=abcdefghijkl'), 'https://api.example.com/x?access_token=%3C12+chars%2C+sha256%3Ad682ed4c%3E')
  })

  it('uses a cached token only with more than max(min-ttl, 60) seconds left', () => {
    const now = Date.now()
    const token = (seconds: number) => ({access_token: 't', expires_at: now + seconds * 1000, token_type: 'Bearer'})
    assert.ok(isUsable(token(61), 0, now))
    assert.ok(!isUsable(token(60), 0, now))
    assert.ok(!isUsable(token(300), 300, now))
    assert.ok(isUsable(token(301), 300, now))
    assert.ok(!isUsable({access_token: 't', token_type: 'Bearer'}, 0, now), 'unknown expiry is never served from the cache')
  })

  it('tells "refused" (4) from "sign in again" (5) as README\'s Exit codes section does', () => {
    assert.equal(oauthErrorFromBody({error: 'invalid_grant'}, 400, 'obo').exitCode, ExitCode.refused)
    assert.equal(oauthErrorFromBody({error: 'invalid_grant'}, 400, 'refresh_token').exitCode, ExitCode.reauthenticate)
    assert.equal(oauthErrorFromBody({error: 'invalid_grant', suberror: 'consent_required'}, 400, 'obo').exitCode, ExitCode.reauthenticate)
    const mfa = oauthErrorFromBody({claims: '{"access_token":{}}', error: 'interaction_required', error_codes: [50076]}, 400, 'obo')
    assert.equal(mfa.exitCode, ExitCode.reauthenticate)
    assert.equal(mfa.details.claims, '{"access_token":{}}')
    assert.deepEqual(mfa.details.error_codes, [50076])
    assert.equal(oauthErrorFromBody({error: 'invalid_client'}, 401, 'client_credentials').exitCode, ExitCode.refused)
  })

  it("access_denied is a person's refusal (5) only where a person was asked; from a token, exchange or client-credentials request it is the server's (4)", () => {
    const denied = {error: 'access_denied', error_description: 'Client is not within the token audience'}
    for (const grant of ['obo', 'client_credentials', 'refresh_token', 'sign_in'] as const) {
      const refused = oauthErrorFromBody(denied, 403, grant)
      assert.equal(refused.exitCode, ExitCode.refused, grant)
      assert.equal(refused.message, 'the authorization server refused the request (access_denied: Client is not within the token audience)')
      assert.doesNotMatch(refused.suggestions.join(' '), /sign in again to continue/, grant)
      assert.match(refused.suggestions.join(' '), /signing in again will not change that/, grant)
    }

    assert.match(oauthErrorFromBody(denied, 403, 'obo').suggestions[0], /must be in the user token's audience \(aud\)/)
    assert.equal(oauthErrorFromBody({error: 'invalid_grant', suberror: 'access_denied'}, 400, 'obo').exitCode, ExitCode.refused, 'as a suberror too')
    for (const grant of ['device_code', 'authorization'] as const) {
      const refusal = oauthErrorFromBody({error: 'access_denied'}, 400, grant)
      assert.equal(refusal.exitCode, ExitCode.reauthenticate, grant)
      assert.deepEqual(refusal.suggestions, ['the sign-in was refused or cancelled: sign in again to continue'])
    }

    assert.equal(oauthErrorFromBody({error: 'invalid_scope'}, 400, 'authorization').exitCode, ExitCode.refused, 'a sign-in the server refused, not the person')
  })

  it('says when a time is, for people', () => {
    const now = Date.parse('2026-11-25T10:00:00Z')
    assert.equal(relativeTime(now + 53 * 60_000 + 5000, now), 'in 53m')
    assert.equal(relativeTime(now - 2 * 3_600_000, now), '2h ago')
    assert.equal(relativeTime(now + 30_000, now), 'in 30s')
    assert.equal(relativeTime(now + 3 * 86_400_000, now), 'in 3d')
  })
})
