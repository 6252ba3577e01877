/**
 * "Another machine" for the loopback tests: an HTTP server on an address of this machine that is
 * not loopback (its first non-internal interface; 0.0.0.0 where there is none), recording every
 * request and its Authorization header. A localhost name that a hosts entry or a resolver points at
 * this address must never reach it: whatever it records went in clear off the loopback interface.
 */
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {networkInterfaces} from 'node:os'

import {closeServer} from '../../src/lib/http/loopback.js'

export interface StrangerRequest {
  method: string
  path: string
  authorization?: string
  body: string
}

export interface Stranger {
  /** The non-loopback address the test resolver should answer with. */
  address: string
  port: number
  requests: StrangerRequest[]
  stop(): Promise<void>
}

/** The first IPv4 address of this machine that is not loopback, else 0.0.0.0 (still not a loopback address). */
export function nonLoopbackAddress(): string {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (!entry.internal && entry.family === 'IPv4') return entry.address
  }

  return '0.0.0.0'
}

export async function startStranger(): Promise<Stranger> {
  const requests: StrangerRequest[] = []
  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    requests.push({authorization: req.headers.authorization, body: Buffer.concat(chunks).toString('utf8'), method: req.method ?? 'GET', path: req.url ?? '/'})
    // Answers like a token endpoint would, so that a client that got here would carry on.
    res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({access_token: 'stolen', expires_in: 3600, token_type: 'Bearer'}))
  }
  // A client that goes away mid-request only ends that request.
  const server: Server = createServer((req, res) => {
    answer(req, res).catch(() => res.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '0.0.0.0', () => resolve())
  })
  return {
    address: nonLoopbackAddress(),
    port: (server.address() as AddressInfo).port,
    requests,
    stop: () => closeServer(server),
  }
}
