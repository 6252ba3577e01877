/**
 * A tiny protected API for `dev idp` and `demo`: it accepts a bearer JWT only when it verifies
 * against the authorization server's keys (signature, issuer, exp, audience), and echoes who called.
 * What a resource server does with the tokens tokenctl attaches, on 127.0.0.1 only.
 */
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import {closeServer, listenOnLoopback} from '../http/loopback.js'

export interface DemoApi {
  stop(): Promise<void>
  /** e.g. http://127.0.0.1:PORT — the echo endpoint is `${url}/echo`. */
  url: string
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, {'cache-control': 'no-store', 'content-type': 'application/json', ...headers})
  response.end(`${JSON.stringify(body, undefined, 2)}\n`)
}

export async function startDemoApi(options: {audience: string; issuer: string; jwksUri: string}): Promise<DemoApi> {
  const {createRemoteJWKSet, jwtVerify} = await import('jose')
  const keys = createRemoteJWKSet(new URL(options.jwksUri))
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1')
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1]
    if (!token) {
      send(response, 401, {error: 'invalid_token', error_description: 'no bearer token'}, {'www-authenticate': 'Bearer'})
      return
    }

    let claims
    try {
      claims = (await jwtVerify(token, keys, {audience: options.audience, issuer: options.issuer})).payload
    } catch (error) {
      const description = (error as Error).message
      send(response, 401, {error: 'invalid_token', error_description: description}, {'www-authenticate': `Bearer error="invalid_token"`})
      return
    }

    if (url.pathname !== '/echo') {
      send(response, 404, {error: 'not_found'})
      return
    }

    const {client_id: clientId, exp, scope, sub} = claims
    send(response, 200, {client_id: clientId, expires: exp, method: request.method, path: url.pathname, scope, sub})
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => send(response, 500, {error: 'server_error'}))
  })
  const port = await listenOnLoopback(server)
  return {
    stop: () => closeServer(server),
    url: `http://127.0.0.1:${port}`,
  }
}
