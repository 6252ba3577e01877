import {strict as assert} from 'node:assert'

import {isLoopbackHost, secureUrl} from '../../src/lib/config/urls.js'
import {ConfigError, ExitCode, NetworkError} from '../../src/lib/errors.js'
import {backoffDelay, parseRetryAfter, withRetries} from '../../src/lib/http/retry.js'
import {maskParams, maskUrl} from '../../src/lib/http/trace.js'
import {oauthErrorFromBody} from '../../src/lib/oauth/errors.js'
import {isUsable} from '../../src/lib/oauth/token.js'
import {cacheKey} from '../../src/lib/oauth/token-cache.js'
import {relativeTime} from '../../src/lib/output.js'

describe('building blocks', () => {
  it('allows plain http only to loopback hosts', () => {
    for (const host of ['localhost', '127.0.0.1', '127.8.9.10', '[::1]', 'api.localhost']) assert.ok(isLoopbackHost(host), host)
    for (const host of ['example.com', '128.0.0.1', '10.0.0.1', 'localhost.example.com', '[::2]']) assert.ok(!isLoopbackHost(host), host)
    assert.equal(secureUrl('http://127.0.0.1:8080/x', 'test').port, '8080')
    assert.throws(() => secureUrl('http://example.com', 'test'), (error: ConfigError) => error.code === 'insecure_url' && error.exitCode === ExitCode.config)
    assert.throws(() => secureUrl('ftp://example.com', 'test'), ConfigError)
  })

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-11-25T10:00:00Z')
    assert.equal(parseRetryAfter('3', now), 3000)
    assert.equal(parseRetryAfter('Wed, 25 Nov 2026 10:00:05 GMT', now), 5000)
    assert.equal(parseRetryAfter('Wed, 25 Nov 2026 09:00:00 GMT', now), 0)
    assert.equal(parseRetryAfter('soon', now), undefined)
  })

  it('backs off exponentially with jitter, and retries only retryable network errors', async () => {
    for (let attempt = 1; attempt <= 4; attempt++) {
      const delay = backoffDelay(attempt, 100)
      assert.ok(delay >= 50 * 2 ** (attempt - 1) && delay <= 100 * 2 ** (attempt - 1), `attempt ${attempt}: ${delay}`)
    }

    let calls = 0
    const flaky = () => {
      calls++
      if (calls < 3) throw new NetworkError('503', 'server_error', {retryAfterMs: 1, retryable: true})
      return Promise.resolve('ok')
    }

    assert.equal(await withRetries(flaky, {retries: 3}), 'ok')
    assert.equal(calls, 3)
    calls = 0
    await assert.rejects(withRetries(async () => {
      calls++
      throw new ConfigError('no')
    }, {retries: 3}), ConfigError)
    assert.equal(calls, 1)
    await assert.rejects(withRetries(async () => {
      throw new NetworkError('slow down', 'server_error', {retryAfterMs: 120_000, retryable: true})
    }, {maxTotalWaitMs: 60_000, retries: 3}), /slow down/)
  })

  it('masks secrets in traces: never assertions or secrets, tokens as a prefix and a length', () => {
    const masked = maskParams(new URLSearchParams({access_token: 'eyJhbGciOiJSUzI1NiJ9.payload.sig', assertion: 'user-token', client_secret: 's3cret', scope: 'api'}))
    assert.equal(masked.client_secret, '<redacted>')
    assert.equal(masked.assertion, '<redacted>')
    assert.equal(masked.access_token, 'eyJhbGci…(32 chars)')
    assert.equal(masked.scope, 'api')
    assert.equal(maskUrl('https://user:pw@api.example.com/x?access_token=abcdefghijkl'), 'https://api.example.com/x?access_token=abcdefgh%E2%80%A6%2812+chars%29')
  })

  it('keys the cache on everything that makes tokens interchangeable, and on nothing else', () => {
    const base = {clientId: 'c', grant: 'client_credentials', params: [] as Array<[string, string]>, resources: ['r1', 'r2'], scopes: ['a', 'b'], server: 'https://idp/token'}
    assert.equal(cacheKey(base), cacheKey({...base, resources: ['r2', 'r1'], scopes: ['b', 'a']}))
    const variants = [{scopes: ['a']}, {resources: ['r1']}, {audience: 'x'}, {params: [['k', 'v']] as Array<[string, string]>}, {clientId: 'd'}, {server: 'https://other/token'}, {subject: 'sha'}]
    const keys = new Set([cacheKey(base), ...variants.map((variant) => cacheKey({...base, ...variant}))])
    assert.equal(keys.size, variants.length + 1)
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

  it('tells "refused" (4) from "sign in again" (5) as the contract does', () => {
    assert.equal(oauthErrorFromBody({error: 'invalid_grant'}, 400, 'obo').exitCode, ExitCode.refused)
    assert.equal(oauthErrorFromBody({error: 'invalid_grant'}, 400, 'refresh_token').exitCode, ExitCode.reauthenticate)
    assert.equal(oauthErrorFromBody({error: 'invalid_grant', suberror: 'consent_required'}, 400, 'obo').exitCode, ExitCode.reauthenticate)
    const mfa = oauthErrorFromBody({claims: '{"access_token":{}}', error: 'interaction_required', error_codes: [50076]}, 400, 'obo')
    assert.equal(mfa.exitCode, ExitCode.reauthenticate)
    assert.equal(mfa.details.claims, '{"access_token":{}}')
    assert.deepEqual(mfa.details.error_codes, [50076])
    assert.equal(oauthErrorFromBody({error: 'invalid_client'}, 401, 'client_credentials').exitCode, ExitCode.refused)
  })

  it('says when a time is, for people', () => {
    const now = Date.parse('2026-11-25T10:00:00Z')
    assert.equal(relativeTime(now + 53 * 60_000 + 5000, now), 'in 53m')
    assert.equal(relativeTime(now - 2 * 3_600_000, now), '2h ago')
    assert.equal(relativeTime(now + 30_000, now), 'in 30s')
    assert.equal(relativeTime(now + 3 * 86_400_000, now), 'in 3d')
  })
})
