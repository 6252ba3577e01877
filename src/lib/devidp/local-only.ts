/**
 * `dev idp` serves this machine only: programs on it, and in a browser only its own pages (the
 * sign-in and device pages). Listening on 127.0.0.1 does not keep web pages out: a page from anywhere
 * can send requests to 127.0.0.1, and by DNS rebinding (its own name re-pointed at 127.0.0.1) even
 * read the answers as its own. So, in front of everything the server answers:
 * - a request whose Host is not a loopback name (`localhost`, 127.0.0.0/8, `[::1]`, with any port)
 *   is refused with 421: a rebound page's requests carry its own name;
 * - a request with an Origin other than the server's own (the scheme and Host it was sent to) is
 *   refused with 403, so no other origin gets an answer, CORS or not. Programs send no Origin.
 * oidc-provider would grant CORS to any origin on its discovery, JWKS and preflight answers, which
 * no setting changes; its token, introspection, revocation and device endpoints ask
 * `clientBasedCORS` (./configuration.ts), which allows the same own origin as here.
 */
import type {IncomingMessage, RequestListener, ServerResponse} from 'node:http'

import {isLoopbackHost} from '../http/destination.js'

/** The name part of a Host header (`name[:port]`, `[v6][:port]`), or undefined when the header is no such thing. */
function hostName(host: string | undefined): string | undefined {
  return /^(\[[\d.:a-f]+\]|[\w.-]+)(?::\d{1,5})?$/i.exec(host ?? '')?.[1]
}

/** A Host header naming this machine by a loopback name or address. */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  const name = hostName(host)
  return name !== undefined && isLoopbackHost(name)
}

/** Whether `origin` (an Origin header) is the origin a request to `scheme://host` was sent to. */
export function isOwnOrigin(origin: string, scheme: string, host: string | undefined): boolean {
  if (hostName(host) === undefined) return false
  try {
    return new URL(origin).origin === new URL(`${scheme.replace(/:$/, '')}://${host}`).origin
  } catch {
    return false
  }
}

function refuse(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, {'cache-control': 'no-store', connection: 'close', 'content-type': 'text/plain; charset=utf-8'})
  response.end(`${text}\n`)
}

/** The request refused by its Host or its Origin, or undefined when it may go on. */
export function refusal(request: Pick<IncomingMessage, 'headers'>, scheme: 'http' | 'https'): {status: number; text: string} | undefined {
  const {host, origin} = request.headers
  if (!isLoopbackHostHeader(host)) {
    return {status: 421, text: 'dev idp answers only requests addressed to this machine: Host must be localhost, 127.0.0.1 or [::1]'}
  }

  if (origin !== undefined && !isOwnOrigin(origin, scheme, host)) {
    return {status: 403, text: 'dev idp answers no other origin: only its own pages may call it from a browser'}
  }

  return undefined
}

/** `handler` behind the Host and Origin rules. */
export function localOnly(handler: RequestListener, scheme: 'http' | 'https'): RequestListener {
  return (request, response) => {
    const refused = refusal(request, scheme)
    if (refused) refuse(response, refused.status, refused.text)
    else handler(request, response)
  }
}
