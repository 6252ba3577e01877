/**
 * `dev idp` serves this machine only (src/lib/devidp/local-only.ts): the Host and Origin rules, and
 * oidc-provider's own CORS setting (`clientBasedCORS`), checked on the provider alone, without the
 * rules in front of it. test/e2e/dev-idp.test.ts sends the same requests to `tokenctl dev idp`.
 */
import {strict as assert} from 'node:assert'
import {createServer, request as httpRequest, type Server} from 'node:http'

import {isLoopbackHostHeader, isOwnOrigin, refusal} from '../../src/lib/devidp/local-only.js'
import {type DevIdp, startDevIdp} from '../../src/lib/devidp/server.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'

describe('dev idp: this machine only (unit)', () => {
  it('a loopback Host: localhost (and names under it), 127.0.0.0/8, [::1], with or without a port; nothing else', () => {
    for (const host of ['localhost', 'localhost:8400', 'LocalHost:1', 'api.localhost:8400', '127.0.0.1:8400', '127.255.0.9', '[::1]:8400', '[::1]', '[::ffff:127.0.0.1]:80']) {
      assert.equal(isLoopbackHostHeader(host), true, host)
    }

    for (const host of [
      undefined,
      '',
      'evil.example',
      'evil.example:8400',
      '127.0.0.1.nip.io:8400',
      'localhost.evil.example',
      '128.0.0.1:8400',
      '[::2]:8400',
      '10.0.0.1',
      'user@127.0.0.1',
      '127.0.0.1:8400/x',
      '127.0.0.1:',
      '127.0.0.1:123456',
      ':8400',
      '[::1',
    ]) {
      assert.equal(isLoopbackHostHeader(host), false, String(host))
    }
  })

  it('its own origin is the scheme and Host the request was sent to, and only that', () => {
    assert.equal(isOwnOrigin('http://127.0.0.1:8400', 'http', '127.0.0.1:8400'), true)
    assert.equal(isOwnOrigin('http://localhost:8400', 'http:', 'LOCALHOST:8400'), true)
    assert.equal(isOwnOrigin('https://127.0.0.1', 'https', '127.0.0.1:443'), true)
    assert.equal(isOwnOrigin('http://127.0.0.1:8400', 'https', '127.0.0.1:8400'), false)
    assert.equal(isOwnOrigin('http://localhost:8400', 'http', '127.0.0.1:8400'), false)
    assert.equal(isOwnOrigin('http://127.0.0.1:8401', 'http', '127.0.0.1:8400'), false)
    assert.equal(isOwnOrigin('https://evil.example', 'http', '127.0.0.1:8400'), false)
    assert.equal(isOwnOrigin('null', 'http', '127.0.0.1:8400'), false)
    assert.equal(isOwnOrigin('http://127.0.0.1:8400', 'http', undefined), false)
    assert.equal(isOwnOrigin('http://127.0.0.1:8400', 'http', 'x@127.0.0.1:8400'), false)
  })

  it('refuses by Host first (421), then by Origin (403); no Origin, or its own, goes on', () => {
    const of = (headers: Record<string, string>) => refusal({headers}, 'http')
    assert.equal(of({host: 'evil.example:8400', origin: 'http://evil.example:8400'})?.status, 421)
    assert.equal(of({})?.status, 421)
    assert.deepEqual(of({host: '127.0.0.1:8400', origin: 'https://evil.example'}), {
      status: 403,
      text: 'dev idp answers no other origin: only its own pages may call it from a browser',
    })
    assert.equal(of({host: '127.0.0.1:8400'}), undefined)
    assert.equal(of({host: '127.0.0.1:8400', origin: 'http://127.0.0.1:8400'}), undefined)
    assert.equal(refusal({headers: {host: '127.0.0.1:8400', origin: 'http://127.0.0.1:8400'}}, 'https')?.status, 403)
  })

  describe("oidc-provider's clientBasedCORS, without the rules in front (as if they were lost)", () => {
    let idp: DevIdp
    let bare: Server
    let url: string
    before(async () => {
      idp = await startDevIdp()
      bare = createServer(idp.provider.callback())
      url = `http://127.0.0.1:${await listenOnLoopback(bare)}`
    })
    after(async () => {
      await Promise.all([closeServer(bare), idp.stop()])
    })

    const tokenRequest = (origin?: string) =>
      new Promise<{status: number; allowOrigin: unknown; body: string}>((resolve, reject) => {
        const headers: Record<string, string> = {
          authorization: `Basic ${Buffer.from('worker:worker-secret').toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          ...(origin ? {origin} : {}),
        }
        const request = httpRequest(`${url}/token`, {agent: false, headers, method: 'POST'}, (response) => {
          let body = ''
          response.setEncoding('utf8')
          response.on('data', (chunk: string) => (body += chunk))
          response.on('end', () => resolve({status: response.statusCode ?? 0, allowOrigin: response.headers['access-control-allow-origin'], body}))
        })
        request.on('error', reject)
        request.end('grant_type=client_credentials')
      })

    it('the token endpoint refuses another origin (invalid_request, no CORS header) and grants its own', async () => {
      const foreign = await tokenRequest('https://evil.example')
      assert.equal(foreign.status, 400)
      assert.equal(foreign.allowOrigin, undefined)
      assert.match(JSON.parse(foreign.body).error_description, /origin https:\/\/evil\.example not allowed for client: worker/)
      assert.doesNotMatch(foreign.body, /access_token/)

      const own = await tokenRequest(url)
      assert.equal(own.status, 200, own.body)
      assert.equal(own.allowOrigin, url)
      assert.equal((await tokenRequest()).status, 200, 'a program sends no Origin')
    })
  })
})
