/**
 * A hostile authorization server and API for end-to-end tests: it answers whatever the test tells it
 * to, byte for byte, where a real server (oidc-provider) would never send it — ESC sequences in
 * `error_description`, a token with CR/LF, `expires_in: 1e20`, `token_type: "N_A"`, a device
 * `user_code` that clears the screen, a claims challenge that rewrites the terminal title. It is a
 * small purpose-made server because it is hostile by design; it checks nothing and signs nothing.
 *
 *   GET  /.well-known/openid-configuration   discovery (issuer = `url`), token exchange and device code listed
 *   POST /token                              `server.token` (default: a well-formed bearer token)
 *   POST /device                             `server.device` (default: a well-formed RFC 8628 answer)
 *   any  /api/…                              `server.api` (default: 200 `{"ok":true}`)
 *
 * Every request is recorded with its form parameters, so a test can prove what was (not) sent.
 */
import {createServer} from 'node:http'
import type {IncomingHttpHeaders, IncomingMessage, ServerResponse} from 'node:http'

import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'

/** One scripted answer: a JSON body (serialized with JSON.stringify) or a raw one. */
export interface HostileAnswer {
  status?: number
  headers?: Record<string, string>
  json?: unknown
  raw?: string | Buffer
}

export interface HostileRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  /** The form body's parameters (the last value of a repeated one). */
  params: Record<string, string>
}

export interface HostileServer {
  /** `http://127.0.0.1:<port>`: the issuer, no trailing slash. */
  url: string
  tokenEndpoint: string
  /** What POST /token answers next (and every time after, until changed). */
  token: HostileAnswer
  /** What POST /device answers. */
  device: HostileAnswer
  /** What /api/… answers. */
  api: HostileAnswer
  requests: HostileRequest[]
  /** Requests to the token endpoint only. */
  tokenRequests(): HostileRequest[]
  /** Back to well-formed answers; the request log emptied. */
  reset(): void
  stop(): Promise<void>
}

export const GOOD_TOKEN = 'good-token.Abc-_~+/9='
const GOOD_REFRESH_TOKEN = 'good-refresh-token'

/** A JWT-shaped token with these claims (signed by nobody: tokenctl only reads it). */
export function unsignedJwt(claims: Record<string, unknown>): string {
  const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${segment({alg: 'RS256', typ: 'JWT'})}.${segment(claims)}.c2lnbmF0dXJl`
}

export function goodTokenAnswer(extra: Record<string, unknown> = {}): HostileAnswer {
  return {json: {access_token: GOOD_TOKEN, token_type: 'Bearer', expires_in: 3600, refresh_token: GOOD_REFRESH_TOKEN, ...extra}}
}

function goodDeviceAnswer(url: string): HostileAnswer {
  return {json: {device_code: 'device-code-1', user_code: 'ABCD-EFGH', verification_uri: `${url}/device/verify`, expires_in: 600, interval: 1}}
}

async function formParams(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk)
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')))
}

function send(res: ServerResponse, answer: HostileAnswer): void {
  const body = answer.raw ?? (answer.json === undefined ? '' : JSON.stringify(answer.json))
  const type = answer.raw === undefined ? {'content-type': 'application/json'} : {}
  res.writeHead(answer.status ?? 200, {'cache-control': 'no-store', ...type, ...answer.headers})
  res.end(body)
}

export async function startHostileServer(): Promise<HostileServer> {
  const requests: HostileRequest[] = []
  // The URL is known only once listening; the handlers read it from here.
  let url = ''
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
    formParams(req)
      .then((params) => {
        requests.push({method: req.method ?? 'GET', path, headers: req.headers, params})
        if (path === '/.well-known/openid-configuration') {
          return send(res, {
            json: {
              issuer: url,
              token_endpoint: `${url}/token`,
              device_authorization_endpoint: `${url}/device`,
              grant_types_supported: ['client_credentials', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:grant-type:device_code'],
              token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
            },
          })
        }
        if (path === '/token' && req.method === 'POST') return send(res, hostile.token)
        if (path === '/device' && req.method === 'POST') return send(res, hostile.device)
        if (path.startsWith('/api/')) return send(res, hostile.api)
        send(res, {status: 404, json: {error: 'not_found'}})
      })
      .catch(() => res.destroy())
  })
  url = `http://127.0.0.1:${await listenOnLoopback(server)}`

  const hostile: HostileServer = {
    url,
    tokenEndpoint: `${url}/token`,
    token: goodTokenAnswer(),
    device: goodDeviceAnswer(url),
    api: {json: {ok: true}},
    requests,
    tokenRequests: () => requests.filter((request) => request.path === '/token'),
    reset() {
      requests.length = 0
      hostile.token = goodTokenAnswer()
      hostile.device = goodDeviceAnswer(url)
      hostile.api = {json: {ok: true}}
    },
    stop: () => closeServer(server),
  }
  return hostile
}

/** Mocha hooks of a suite sharing one hostile server, reset before each test. */
export function useHostileServer(onStarted: (server: HostileServer) => void): void {
  let server: HostileServer | undefined
  before(async () => {
    server = await startHostileServer()
    onStarted(server)
  })
  after(async () => {
    await server?.stop()
  })
  beforeEach(() => {
    server?.reset()
  })
}
