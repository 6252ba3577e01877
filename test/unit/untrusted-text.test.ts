import {strict as assert} from 'node:assert'

import {stripUrlCredentials} from '../../src/lib/http/trace.js'
import {accessTokenFrom, isTimeInRange, LATEST_EXPIRY_MS} from '../../src/lib/oauth/token.js'
import {escapeControls, escapeJsonText, escapeLines} from '../../src/lib/terminal-text.js'

describe('untrusted text and numbers (unit)', () => {
  it('escapeControls: C0, DEL, C1 and bidi controls become visible escapes; text and backslashes stay', () => {
    assert.equal(escapeControls('a\u001b[2Jb\u0007'), 'a\\x1b[2Jb\\x07')
    assert.equal(escapeControls('line\r\nnext\ttab'), 'line\\r\\nnext\\ttab')
    assert.equal(escapeControls('\u007f\u0080\u009b\u202e\u2028'), '\\x7f\\u0080\\u009b\\u202e\\u2028')
    assert.equal(escapeControls('Grüße, 東京, C:\\path'), 'Grüße, 東京, C:\\path')
  })

  it('escapeLines keeps our line breaks and escapes the rest of each line', () => {
    assert.equal(escapeLines('one\u001b\ntwo\r'), 'one\\x1b\ntwo\\r')
  })

  it('escapeJsonText: what JSON.stringify leaves raw, as \\u escapes that parse back to the same text', () => {
    const value = {text: 'a\u009b31m\u007f\u202e\u001b'}
    const escaped = escapeJsonText(JSON.stringify(value))
    assert.equal(escaped, '{"text":"a\\u009b31m\\u007f\\u202e\\u001b"}')
    assert.deepEqual(JSON.parse(escaped), value)
  })

  it('stripUrlCredentials removes userinfo up to the last @ before the path, in any text', () => {
    assert.equal(stripUrlCredentials('failed: https://ops:hunter2@host.example/token'), 'failed: https://host.example/token')
    assert.equal(stripUrlCredentials('redis://u:p@ss@cache:6379/1 and http://tok@h/x'), 'redis://cache:6379/1 and http://h/x')
    assert.equal(stripUrlCredentials('https://graph.example/users/me@contoso.com'), 'https://graph.example/users/me@contoso.com')
  })

  it('accessTokenFrom refuses out-of-range expiries and tokens outside RFC 6750; accepts the edges', () => {
    const now = Date.UTC(2030, 0, 1)
    const response = (extra: object) => ({access_token: 'a.b-c_d~e+f/g==', token_type: 'bearer', ...extra})
    assert.equal(accessTokenFrom(response({expires_in: 0}), now).expires_at, now)
    assert.equal(accessTokenFrom(response({expires_in: (LATEST_EXPIRY_MS - now) / 1000}), now).expires_at, LATEST_EXPIRY_MS)
    for (const expires_in of [1e20, -1, Number.NaN, (LATEST_EXPIRY_MS - now) / 1000 + 1]) {
      assert.throws(() => accessTokenFrom(response({expires_in}), now), {code: 'invalid_response', exitCode: 6}, String(expires_in))
    }

    for (const access_token of ['a b', 'a\nb', '=a', 'a=b', '', 'ä']) {
      assert.throws(() => accessTokenFrom(response({access_token}), now), {code: 'invalid_response'}, JSON.stringify(access_token))
    }

    assert.equal(accessTokenFrom(response({token_type: 'n_a'}), now).token_type, 'N_A')
    assert.equal(isTimeInRange(-1), false)
    assert.equal(isTimeInRange(Number.POSITIVE_INFINITY), false)
  })
})
