/**
 * A TLS front for an http origin (the test authorization server): an https server on 127.0.0.1:0,
 * with a certificate from ./tls.ts, that forwards every request (method, path, headers, body) to the
 * origin and pipes the answer back. Records what it forwarded.
 */
import {request as httpRequest} from 'node:http'
import type {IncomingHttpHeaders, IncomingMessage, ServerResponse} from 'node:http'
import {createServer} from 'node:https'
import type {Socket} from 'node:net'

import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'

export interface FrontRequest {
  method: string
  /** Path and query, as received. */
  path: string
  /** As received from the client (the origin gets the same, with its own `host`). */
  headers: IncomingHttpHeaders
  body: string
  time: number
  /** The origin's status, once it answered; undefined when it could not be reached. */
  status?: number
}

export interface HttpsFrontOptions {
  /** Where requests go, e.g. `http://127.0.0.1:4000` (any path of it is ignored). */
  origin: string
  /** The server certificate (PEM), e.g. `TestPki.serverCert`. */
  cert: string
  /** Its private key (PEM). */
  key: string
}

export interface HttpsFront {
  /** `https://127.0.0.1:PORT`, no trailing slash. */
  url: string
  port: number
  /** Every request received, in order (including those the origin failed). */
  requests: FrontRequest[]
  /** Empties `requests`. */
  reset(): void
  /** Closes the server and every open connection. */
  stop(): Promise<void>
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

export async function startHttpsFront(options: HttpsFrontOptions): Promise<HttpsFront> {
  const origin = new URL(options.origin)
  const requests: FrontRequest[] = []
  const sockets = new Set<Socket>()
  async function forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const record: FrontRequest = {method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: body.toString('utf8'), time: Date.now()}
    requests.push(record)

    const headers: IncomingHttpHeaders = {}
    for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value
    headers.host = origin.host
    headers['content-length'] = String(body.length)
    const upstream = httpRequest({host: origin.hostname, port: origin.port, method: record.method, path: record.path, headers, agent: false}, (answer) => {
      record.status = answer.statusCode
      const back: IncomingHttpHeaders = {}
      for (const [name, value] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(name)) back[name] = value
      res.writeHead(answer.statusCode ?? 502, back)
      answer.pipe(res)
    })
    upstream.on('error', (error) => {
      if (res.headersSent) res.destroy(error)
      else res.writeHead(502, {'content-type': 'text/plain'}).end(`https front: origin unreachable: ${error.message}`)
    })
    upstream.end(body)
  }

  // A client that goes away mid-request only ends that request.
  const server = createServer({cert: options.cert, key: options.key}, (req, res) => {
    forward(req, res).catch(() => res.destroy())
  })
  server.on('secureConnection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  // A client that rejects our certificate just hangs up: nothing to report.
  server.on('tlsClientError', () => {})

  const port = await listenOnLoopback(server)

  return {
    url: `https://127.0.0.1:${port}`,
    port,
    requests,
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
