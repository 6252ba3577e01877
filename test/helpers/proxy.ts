/**
 * A small real forward proxy for end-to-end tests (node:http + node:net, no package), on 127.0.0.1:0:
 * absolute-form requests (`POST http://host:port/path`) are forwarded, `CONNECT host:port` is
 * tunnelled. It records every request it handled, so a test can prove that HTTPS_PROXY, HTTP_PROXY
 * and NO_PROXY were (or were not) honoured:
 *
 *   const proxy = await startProxy()
 *   await runCli([...], {env: {HTTP_PROXY: proxy.url}})
 *   assert.deepEqual(proxy.handled(), [`POST ${server.tokenEndpoint}`])
 *   await proxy.stop()
 *
 * Since tokenctl never sends loopback traffic through a proxy, a test that wants to go through one
 * names a destination that is not loopback, which only the proxy resolves:
 * `startProxy({hosts: {'auth.tokenctl.test': '127.0.0.1'}})` and `https://auth.tokenctl.test:PORT/`.
 */
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {createServer, request as httpRequest} from 'node:http'
import type {IncomingHttpHeaders, IncomingMessage, ServerResponse} from 'node:http'
import {connect, createServer as createNetServer} from 'node:net'
import type {AddressInfo, Socket} from 'node:net'

export interface ProxiedRequest {
  /** `CONNECT` for a tunnel, else the method of the forwarded request. */
  method: string
  /** `host:port` for CONNECT; else the request target as sent, an absolute URL for a proper proxy request. */
  target: string
  /** The headers the client sent to the proxy. */
  headers: IncomingHttpHeaders
  time: number
  /**
   * What the proxy answered: the origin's status for a forwarded request, 200 for an established
   * tunnel, 502 when the target could not be reached, 400 / 501 for requests it does not handle.
   */
  status?: number
}

export interface TestProxy {
  /** `http://127.0.0.1:PORT`: the value for HTTP_PROXY / HTTPS_PROXY. */
  url: string
  port: number
  /** Every request the proxy handled, in arrival order. */
  requests: ProxiedRequest[]
  /** `METHOD target` of every request, in order, e.g. `CONNECT 127.0.0.1:8443`, `POST http://127.0.0.1:4000/token`. */
  handled(): string[]
  /** Empties `requests`. */
  reset(): void
  /** Closes the proxy, open tunnels and upstream connections included. */
  stop(): Promise<void>
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own headers are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name)) kept[name] = value
  return kept
}

export interface ProxyOptions {
  /** Names the proxy resolves itself (name → address), as a proxy on another network would. */
  hosts?: Record<string, string>
}

export async function startProxy(options: ProxyOptions = {}): Promise<TestProxy> {
  const hosts = new Map(Object.entries(options.hosts ?? {}).map(([name, address]) => [name.toLowerCase(), address]))
  const resolve = (host: string) => hosts.get(host.toLowerCase()) ?? host
  const requests: ProxiedRequest[] = []
  const sockets = new Set<Socket>()
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }

  function record(req: IncomingMessage): ProxiedRequest {
    const entry: ProxiedRequest = {method: req.method ?? 'GET', target: req.url ?? '', headers: req.headers, time: Date.now()}
    requests.push(entry)
    return entry
  }

  function forward(req: IncomingMessage, res: ServerResponse): void {
    const entry = record(req)
    const fail = (status: number, message: string) => {
      entry.status = status
      if (res.headersSent) res.destroy()
      else res.writeHead(status, {'content-type': 'text/plain', connection: 'close'}).end(`test proxy: ${message}\n`)
    }

    let target: URL
    try {
      target = new URL(entry.target)
    } catch {
      fail(400, `not a proxy request (origin-form target ${entry.target})`)
      return
    }

    if (target.protocol !== 'http:') {
      fail(501, `absolute-form ${target.protocol} requests are not supported; use CONNECT`)
      return
    }

    const upstream = httpRequest(
      {
        host: resolve(target.hostname.replace(/^\[|\]$/g, '')),
        port: target.port || 80,
        method: entry.method,
        path: `${target.pathname}${target.search}`,
        headers: endToEnd(req.headers),
        agent: false,
      },
      (answer) => {
        entry.status = answer.statusCode
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers))
        answer.pipe(res)
      },
    )
    upstream.on('socket', track)
    upstream.on('error', (error) => fail(502, `cannot reach ${target.host}: ${error.message}`))
    req.pipe(upstream)
  }

  function tunnel(req: IncomingMessage, client: Socket, head: Buffer): void {
    const entry = record(req)
    client.on('error', () => {})
    let host: string
    let port: number
    try {
      const parsed = new URL(`http://${entry.target}`)
      host = parsed.hostname.replace(/^\[|\]$/g, '')
      port = Number(parsed.port || 443)
    } catch {
      entry.status = 400
      client.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n')
      return
    }

    const upstream = connect({host: resolve(host), port})
    track(upstream)
    upstream.once('connect', () => {
      entry.status = 200
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    upstream.on('error', () => {
      if (entry.status === undefined) {
        entry.status = 502
        client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n')
      } else {
        client.destroy()
      }
    })
    client.once('close', () => upstream.destroy())
  }

  const server = createServer(forward)
  server.on('connect', tunnel)
  server.on('connection', track)
  server.on('clientError', (_error, socket) => socket.destroy())

  const port = await listenOnLoopback(server)

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    handled: () => requests.map((entry) => `${entry.method} ${entry.target}`),
    reset() {
      requests.length = 0
    },
    async stop() {
      if (!server.listening) return
      for (const socket of sockets) socket.destroy()
      await closeServer(server)
    },
  }
}

/** A loopback port nobody listens on (just released): for "proxy down" and "host unreachable" tests. */
export async function closedLoopbackPort(): Promise<number> {
  const probe = createNetServer()
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => resolve())
  })
  const {port} = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

/** The URL of a proxy that is down: `http://127.0.0.1:PORT` with nothing listening. */
export async function deadProxyUrl(): Promise<string> {
  return `http://127.0.0.1:${await closedLoopbackPort()}`
}

/** The mocha hooks of a suite that shares one proxy: started before it, stopped after, its log reset before each test. */
export function useProxy(onStarted: (proxy: TestProxy) => void, options?: ProxyOptions): void {
  let proxy: TestProxy | undefined
  before(async () => {
    proxy = await startProxy(options)
    onStarted(proxy)
  })
  after(async () => {
    await proxy?.stop()
  })
  beforeEach(() => proxy?.reset())
}

export interface SilentProxy {
  /** `http://127.0.0.1:PORT`: the value for HTTPS_PROXY / HTTP_PROXY. */
  url: string
  /** The first line of every request received (`CONNECT host:port HTTP/1.1`), in order. */
  requestLines: string[]
  /** Closes the listener and every connection it is sitting on. */
  stop(): Promise<void>
}

/**
 * A hostile proxy: accepts every connection, reads what the client sends, and never answers (not
 * even to CONNECT), never closes. What a dead proxy process behind a live load balancer looks like.
 */
export async function startSilentProxy(): Promise<SilentProxy> {
  const requestLines: string[] = []
  const sockets = new Set<Socket>()
  const server = createNetServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let head = ''
    socket.on('data', (chunk: Buffer) => {
      if (head.includes('\r\n')) return
      head += chunk.toString('latin1')
      if (head.includes('\r\n')) requestLines.push(head.slice(0, head.indexOf('\r\n')))
    })
  })
  const port = await listenOnLoopback(server)
  return {
    url: `http://127.0.0.1:${port}`,
    requestLines,
    async stop() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
