import {strict as assert} from 'node:assert'

import {stripUrlCredentials} from '../../src/lib/http/trace.js'
import {accessTokenFrom, isTimeInRange, LATEST_EXPIRY_MS} from '../../src/lib/oauth/token.js'
import {escapeControls, escapeJsonText, escapeLines} from '../../src/lib/terminal-text.js'
import {assertNoTerminalControl, CONTROL_SAMPLES, HOSTILE_TEXT, HOSTILE_TEXT_ESCAPED} from '../helpers/terminal-control.js'

/** What a terminal acts on, listed code point by code point: C0, DEL and C1, then the Unicode format controls. */
const range = (from: number, to: number) => Array.from({length: to - from + 1}, (_, index) => from + index)
const C0 = range(0x00, 0x1f)
const DEL_C1 = range(0x7f, 0x9f)
const UNICODE_CONTROLS = [0x061c, 0x200e, 0x200f, 0x2028, 0x2029, ...range(0x202a, 0x202e), ...range(0x2066, 0x2069)]
const SHORT: Record<number, string> = {0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r'}
const hex = (code: number, width: number) => code.toString(16).padStart(width, '0')
/** Every code point of the Basic Multilingual Plane's first 0x3000 and a few beyond (astral, emoji): escaped or left. */
const CODE_POINTS = [...range(0, 0x2fff), 0xfeff, 0xfffd, 0x1f600, 0x10ffff]

describe('untrusted text and numbers (unit)', () => {
  it('escapeControls: exactly C0, DEL, C1 and the bidi and line-separator controls become visible escapes, each as its code says', () => {
    const controls = new Set([...C0, ...DEL_C1, ...UNICODE_CONTROLS])
    for (const code of CODE_POINTS) {
      const character = String.fromCodePoint(code)
      const expected = controls.has(code) ? (SHORT[code] ?? (code < 0x80 ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`)) : character
      assert.equal(escapeControls(`a${character}b${character}`), `a${expected}b${expected}`, `U+${hex(code, 4)}`)
    }
  })

  it('the hostile samples of the end-to-end tests: each class escaped, and the assertion that checks them catches each one raw', () => {
    assert.equal(escapeControls(HOSTILE_TEXT), HOSTILE_TEXT_ESCAPED)
    assertNoTerminalControl(HOSTILE_TEXT_ESCAPED, 'escaped')
    assertNoTerminalControl('line\nnext', 'our own line break')
    for (const sample of CONTROL_SAMPLES) {
      assert.throws(() => assertNoTerminalControl(`x${sample.raw}`, 'raw'), /raw control character U\+/, sample.name)
    }
  })

  it('escapeControls: C0, DEL, C1 and bidi controls become visible escapes; text and backslashes stay', () => {
    assert.equal(escapeControls('a\u001b[2Jb\u0007'), 'a\\x1b[2Jb\\x07')
    assert.equal(escapeControls('line\r\nnext\ttab'), 'line\\r\\nnext\\ttab')
    assert.equal(escapeControls('\u007f\u0080\u009b\u202e\u2028'), '\\x7f\\u0080\\u009b\\u202e\\u2028')
    assert.equal(escapeControls('Grüße, 東京, C:\\path'), 'Grüße, 東京, C:\\path')
  })

  it('escapeLines keeps our line breaks and escapes the rest of each line', () => {
    assert.equal(escapeLines('one\u001b\ntwo\r'), 'one\\x1b\ntwo\\r')
  })

  it('escapeJsonText: exactly what JSON.stringify leaves raw (DEL, C1, the bidi and line-separator controls) as \\u escapes', () => {
    const leftRaw = new Set([...DEL_C1, ...UNICODE_CONTROLS])
    for (const code of CODE_POINTS) {
      const json = JSON.stringify({text: `a${String.fromCodePoint(code)}b`})
      const escaped = escapeJsonText(json)
      if (leftRaw.has(code)) assert.equal(escaped, `{"text":"a\\u${hex(code, 4)}b"}`, `U+${hex(code, 4)}`)
      else assert.equal(escaped, json, `U+${hex(code, 4)}`)
      assert.equal(JSON.parse(escaped).text, `a${String.fromCodePoint(code)}b`)
    }
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
