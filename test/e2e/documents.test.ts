/**
 * What tokenctl keeps and reads of servers' documents, end to end with the built CLI: token verify's
 * key sets through jose's remote key set (fetched once per run at most, unless a cached set lacks
 * the key), one 24 h rule for cached key sets and metadata (a fetch time in the future is stale), and
 * the policy's bound on every token answer and document (1 MiB: more is refused, exit 6, and not
 * read on).
 */
import {strict as assert} from 'node:assert'
import {readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {join} from 'node:path'

import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type CliResult, cliWithHome, runCli} from '../helpers/cli.js'
import {type HostileServer, useHostileServer} from '../helpers/hostile-server.js'
import {startTestIssuer, type TestIssuer} from '../helpers/jwt-issuer.js'

const HOUR_MS = 60 * 60 * 1000
const MIB = 1024 * 1024

/** The signature line of `token verify`'s output. */
function signatureLine(result: CliResult): string {
  const line = result.stdout.split('\n').find((candidate) => candidate.startsWith('signature'))
  assert.ok(line, `no signature line in:\n${result.stdout}\nstderr: ${result.stderr}`)
  return line
}

/** The one cached file of a folder of TOKENCTL_HOME's cache. */
function cachedFile(home: string, folder: 'jwks' | 'metadata'): string {
  const directory = join(home, 'cache', folder)
  const files = readdirSync(directory).filter((name) => name.endsWith('.json'))
  assert.equal(files.length, 1, `one file in ${directory}: ${files.join(', ')}`)
  return join(directory, files[0])
}

/** Rewrites a cached entry's fetchedAt. */
function fetchedAt(file: string, when: number): void {
  const entry = JSON.parse(readFileSync(file, 'utf8')) as {fetchedAt: number}
  writeFileSync(file, JSON.stringify({...entry, fetchedAt: when}))
}

