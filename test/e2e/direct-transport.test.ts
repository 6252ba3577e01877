/**
 * A token request with nothing between tokenctl and the server goes straight over node:http(s)
 * (src/lib/http/direct.ts, through openid-client's customFetch); one with a proxy variable or --ca-file
 * goes through undici. Whichever way it went, the user must see the same thing: each answer below is
 * sent both ways, and the exit code, stdout (--json), stderr and the requests the server saw must be
 * identical — a token, an answer over the 1 MiB bound (announced and not), a body that is not JSON,
 * a redirect, no answer within --timeout, a connection cut in the middle of the answer and a 503
 * (both retried by the same policy), an https port that speaks http, a certificate no CA vouches
 * for. The module trace (bench/module-trace.*) proves which way each run went, and that a proxy
 * variable or --ca-file always takes undici's way (NO_PROXY, the proxy itself and the CAs are its).
 */
import {strict as assert} from 'node:assert'
import {createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {createServer as createHttpsServer} from 'node:https'
import type {AddressInfo, Socket} from 'node:net'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {expectExit} from '../helpers/assertions.js'
import {type CliOptions, type CliResult, runNode, tempHome} from '../helpers/cli.js'
import {type TestProxy, useProxy} from '../helpers/proxy.js'
import {resolverEnv} from '../helpers/resolver.js'
import {requireTestPki, type TestPki} from '../helpers/tls.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = join(ROOT, 'bin', 'run.js')
const MODULE_TRACE = join(ROOT, 'bench', 'module-trace.mjs')
const MODULE_TRACE_CJS = join(ROOT, 'bench', 'module-trace.cjs')
const TOKEN = 'parity-token.Abc-_~'
const GOOD = JSON.stringify({access_token: TOKEN, expires_in: 3600, token_type: 'Bearer'})
/** A name only the test proxy resolves (to 127.0.0.1): the request has to go through it. */
const REMOTE_NAME = 'parity.tokenctl.test'

type Answer = (request: IncomingMessage, response: ServerResponse, attempt: number) => void

/** A token endpoint answering what the test says, over http and over https (the throwaway CA's certificate). */
interface ScriptedServer {
  answer: Answer
  http: string
  https: string
  /** Requests that reached it since the last reset, as `METHOD path`. */
  seen: string[]
  stop(): Promise<void>
}

async function startScriptedServer(pki: TestPki): Promise<ScriptedServer> {
  const sockets = new Set<Socket>()
  const scripted: Partial<ScriptedServer> = {seen: []}
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    request.resume()
    request.on('end', () => {
      scripted.seen!.push(`${request.method} ${request.url}`)
      scripted.answer!(request, response, scripted.seen!.length)
    })
  }

  const servers: Server[] = [createHttpServer(handle), createHttpsServer({cert: pki.serverCert, key: pki.serverKey}, handle)]
  const urls: string[] = []
  for (const server of servers) {
    server.on('connection', (socket: Socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    urls.push(`127.0.0.1:${(server.address() as AddressInfo).port}`)
  }

  return Object.assign(scripted, {
    http: `http://${urls[0]}`,
    https: `https://${urls[1]}`,
    async stop() {
      for (const socket of sockets) socket.destroy()
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
    },
  }) as ScriptedServer
}

interface Run extends CliResult {
  /** undici was loaded: the request did not go straight over node:http(s). */
  undici: boolean
}

/** tokenctl ARGS with the module trace (bench/module-trace.*): which way the request went. */
async function traced(args: string[], options: CliOptions): Promise<Run> {
  const trace = join(tempHome(), 'modules.txt')
  const result = await runNode(['--no-warnings', '--require', MODULE_TRACE_CJS, '--loader', MODULE_TRACE, BIN, ...args], {...options, env: {...options.env, TOKENCTL_MODULE_TRACE: trace}})
  const modules = existsSync(trace) ? readFileSync(trace, 'utf8') : ''
  return {...result, undici: modules.includes('/node_modules/undici/')}
}

describe('a request straight over node:https answers as one through undici does (src/lib/http/direct.ts)', function () {
  this.timeout(120_000)
  let pki: TestPki
  let otherPki: TestPki
  let server: ScriptedServer

  before(async () => {
    pki = await requireTestPki({dnsNames: [REMOTE_NAME]})
    otherPki = await requireTestPki({caName: 'an unrelated CA'})
    server = await startScriptedServer(pki)
  })
  after(async () => {
    await server?.stop()
    pki?.remove()
    otherPki?.remove()
  })
  beforeEach(() => {
    server.seen.length = 0
    server.answer = (_request, response) => response.writeHead(200, {'content-type': 'application/json'}).end(GOOD)
  })

  const tokenClient = (endpoint: string, extra: string[] = []) => ['token', 'client', '--token-endpoint', `${endpoint}/token`, '--client-id', 'x', '--client-secret-env', 'S', '--no-cache', ...extra]

  /**
   * The same command straight (as given) and through undici (with `undiciWay` added: --ca-file or a
   * proxy variable), one after the other; both must say exactly the same and cause the same requests.
   */
  async function bothWays(args: string[], straight: CliOptions, undiciWay: {args?: string[]; env?: Record<string, string>}): Promise<[Run, Run]> {
    const options = (more: CliOptions) => ({...more, env: {S: 'secret', ...more.env}, home: tempHome()})
    const direct = await traced(args, options(straight))
    const directSeen = [...server.seen]
    server.seen.length = 0
    const viaUndici = await traced([...args, ...(undiciWay.args ?? [])], options({...straight, env: {...straight.env, ...undiciWay.env}}))
    assert.equal(direct.undici, false, `straight over node:http(s): ${direct.stderr}`)
    assert.equal(viaUndici.undici, true, `through undici: ${viaUndici.stdout} ${viaUndici.stderr}`)
    assert.deepEqual([direct.code, direct.stdout, direct.stderr], [viaUndici.code, viaUndici.stdout, viaUndici.stderr])
    assert.deepEqual(directSeen, server.seen, 'the same requests reached the server')
    return [direct, viaUndici]
  }

  /** Through undici for an http URL: a --ca-file changes nothing else there. */
  const withCaFile = () => ({args: ['--ca-file', otherPki.caCertPath]})

  it('a token: printed the same', async () => {
    const [direct] = await bothWays(tokenClient(server.http), {}, withCaFile())
    expectExit(direct, 0)
    assert.equal(direct.stdout, `${TOKEN}\n`)
  })

  it('a name that is not loopback, looked up by the system (a test resolver), its CA in NODE_EXTRA_CA_CERTS: straight, as through undici with --ca-file', async () => {
    const remote = `https://${REMOTE_NAME}:${new URL(server.https).port}`
    const env = {...resolverEnv({[REMOTE_NAME]: [['127.0.0.1']]}), NODE_EXTRA_CA_CERTS: pki.caCertPath}
    const [direct] = await bothWays(tokenClient(remote), {env}, {args: ['--ca-file', pki.caCertPath]})
    expectExit(direct, 0)
  })

  it('an answer over the 1 MiB bound, announced by Content-Length or not: exit 6, the same words, tried once', async () => {
    const big = JSON.stringify({access_token: TOKEN, padding: 'x'.repeat(1024 * 1024), token_type: 'Bearer'})
    for (const chunked of [false, true]) {
      server.answer = (_request, response) => {
        response.writeHead(200, {'content-type': 'application/json', ...(chunked ? {} : {'content-length': String(big.length)})})
        response.end(big)
      }

      const [direct] = await bothWays(tokenClient(server.http, ['--json']), {}, withCaFile())
      expectExit(direct, 6)
      assert.match(direct.stdout, /is larger than 1024 KiB: not what was asked for/)
      server.seen.length = 0
    }
  })

  it('a 200 whose body is not JSON, and a redirect (never followed): the same error', async () => {
    server.answer = (_request, response) => response.writeHead(200, {'content-type': 'text/html'}).end('<html>a sign-in page</html>')
    expectExit((await bothWays(tokenClient(server.http), {}, withCaFile()))[0], 6)
    server.seen.length = 0
    server.answer = (_request, response) => response.writeHead(302, {location: `${server.http}/elsewhere`}).end()
    const [direct] = await bothWays(tokenClient(server.http, ['--json']), {}, withCaFile())
    assert.notEqual(direct.code, 0)
    assert.deepEqual(server.seen, ['POST /token'], 'the redirect was not followed')
  })

  it('no answer within --timeout: the same words, not retried', async () => {
    server.answer = () => {}
    const [direct] = await bothWays(tokenClient(server.http, ['--timeout', '1', '--json']), {}, withCaFile())
    expectExit(direct, 6)
    assert.match(direct.stdout, /no answer from 127\.0\.0\.1:\d+ within 1 s/)
    assert.equal(server.seen.length, 1)
  })

  it('the retry policy: a connection cut mid-answer and a 503 are retried the same number of times, with the same outcome', async () => {
    server.answer = (_request, response, attempt) => {
      if (attempt === 1) {
        response.writeHead(200, {'content-length': '100', 'content-type': 'application/json'})
        response.write('{"access_')
        setTimeout(() => response.socket?.destroy(), 20)
      } else if (attempt === 2) {
        response.writeHead(503, {'content-type': 'application/json', 'retry-after': '0'}).end('{"error":"temporarily_unavailable"}')
      } else {
        response.writeHead(200, {'content-type': 'application/json'}).end(GOOD)
      }
    }

    const [direct] = await bothWays(tokenClient(server.http), {}, withCaFile())
    expectExit(direct, 0)
    assert.equal(server.seen.length, 3)
    server.seen.length = 0
    server.answer = (_request, response) => {
      response.writeHead(200, {'content-length': '100'})
      response.write('{"access_')
      setTimeout(() => response.socket?.destroy(), 20)
    }

    const [cut] = await bothWays(tokenClient(server.http, ['--json']), {}, withCaFile())
    expectExit(cut, 6)
    assert.match(cut.stdout, /cannot reach 127\.0\.0\.1:\d+: ECONNRESET: the connection closed in the middle of the answer/)
    assert.equal(server.seen.length, 4, "the first attempt and the policy's 3 retries")
  })

  it('TLS: NODE_EXTRA_CA_CERTS (straight) and --ca-file (undici) trust the CA alike; without it, and https to an http port, the same failure', async () => {
    const [trusted] = await bothWays(tokenClient(server.https), {env: {NODE_EXTRA_CA_CERTS: pki.caCertPath}}, {args: ['--ca-file', pki.caCertPath]})
    expectExit(trusted, 0)
    server.seen.length = 0
    const [untrusted] = await bothWays(tokenClient(server.https, ['--json']), {}, withCaFile())
    expectExit(untrusted, 6)
    assert.match(untrusted.stdout, /"code": "tls_error"/)
    const httpPort = new URL(server.http).port
    const [plain] = await bothWays(tokenClient(`https://127.0.0.1:${httpPort}`, ['--json']), {}, withCaFile())
    assert.match(plain.stdout, new RegExp(`TLS failure talking to 127\\.0\\.0\\.1:${httpPort}: ERR_SSL_WRONG_VERSION_NUMBER: wrong version number`))
  })

  describe('a proxy variable: always undici, which honours the proxy and NO_PROXY', () => {
    let proxy: TestProxy
    useProxy(
      (started) => {
        proxy = started
      },
      {hosts: {[REMOTE_NAME]: '127.0.0.1'}},
    )

    it('HTTPS_PROXY carries the request (a CONNECT); NO_PROXY naming the host goes around the proxy, through undici all the same', async () => {
      const remote = `https://${REMOTE_NAME}:${new URL(server.https).port}`
      const env = {...resolverEnv({[REMOTE_NAME]: [['127.0.0.1']]}), HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: pki.caCertPath, S: 'secret'}
      const throughProxy = await traced(tokenClient(remote), {env, home: tempHome()})
      expectExit(throughProxy, 0)
      assert.equal(throughProxy.undici, true)
      assert.deepEqual(proxy.handled(), [`CONNECT ${REMOTE_NAME}:${new URL(server.https).port}`])
      const around = await traced(tokenClient(remote), {env: {...env, NO_PROXY: REMOTE_NAME}, home: tempHome()})
      expectExit(around, 0)
      assert.equal(around.undici, true)
      assert.equal(proxy.requests.length, 1, 'not through the proxy')
      assert.deepEqual(server.seen, ['POST /token', 'POST /token'])
    })
  })
})
