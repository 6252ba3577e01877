/**
 * What `--verbose` may show of an exchange (src/lib/http/trace.ts), name by name and shape by shape.
 * test/e2e/redaction.test.ts proves the same names are masked in real runs; these tests pin the masks
 * themselves: a token's length and hash (never one of its characters), which schemes keep their
 * name, which userinfo a URL loses.
 */
import {strict as assert} from 'node:assert'

import {maskHeader, maskHeaders, maskParams, maskToken, maskUrl, maskValue, stripUrlCredentials} from '../../src/lib/http/trace.js'

const SECRET = 'S3CRET-value-0123456789abcdef'
/** SECRET as a trace shows a token: its length and the first 8 hex digits of `printf %s "$SECRET" | sha256sum`. */
const SECRET_MASKED = `<${SECRET.length} chars, sha256:0257ac76>`

/** Whether any start of `token`, one character or more, is in `text`. */
const showsAPrefix = (text: string, token: string) => [...token].some((_, end) => text.includes(token.slice(0, end + 1)))

/** Our own list, not the code's: a name dropped from the code's list shows up here as a value in clear. */
const NEVER_SHOWN = ['actor_token', 'assertion', 'client_assertion', 'client_secret', 'code', 'code_verifier', 'device_code', 'password', 'subject_token', 'value']
const TOKEN_LIKE = ['access_token', 'id_token', 'refresh_token', 'token']

