/**
 * The protected API that `dev idp` serves beside its authorization server, under `/api` on the same
 * port (so one URL, one port to forward): what a resource server does with the tokens tokenctl
 * attaches. Every route needs a JWT that verifies (signature, `iss`, `exp`, `aud` one of the
 * downstream APIs); a missing or bad one gets 401 with `WWW-Authenticate`, as RFC 6750 §3 says.
 * A sender-constrained token is held to its binding (./sender-constraints.ts): a DPoP-bound one
 * needs `Authorization: DPoP` and a proof for the request with this API's own nonce, a
 * certificate-bound one the same certificate on the TLS connection (dev idp's mTLS port).
 *
 *   /api/echo               any method: 200 with the method, the body sent (as httpbin echoes it:
 *                           `data`, and `json` when it parses) and the caller's verified claims
 *   /api/reject-first/ID    401 invalid_token for the first token seen for ID (as if it had been
 *                           revoked), the echo for any other: shows `call` renewing a token once
 *
 * The test suite's API server (test/helpers/api-server.ts) is built from the same pieces.
 */
import type {IncomingMessage, RequestListener, ServerResponse} from 'node:http'

import type {JSONWebKeySet, JWTPayload, JWTVerifyGetKey} from 'jose'

import {type SenderRules, senderVerifier, type SenderRefusal} from './sender-constraints.js'

export const PROTECTED_API_PATH = '/api'

/** The token of an Authorization header: RFC 6750 §2.1's syntax after Bearer or DPoP; the scheme is case-insensitive (RFC 9110 §11.1). */
export function presentedToken(authorization: string | undefined): {scheme: 'bearer' | 'dpop'; token: string} | undefined {
  const match = /^(Bearer|DPoP) +([\w\-.~+/]+=*)\s*$/i.exec(authorization ?? '')
  return match ? {scheme: match[1].toLowerCase() as 'bearer' | 'dpop', token: match[2]} : undefined
}

export function bearerToken(authorization: string | undefined): string | undefined {
  return presentedToken(authorization)?.token
}

export type Verification = {claims: JWTPayload} | {problem: string}

export interface VerifierOptions {
  issuer: string
  /** Tokens must carry one of these in `aud`. */
  audience: string | string[]
  /** The authorization server's JWKS URI (fetched and cached), or its public keys themselves. */
  keys: JSONWebKeySet | string
}

/**
 * Checks a bearer token as a resource server does. A problem with the token is `{problem}`; keys that
 * cannot be had (the JWKS URI down or broken) throw, which is the server's failure, not the token's.
 */
export async function bearerVerifier(options: VerifierOptions): Promise<(token: string | undefined) => Promise<Verification>> {
  const {createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify} = await import('jose')
  // One key set per server: jose caches fetched keys, as a real API's middleware does.
  const keys: JWTVerifyGetKey = typeof options.keys === 'string' ? createRemoteJWKSet(new URL(options.keys)) : createLocalJWKSet(options.keys)
  return async (token) => {
    if (token === undefined) return {problem: 'no bearer token'}
    try {
      const {payload} = await jwtVerify(token, keys, {audience: options.audience, issuer: options.issuer})
      return {claims: payload}
    } catch (error) {
      const keysUnavailable = error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid
      if (error instanceof errors.JOSEError && !keysUnavailable) return {problem: (error as Error).message}
      throw error
    }
  }
}

/** The memory of `reject-first`: true for the first token seen for an id (and that token again). */
export function firstTokenRejecter(): {rejects(id: string, token: string): boolean; reset(): void} {
  const rejected = new Map<string, string>()
  return {
    rejects(id, token) {
      const first = rejected.get(id) ?? token
      rejected.set(id, first)
      return token === first
    },
    reset: () => rejected.clear(),
  }
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, {'cache-control': 'no-store', 'content-type': 'application/json', ...headers})
  response.end(`${JSON.stringify(body, undefined, 2)}\n`)
}