describe("servers' documents: key sets, the 24 h rule, the bound on answers (end to end)", function () {
  this.timeout(90_000)

  describe("key sets through jose's remote key set", () => {
    let issuer: TestIssuer
    beforeEach(async () => {
      issuer = await startTestIssuer()
    })
    afterEach(async () => {
      await issuer.stop()
    })

    const verify = (cli: ReturnType<typeof cliWithHome>, token: string) => cli.run(['token', 'verify', '--issuer', issuer.issuer], {input: token})

    it('a kid the set just fetched does not hold: one request, not two (only a cached set is fetched again)', async () => {
      const stranger = await startTestIssuer()
      try {
        const result = await verify(cliWithHome(), await stranger.sign({iss: issuer.issuer}))
        expectExit(result, 9)
        assert.match(signatureLine(result), /no key with kid \S+ in the JWKS at \S+ \(fetched\): the token was not issued by this issuer/)
        assert.equal(issuer.jwksRequests, 1)
      } finally {
        await stranger.stop()
      }
    })

    it('the cache is written 0600 whatever the umask, and read back by the next run', async () => {
      const cli = cliWithHome({umask: 0})
      expectExit(await verify(cli, await issuer.sign()), 0)
      assert.equal(statSync(cachedFile(cli.home, 'jwks')).mode & 0o777, 0o600)
      const again = await verify(cli, await issuer.sign())
      expectExit(again, 0)
      assert.match(signatureLine(again), /\(cache\)$/)
      assert.equal(issuer.jwksRequests, 1)
    })

    it('one 24 h rule: 23 h old is fresh, 25 h old and a fetchedAt in the future are fetched again (and rewritten)', async () => {
      const cli = cliWithHome()
      expectExit(await verify(cli, await issuer.sign()), 0)
      const file = cachedFile(cli.home, 'jwks')

      fetchedAt(file, Date.now() - 23 * HOUR_MS)
      assert.match(signatureLine(await verify(cli, await issuer.sign())), /\(cache\)$/)
      assert.equal(issuer.jwksRequests, 1, '23 h old: fresh')

      fetchedAt(file, Date.now() - 25 * HOUR_MS)
      assert.match(signatureLine(await verify(cli, await issuer.sign())), /\(fetched\)$/)
      assert.equal(issuer.jwksRequests, 2, '25 h old: fetched again')

      fetchedAt(file, Date.now() + HOUR_MS)
      assert.match(signatureLine(await verify(cli, await issuer.sign())), /\(fetched\)$/)
      assert.equal(issuer.jwksRequests, 3, 'from the future: nothing proves its age')
      const rewritten = JSON.parse(readFileSync(file, 'utf8')) as {fetchedAt: number}
      assert.ok(Math.abs(Date.now() - rewritten.fetchedAt) < 60_000, 'the set fetched again was cached with a new fetchedAt')
    })

    it('discovery metadata follows the same rule: a fetchedAt in the future is discovered again', async () => {
      const cli = cliWithHome()
      expectExit(await verify(cli, await issuer.sign()), 0)
      assert.equal(issuer.discoveryRequests, 1)
      expectExit(await verify(cli, await issuer.sign()), 0)
      assert.equal(issuer.discoveryRequests, 1, 'cached')
      fetchedAt(cachedFile(cli.home, 'metadata'), Date.now() + HOUR_MS)
      expectExit(await verify(cli, await issuer.sign()), 0)
      assert.equal(issuer.discoveryRequests, 2, 'from the future: discovered again')
    })
  })

  describe('no answer is read beyond 1 MiB', () => {
    let hostile: HostileServer
    useHostileServer((started) => {
      hostile = started
    })

    it('a token response over 1 MiB (openid-client reads it through our fetch): exit 6 invalid_response naming the bound, not retried', async () => {
      hostile.token = {headers: {'content-type': 'application/json'}, raw: JSON.stringify({access_token: 'x'.repeat(MIB), expires_in: 3600, token_type: 'Bearer'})}
      const result = await runCli(['token', 'client', '--token-endpoint', hostile.tokenEndpoint, '--client-id', 'worker', '--client-secret-env', 'S', '--no-cache', '--json'], {
        env: {S: 'secret'},
      })
      expectExit(result, 6)
      const {error} = json(result)
      assert.equal(error.code, 'invalid_response')
      assert.match(error.message, /is larger than 1024 KiB/)
      assert.equal(hostile.tokenRequests().length, 1)
    })

    /** Discovery and a key set that never end (chunked, no Content-Length): what is read is counted. */
    async function endlessServer(endless: 'discovery' | 'keys'): Promise<{issuer: string; sent: () => number; server: Server}> {
      let sent = 0
      let issuer = ''
      const server = createServer((req, res) => {
        const document = req.url === '/.well-known/openid-configuration'
        if (!document && req.url !== '/keys') {
          res.writeHead(404).end()
          return
        }

        res.writeHead(200, {'content-type': 'application/json'})
        if ((document && endless === 'keys') || (!document && endless === 'discovery')) {
          res.end(JSON.stringify({issuer, jwks_uri: `${issuer}/keys`, response_types_supported: ['code'], token_endpoint: `${issuer}/token`}))
          return
        }

        res.write(document ? '{"issuer":"' : '{"keys":[{"kty":"')
        const chunk = 'x'.repeat(64 * 1024)
        const more = () => {
          while (!res.destroyed && sent < 64 * MIB) {
            sent += chunk.length
            if (!res.write(chunk)) {
              res.once('drain', more)
              return
            }
          }
        }

        more()
      })
      issuer = `http://127.0.0.1:${await listenOnLoopback(server)}`
      return {issuer, sent: () => sent, server}
    }

    it('a key set that never ends: exit 6 invalid_response, the download stopped near the bound', async () => {
      const {issuer, sent, server} = await endlessServer('keys')
      try {
        const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
        const token = `${segment({alg: 'RS256', kid: 'k'})}.${segment({iss: issuer})}.c2ln`
        const result = await runCli(['token', 'verify', '--issuer', issuer, '--json'], {input: token})
        expectExit(result, 6)
        assert.equal(json(result).error.code, 'invalid_response')
        assert.match(json(result).error.message, /larger than 1024 KiB/)
        assert.ok(sent() < 16 * MIB, `the server sent ${sent()} bytes before tokenctl stopped reading`)
      } finally {
        await closeServer(server)
      }
    })

    it('a discovery document that never ends: exit 6 invalid_response, not "no discovery document"', async () => {
      const {issuer, sent, server} = await endlessServer('discovery')
      try {
        const result = await runCli(['token', 'client', '--issuer', issuer, '--client-id', 'worker', '--client-secret-env', 'S', '--no-cache', '--json'], {env: {S: 'secret'}})
        expectExit(result, 6)
        assert.equal(json(result).error.code, 'invalid_response')
        assert.match(json(result).error.message, /larger than 1024 KiB/)
        assert.ok(sent() < 16 * MIB, `the server sent ${sent()} bytes before tokenctl stopped reading`)
      } finally {
        await closeServer(server)
      }
    })
  })
})