describe('trace masks', () => {
  describe('parameters', () => {
    for (const name of NEVER_SHOWN) {
      it(`never shows ${name}, not even in part`, () => {
        assert.equal(maskValue(name, SECRET), '<redacted>')
        assert.deepEqual(maskParams([[name, SECRET]]), {[name]: '<redacted>'})
      })
    }

    for (const name of TOKEN_LIKE) {
      it(`shows ${name} as its length and a short SHA-256, never one of its characters`, () => {
        assert.equal(maskValue(name, SECRET), SECRET_MASKED)
        assert.ok(!showsAPrefix(maskValue(name, SECRET), SECRET), 'no start of the token, however short')
      })
    }

    it('a short token is shown by its length and hash too, never whole', () => {
      assert.equal(maskToken('abc'), '<3 chars, sha256:ba7816bf>')
      assert.equal(maskToken('abcdefgh'), '<8 chars, sha256:9c56cc51>')
      assert.equal(maskToken('abcdefghi'), '<9 chars, sha256:19cc02f2>')
      assert.equal(maskToken('Q'), '<1 chars, sha256:4ae81572>')
      assert.ok(!maskToken('Q').includes('Q'))
    })

    it('the prefix check itself sees a start of a token, however short', () => {
      assert.ok(showsAPrefix('x S3 y', SECRET))
      assert.ok(showsAPrefix('S', SECRET))
      assert.ok(!showsAPrefix('3CRET', SECRET))
    })

    it('names are matched exactly: a look-alike name is an ordinary parameter', () => {
      assert.equal(maskValue('Client_Secret', 'x'), 'x')
      assert.equal(maskValue('scope', 'openid offline_access'), 'openid offline_access')
      assert.equal(maskValue('token_type', 'Bearer'), 'Bearer')
    })

    it('shows other values up to 200 characters, then cut with an ellipsis', () => {
      assert.equal(maskValue('note', 'a'.repeat(200)), 'a'.repeat(200))
      assert.equal(maskValue('note', `${'a'.repeat(200)}b`), `${'a'.repeat(200)}…`)
      assert.equal(maskValue('note', ''), '')
    })

    it('shows values that are not strings as JSON (JSON response fields), masked by name all the same', () => {
      assert.equal(maskValue('expires_in', 3600), '3600')
      assert.equal(maskValue('authorization_details', [{type: 'x'}]), '[{"type":"x"}]')
      assert.equal(maskValue('access_token', {nested: SECRET}), `<${JSON.stringify({nested: SECRET}).length} chars, sha256:f69f6ff2>`)
      assert.equal(maskValue('client_secret', {nested: SECRET}), '<redacted>')
    })

    it('masks every parameter of a form, keeping their order and the others as they are', () => {
      const masked = maskParams(new URLSearchParams({grant_type: 'refresh_token', refresh_token: SECRET, client_secret: SECRET, scope: 'api'}))
      assert.deepEqual(Object.entries(masked), [
        ['grant_type', 'refresh_token'],
        ['refresh_token', SECRET_MASKED],
        ['client_secret', '<redacted>'],
        ['scope', 'api'],
      ])
      assert.deepEqual(maskParams([]), {})
    })
  })

  describe('headers', () => {
    it('a bearer or DPoP token keeps its scheme and shows as a length and a short hash, whatever the case', () => {
      assert.equal(maskHeader('Authorization', `Bearer ${SECRET}`), `Bearer ${SECRET_MASKED}`)
      assert.equal(maskHeader('authorization', `bearer ${SECRET}`), `bearer ${SECRET_MASKED}`)
      assert.equal(maskHeader('AUTHORIZATION', `DPoP ${SECRET}`), `DPoP ${SECRET_MASKED}`)
      assert.equal(maskHeader('Proxy-Authorization', `Bearer ${SECRET}`), `Bearer ${SECRET_MASKED}`)
      assert.equal(maskHeader('Authorization', `Bearer \t ${SECRET}`), `Bearer ${SECRET_MASKED}`, 'any whitespace separates')
      assert.ok(!showsAPrefix(maskHeader('Authorization', `Bearer ${SECRET}`), SECRET))
    })

    it('any other scheme shows its name only (Basic carries a client secret)', () => {
      const basic = Buffer.from(`client:${SECRET}`).toString('base64')
      assert.equal(maskHeader('Authorization', `Basic ${basic}`), 'Basic <redacted>')
      assert.equal(maskHeader('proxy-authorization', `Negotiate ${SECRET}`), 'Negotiate <redacted>')
      // Only the whole scheme name counts as bearer.
      assert.equal(maskHeader('Authorization', `NotBearer ${SECRET}`), 'NotBearer <redacted>')
      assert.equal(maskHeader('Authorization', `Bearers ${SECRET}`), 'Bearers <redacted>')
      assert.equal(maskHeader('Authorization', `XDPoP ${SECRET}`), 'XDPoP <redacted>')
      assert.equal(maskHeader('Authorization', `DPoPs ${SECRET}`), 'DPoPs <redacted>')
    })

    it('a credential header of one word is never shown', () => {
      assert.equal(maskHeader('Authorization', SECRET), '<redacted>')
      assert.equal(maskHeader('Proxy-Authorization', SECRET), '<redacted>')
      assert.equal(maskHeader('Authorization', ''), '<redacted>')
    })

    it('cookies are never shown, whatever the case of their name', () => {
      assert.equal(maskHeader('Cookie', `session=${SECRET}`), '<redacted>')
      assert.equal(maskHeader('set-cookie', `session=${SECRET}; HttpOnly`), '<redacted>')
      assert.equal(maskHeader('SET-COOKIE', `session=${SECRET}`), '<redacted>')
    })

    it('other headers are shown as they are', () => {
      assert.equal(maskHeader('Content-Type', 'application/x-www-form-urlencoded'), 'application/x-www-form-urlencoded')
      assert.equal(maskHeader('X-Authorization-Note', `Bearer ${SECRET}`), `Bearer ${SECRET}`)
    })

    it('maskHeaders lower-cases names and masks each value', () => {
      assert.deepEqual(
        maskHeaders([
          ['Authorization', `Bearer ${SECRET}`],
          ['Cookie', SECRET],
          ['Accept', 'application/json'],
        ]),
        {
          accept: 'application/json',
          authorization: `Bearer ${SECRET_MASKED}`,
          cookie: '<redacted>',
        },
      )
      assert.deepEqual(maskHeaders(new Headers({'X-Request-Id': 'abc'})), {'x-request-id': 'abc'})
    })
  })

  describe('URLs in texts', () => {
    it('drops user and password from every URL of a text, keeping the rest of it', () => {
      assert.equal(
        stripUrlCredentials('fetch https://user:pw@idp.example.com/token failed; proxy http://p:q@proxy:3128 too'),
        'fetch https://idp.example.com/token failed; proxy http://proxy:3128 too',
      )
    })

    it('knows schemes of any case and with digits, +, . and -', () => {
      assert.equal(stripUrlCredentials('HTTPS://user:pw@host/x'), 'HTTPS://host/x')
      assert.equal(stripUrlCredentials('rediss://ops:pw@cache:6380/2'), 'rediss://cache:6380/2')
      assert.equal(stripUrlCredentials('git+ssh://u:pw@h/r'), 'git+ssh://h/r')
      assert.equal(stripUrlCredentials('s3.x-1://u:pw@h'), 's3.x-1://h')
      assert.equal(stripUrlCredentials('redis://:pw@h'), 'redis://h')
    })

    it('takes the userinfo up to the last @ before the path, as a URL parser does', () => {
      assert.equal(stripUrlCredentials('https://user:p@ss@host/x'), 'https://host/x')
      assert.equal(stripUrlCredentials('https://us@er:p@ss@host'), 'https://host')
    })

    it('leaves an @ in the path, the query, the fragment or after a space alone', () => {
      for (const text of ['https://host/a@b', 'https://host?mail=a@b', 'https://host#a@b', 'https://host and me@example.com', 'mailto:me@example.com', 'no url@here']) {
        assert.equal(stripUrlCredentials(text), text)
      }
    })
  })

  describe('URLs in traces', () => {
    it('drops the userinfo and masks the query parameters by name', () => {
      assert.equal(
        maskUrl(`https://user:pw@api.example.com/x?access_token=${SECRET}&code=${SECRET}&page=2`),
        `https://api.example.com/x?access_token=%3C${SECRET.length}+chars%2C+sha256%3A0257ac76%3E&code=%3Credacted%3E&page=2`,
      )
    })

    it('drops the userinfo of URLs a parser reads though the text has no "://" (backslashes, missing slashes)', () => {
      for (const url of ['https:\\\\user:pw@host/x', 'https:user:pw@host/x', 'https:/user:pw@host/x']) {
        const masked = maskUrl(url)
        assert.equal(masked, 'https://host/x', url)
      }
    })

    it('drops a user without a password too', () => {
      assert.equal(maskUrl('https:user@host/x'), 'https://host/x')
    })

    it('says a URL is unparseable rather than repeating it', () => {
      assert.equal(maskUrl(`not a url ${SECRET}`), '<unparseable URL>')
    })
  })
})
