/**
 * A request straight over node:http(s) (src/lib/http/direct.ts), answered as fetch answers: against a
 * local server that records what it received, each rule of fetch that token and document requests
 * rely on — the request as given, redirects not followed, the body bound, the AbortSignal, --timeout,
 * a cut connection — and what it leaves to fetch.
 */
import {strict as assert} from 'node:assert'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo, Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {rootCertificates} from 'node:tls'

import {NetworkError} from '../../src/lib/errors.js'
import {closeConnections} from '../../src/lib/http/connections.js'
import {directFetch, sendsDirectly} from '../../src/lib/http/direct.js'
import {createFetch, type HttpOptions} from '../../src/lib/http/fetch.js'

interface Received {
  body: string
  headers: IncomingMessage['headers']
  method: string
  url: string
}

describe('a request straight over node:http (direct.ts)', () => {
  let server: Server
  let base: string
  let answer: (request: IncomingMessage, response: ServerResponse) => void
  const received: Received[] = []
  const sockets = new Set<Socket>()

  before(async () => {
    server = createServer((request, response) => {
      let body = ''
      request.setEncoding('utf8')
      request.on('data', (chunk: string) => (body += chunk))
      request.on('end', () => {
        received.push({body, headers: request.headers, method: request.method!, url: request.url!})
        answer(request, response)
      })
    })
    server.on('connection', (socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  beforeEach(() => {
    received.length = 0
    answer = (_request, response) => response.writeHead(200, {'content-type': 'application/json'}).end('{"ok":true}')
  })
  afterEach(() => closeConnections())

  const manual = (init: RequestInit = {}): RequestInit => ({redirect: 'manual', ...init})

  it('sends the method, the headers and a form as fetch does, and answers a Response with the status, headers and body', async () => {
    answer = (_request, response) => response.writeHead(201, 'Made', {'content-type': 'application/json', 'x-answer': 'a'}).end('{"access_token":"t"}')
    const response = await directFetch()(
      `${base}/token?q=1`,
      manual({body: new URLSearchParams({grant_type: 'client_credentials', scope: 'a b'}), headers: {accept: 'application/json', authorization: 'Basic eDp5'}, method: 'POST'}),
    )
    assert.equal(Object.prototype.toString.call(response), '[object Response]', 'a Response to openid-client (src/lib/http/answer.ts)')
    assert.deepEqual([response.status, response.statusText, response.ok], [201, 'Made', true])
    assert.equal(response.headers.get('x-answer'), 'a')
    assert.deepEqual(await response.json(), {access_token: 't'})
    const [request] = received
    assert.deepEqual([request.method, request.url, request.body], ['POST', '/token?q=1', 'grant_type=client_credentials&scope=a+b'])
    assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded;charset=UTF-8')
    assert.equal(request.headers['content-length'], String(request.body.length), 'a length, not chunks')
    assert.equal(request.headers.authorization, 'Basic eDp5')
    assert.equal(request.headers.accept, 'application/json')
  })

  it('takes headers as an object, pairs or Headers; text and bytes as bodies; a content type given is kept', async () => {
    const send = directFetch()
    await send(base, manual({body: 'text', headers: [['x-a', '1']], method: 'PUT'}))
    await send(base, manual({body: new TextEncoder().encode('bytes'), headers: new Headers({'x-b': '2'}), method: 'POST'}))
    await send(base, manual({body: '{}', headers: {'Content-Type': 'application/json'}, method: 'POST'}))
    await send(base, manual())
    assert.deepEqual(
      received.map(({body, headers, method}) => [method, body, headers['content-type'], headers['x-a'] ?? headers['x-b']]),
      [
        ['PUT', 'text', 'text/plain;charset=UTF-8', '1'],
        ['POST', 'bytes', undefined, '2'],
        ['POST', '{}', 'application/json', undefined],
        ['GET', '', undefined, undefined],
      ],
    )
  })

  it('never follows a redirect: the 302 is the answer', async () => {
    answer = (_request, response) => response.writeHead(302, {location: '/elsewhere'}).end()
    const response = await directFetch()(`${base}/.well-known/openid-configuration`, manual())
    assert.equal(response.status, 302)
    assert.equal(response.headers.get('location'), '/elsewhere')
    assert.deepEqual(
      received.map(({url}) => url),
      ['/.well-known/openid-configuration'],
    )
  })

  it("an answer no Response can be made with keeps its status (fetch passes a server's 999 on as it came); 204 has no body", async () => {
    answer = (_request, response) => response.writeHead(999).end('odd')
    const odd = await directFetch()(base, manual())
    assert.deepEqual([odd.status, odd.ok], [999, false])
    assert.equal(await odd.text(), 'odd')
    answer = (_request, response) => response.writeHead(204).end()
    const empty = await directFetch()(base, manual())
    assert.deepEqual([empty.status, empty.body], [204, null])
  })

  it('holds the body to the bound: an announced length beyond it, or a body that grows beyond it, fails with tooLarge', async () => {
    const send = directFetch({maxBodyBytes: 10})
    answer = (_request, response) => response.writeHead(200, {'content-type': 'application/json'}).end('0123456789')
    assert.equal(await (await send(`${base}/exact`, manual())).text(), '0123456789')
    answer = (_request, response) => response.writeHead(200, {'content-length': '11'}).end('0123456789a')
    await assert.rejects(
      send(`${base}/announced`, manual()),
      (error: unknown) => error instanceof NetworkError && error.message === `the answer from ${base}/announced is larger than ${10 / 1024} KiB: not what was asked for`,
    )
    answer = (_request, response) => {
      response.writeHead(200)
      response.write('0123456')
      setTimeout(() => response.end('789a'), 20)
    }

    await assert.rejects(send(`${base}/grows`, manual()), (error: unknown) => error instanceof NetworkError && error.code === 'invalid_response')
  })

  it('a signal aborts the request with its own reason, as fetch does; an aborted signal sends nothing', async () => {
    answer = () => {}
    const signal = AbortSignal.timeout(100)
    await assert.rejects(directFetch()(base, manual({signal})), (error: Error) => error.name === 'TimeoutError' && error === signal.reason)
    const aborted = AbortSignal.abort(new Error('given up'))
    const before = received.length
    await assert.rejects(directFetch()(base, manual({signal: aborted})), {message: 'given up'})
    assert.equal(received.length, before)
  })

  it('--timeout bounds the wait for an answer (a TimeoutError, as an AbortSignal says it)', async () => {
    answer = () => {}
    const started = Date.now()
    await assert.rejects(directFetch({timeoutSeconds: 0.2})(base, manual()), (error: Error) => error.name === 'TimeoutError' && error.message === 'no answer within 0.2 s')
    assert.ok(Date.now() - started >= 150)
  })

  it("fails as fetch fails: a TypeError whose cause is the system's error (nothing listening, a connection cut mid-answer)", async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    await assert.rejects(
      directFetch()(`http://127.0.0.1:${port}/`, manual()),
      (error: Error) => error instanceof TypeError && error.message === 'fetch failed' && (error.cause as NodeJS.ErrnoException).code === 'ECONNREFUSED',
    )

    answer = (_request, response) => {
      response.writeHead(200, {'content-length': '100'})
      response.write('partial')
      setTimeout(() => response.socket?.destroy(), 20)
    }

    await assert.rejects(directFetch()(base, manual()), (error: Error) => error instanceof TypeError && (error.cause as NodeJS.ErrnoException).code === 'ECONNRESET')
  })

  it("keeps the connection for the command's next request, and closes it when the command ends", async () => {
    const send = directFetch()
    await send(base, manual())
    await send(base, manual())
    assert.equal(sockets.size, 1, 'one connection for both')
    await closeConnections()
    for (let waited = 0; sockets.size > 0 && waited < 2000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.equal(sockets.size, 0)
  })

  it('leaves to fetch what it does not send as fetch would: a redirect to follow, a stream, a URL with credentials', () => {
    const url = new URL(base)
    assert.equal(sendsDirectly(url, manual({body: 'x'})), true)
    assert.equal(sendsDirectly(url, manual({body: new URLSearchParams()})), true)
    assert.equal(sendsDirectly(url, manual({body: new Uint8Array(1)})), true)
    assert.equal(sendsDirectly(url, manual({body: null})), true)
    assert.equal(sendsDirectly(url, {}), false)
    assert.equal(sendsDirectly(url, {redirect: 'follow'}), false)
    assert.equal(sendsDirectly(url, {redirect: 'error'}), false)
    assert.equal(sendsDirectly(url, manual({body: new ReadableStream()})), false)
    assert.equal(sendsDirectly(url, manual({body: new Blob(['x'])})), false)
    assert.equal(sendsDirectly(new URL('http://user:pw@127.0.0.1/'), manual()), false)
    assert.equal(sendsDirectly(new URL('http://user@127.0.0.1/'), manual()), false)
  })
})

describe('which way createFetch sends a request (fetch.ts)', () => {
  let server: Server
  let base: string
  const seen: Array<IncomingMessage['headers']> = []

  before(async () => {
    server = createServer((request, response) => {
      seen.push(request.headers)
      request.resume()
      response.writeHead(200, {'content-type': 'application/json'}).end('{}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    await closeConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  /** Whether the request went through undici: its fetch sends the Fetch standard's sec-fetch-mode, node:http nothing of the kind. */
  async function throughUndici(options: HttpOptions): Promise<boolean> {
    seen.length = 0
    const fetch = await createFetch({maxBodyBytes: 1024, timeoutSeconds: 5, ...options})
    await (await fetch(`${base}/token`, {body: 'a=b', method: 'POST', redirect: 'manual'})).text()
    return seen[0]['sec-fetch-mode'] !== undefined
  }

  it('straight when nothing stands between; through undici for any option only undici honours (--ca-file, one added later)', async () => {
    assert.equal(await throughUndici({}), false)
    const caFile = join(mkdtempSync(join(tmpdir(), 'tokenctl-ca-')), 'ca.pem')
    writeFileSync(caFile, rootCertificates[0])
    assert.equal(await throughUndici({caFile}), true)
    // An option this module does not know yet (mutual TLS's client certificate…) is undici's to honour, never ignored.
    assert.equal(await throughUndici({clientCertificate: {}} as HttpOptions), true)
  })
})