function refuse(response: ServerResponse, description: string): void {
  send(response, 401, {error: 'invalid_token', error_description: description}, {'www-authenticate': 'Bearer error="invalid_token"'})
}

/** A refused binding: 401 with the challenge of its scheme (RFC 9449 §7.1), and the nonce to use when one is wanted. */
export function refuseSender(response: ServerResponse, refusal: SenderRefusal): void {
  const description = refusal.description.replaceAll('"', "'")
  const headers: Record<string, string> = {
    'www-authenticate': `${refusal.scheme} error="${refusal.error}", error_description="${description}"${refusal.scheme === 'DPoP' ? `, algs="${refusal.algs}"` : ''}`,
  }
  if (refusal.nonce) headers['dpop-nonce'] = refusal.nonce
  send(response, 401, {error: refusal.error, error_description: refusal.description}, headers)
}

export interface ProtectedApiOptions extends VerifierOptions {
  /** How sender-constrained tokens are held to their binding (./sender-constraints.ts). */
  senders?: Partial<SenderRules>
}

/** The most of a body the echo shows: enough for any recipe, bounded whatever a caller sends. */
export const ECHOED_BODY_BYTES = 16 * 1024

/**
 * What the caller sent, for `call -X POST -d …` to be seen arriving: its content type, the body as
 * text (`data`, cut at ECHOED_BODY_BYTES and then said to be) and, when it is JSON, as JSON (`json`)
 * — the shape httpbin answers. Nothing is escaped beyond what JSON itself escapes.
 */
export function bodyEcho(contentType: string | undefined, body: Buffer, size = body.length): Record<string, unknown> {
  if (size === 0) return {}
  const data = body.subarray(0, ECHOED_BODY_BYTES).toString('utf8')
  const echo: Record<string, unknown> = {content_type: contentType ?? null, data}
  if (size > ECHOED_BODY_BYTES) return {...echo, data_truncated: true, body_bytes: size}
  try {
    echo.json = JSON.parse(data)
  } catch {
    // not JSON: the text alone
  }

  return echo
}

/** The handler of everything under PROTECTED_API_PATH. */
export async function protectedApiHandler(options: ProtectedApiOptions): Promise<RequestListener> {
  const verify = await bearerVerifier(options)
  const senders = senderVerifier(options.senders)
  const firstTokens = firstTokenRejecter()
  const handle = async (request: IncomingMessage, response: ServerResponse, body: Buffer, size: number) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1')
    const path = url.pathname.slice(PROTECTED_API_PATH.length)
    const presented = presentedToken(request.headers.authorization)
    const token = presented?.token
    const verification = await verify(token)
    if ('problem' in verification) return refuse(response, verification.problem)
    const sender = await senders.check(request, presented!, verification.claims)
    if ('refusal' in sender) return refuseSender(response, sender.refusal)
    if (sender.nonce) response.setHeader('dpop-nonce', sender.nonce)
    const echo = {method: request.method, path: url.pathname, ...bodyEcho(request.headers['content-type'], body, size), claims: verification.claims}
    if (path === '/echo') return send(response, 200, echo)
    const rejectFirst = /^\/reject-first\/([^/]+)$/.exec(path)
    if (rejectFirst) {
      if (firstTokens.rejects(rejectFirst[1], token!)) return refuse(response, 'the token has been revoked')
      return send(response, 200, echo)
    }

    send(response, 404, {error: 'not_found', routes: [`${PROTECTED_API_PATH}/echo`, `${PROTECTED_API_PATH}/reject-first/ID`]})
  }

  return (request, response) => {
    // Drained first: an answer to a client still sending would make its failures depend on timing.
    // What the echo shows is kept (the rest only counted), so any body costs bounded memory.
    const kept: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      if (size < ECHOED_BODY_BYTES + 1) kept.push(chunk.subarray(0, ECHOED_BODY_BYTES + 1 - size))
      size += chunk.length
    })
    request.once('end', () => {
      handle(request, response, Buffer.concat(kept), size).catch(() => send(response, 500, {error: 'server_error'}))
    })
  }
}
