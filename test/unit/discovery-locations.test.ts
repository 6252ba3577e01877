import {strict as assert} from 'node:assert'
import {createServer} from 'node:http'

import {TokenctlError} from '../../src/lib/errors.js'
import {httpContext} from '../../src/lib/http/context.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {discover, discoveryLocations} from '../../src/lib/oauth/discovery.js'

const urls = (issuer: string) => discoveryLocations(new URL(issuer)).map(({url}) => url.href)

describe('discovery locations (OpenID Connect Discovery §4, then RFC 8414 §3.1)', () => {
  it('an issuer with a path: OIDC appended, RFC 8414 inserted between host and path, then appended', () => {
    assert.deepEqual(urls('https://as.example.com/tenant1'), [
      'https://as.example.com/tenant1/.well-known/openid-configuration',
      'https://as.example.com/.well-known/oauth-authorization-server/tenant1',
      'https://as.example.com/tenant1/.well-known/oauth-authorization-server',
    ])
  })

  it('a terminating "/" of the path is removed before the segment is inserted (RFC 8414 §3.1)', () => {
    assert.deepEqual(urls('https://as.example.com/realms/a/'), [
      'https://as.example.com/realms/a/.well-known/openid-configuration',
      'https://as.example.com/.well-known/oauth-authorization-server/realms/a',
      'https://as.example.com/realms/a/.well-known/oauth-authorization-server',
    ])
  })

  it('an issuer without a path: the inserted and appended forms are one URL, asked once', () => {
    for (const issuer of ['https://as.example.com', 'https://as.example.com/']) {
      assert.deepEqual(urls(issuer), ['https://as.example.com/.well-known/openid-configuration', 'https://as.example.com/.well-known/oauth-authorization-server'])
    }
  })

  it('openid-client builds the first two itself from the issuer (and checks the issuer); the appended one is given as is', () => {
    assert.deepEqual(
      discoveryLocations(new URL('https://as.example.com/t')).map(({algorithm}) => algorithm ?? 'as is'),
      ['oidc', 'oauth2', 'as is'],
    )
  })

  it('names the URLs openid-client really asks, in that order', async () => {
    const asked: string[] = []
    const server = createServer((req, res) => {
      asked.push(req.url ?? '')
      res.writeHead(404, {'content-type': 'application/json'}).end('{"error":"not_found"}')
    })
    const port = await listenOnLoopback(server)
    try {
      for (const path of ['', '/', '/tenant1', '/realms/a/']) {
        const issuer = new URL(`http://127.0.0.1:${port}${path}`)
        asked.length = 0
        const failure = await discover(issuer, httpContext({retries: 0, timeoutSeconds: 5})).catch((error: unknown) => error)
        assert.ok(failure instanceof TokenctlError && failure.code === 'no_discovery_document', String(failure))
        const expected = discoveryLocations(issuer).map(({url}) => url)
        assert.deepEqual(
          asked,
          expected.map((url) => url.pathname),
          path,
        )
        for (const url of expected) assert.ok(failure.message.includes(`${url.href} answered 404 {"error":"not_found"}`), failure.message)
      }
    } finally {
      await closeServer(server)
    }
  })

  it('what a server sent is quoted escaped and short: no control character reaches the terminal', async () => {
    const body = JSON.stringify({error: '\u001B[2J\u009B31mcleared', padding: 'x'.repeat(500)})
    const server = createServer((_req, res) => res.writeHead(404, {'content-type': 'application/json'}).end(body))
    const port = await listenOnLoopback(server)
    try {
      const failure = await discover(new URL(`http://127.0.0.1:${port}`), httpContext({retries: 0, timeoutSeconds: 5})).catch((error: unknown) => error)
      assert.ok(failure instanceof TokenctlError, String(failure))
      // eslint-disable-next-line no-control-regex -- the control characters the hostile server sent, which must not reach the message
      assert.doesNotMatch(failure.message, /[\u0000-\u001F\u007F-\u009F]/)
      assert.ok(failure.message.includes('answered 404 {"error":"\\u001b[2J\\u009b31mcleared"'), failure.message)
      assert.ok(!failure.message.includes('x'.repeat(100)), 'the body is cut short')
    } finally {
      await closeServer(server)
    }
  })
})
