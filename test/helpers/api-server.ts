/**
 * A resource server for the end-to-end tests of `tokenctl call`: it verifies the bearer JWT of every
 * request against the test authorization server's keys (signature, `iss`, `exp`, `aud`), as a real
 * API would, and offers endpoints that misbehave on purpose (503s, 429s, revoked tokens, claims
 * challenges, slow headers, large bodies).
 *
 * Endpoints (all but `/public/…` need a valid token; a missing or invalid one gets 401 first):
 * - `/echo`                 any method: 200 with an `EchoResponse`
 * - `/flaky/<id>`           503 `temporarily unavailable` twice per id, then the echo
 * - `/throttled/<id>`       429 with `Retry-After: 1` once per id, then the echo
 * - `/throttled-date/<id>`  the same with `Retry-After` as an HTTP date 1–2 s ahead
 * - `/status/<code>`        that status, text body `status <code>`
 * - `/reject-first/<id>`    401 `invalid_token` for the first token seen for that id (as if it had
 *                           been revoked), the echo for any other token
 * - `/claims-challenge`     401 with Entra's claims challenge (`insufficient_claims`)
 * - `/large?bytes=N`        N deterministic pseudo-random bytes, streamed with backpressure
 * - `/slow-headers`         answers after 10 s (or never, when the client or `stop()` goes first)
 * - `/upload`               POST/PUT: the hash, length and content type of the body
 * - `/set-cookie`           the echo with `Set-Cookie: session=secret-cookie-value`
 * - `/public/…`             the echo without any token check (`claims: null`)
 * - `/dpop-refused`         401 with `WWW-Authenticate: DPoP error="invalid_dpop_proof"` and a reason
 * - `/dpop-nonce-again`     401 `use_dpop_nonce` with a fresh `DPoP-Nonce` every time, even to a proof
 *                           carrying the last one (an API whose nonces a load balancer splits)
 *
 * A sender-constrained token is held to its binding as dev idp's API holds it
 * (src/lib/devidp/sender-constraints.ts), strictly (RFC 9449 §4.3, §7.1, §11.1): a DPoP-bound token
 * sent as Bearer is refused, and so is a proof that is replayed, older than the window (`dpopWindowSeconds`,
 * default 60 s), without `ath`, with a query in `htu`, or without this API's nonce.
 */
import {createServer} from 'node:http'
import type {IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse} from 'node:http'
import {createCipheriv, createHash, randomUUID} from 'node:crypto'
import type {JSONWebKeySet, JWTPayload} from 'jose'

import {bearerToken, bearerVerifier, firstTokenRejecter, presentedToken, refuseSender} from '../../src/lib/devidp/protected-api.js'
import {senderVerifier} from '../../src/lib/devidp/sender-constraints.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {type AuthServer, type AuthServerOptions, useAuthServer} from './auth-server.js'

/** The claims of Entra's claims challenge, and the header `/claims-challenge` answers with. */
export const CHALLENGE_CLAIMS = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
export const CLAIMS_CHALLENGE_HEADER =
  'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", ' +
  'error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19"'
export const INVALID_TOKEN_HEADER = 'Bearer error="invalid_token"'
export const DPOP_REFUSED_HEADER = 'DPoP error="invalid_dpop_proof", error_description="the proof\'s key is on our deny list", algs="ES256"'
export const SESSION_COOKIE = 'session=secret-cookie-value'
export const SLOW_HEADERS_MS = 10_000

const FLAKY_FAILURES = 2
/** Echo bodies keep this much text; the hash and length always cover the whole body. */
const ECHO_TEXT_LIMIT = 1024 * 1024
const LARGE_CHUNK = 64 * 1024
/** Far above any test (1 GB downloads included), low enough to catch a typo'd size. */
const LARGE_MAX_BYTES = 16 * 1024 ** 3
const LARGE_BODY_KEY = createHash('sha256').update('tokenctl test api: large body').digest()
const ZEROS = Buffer.alloc(LARGE_CHUNK)

export interface ApiServerOptions {
  /** The authorization server's issuer: tokens must carry it as `iss`. */
  issuer: string
  /** Where its keys are (fetched and cached), or the keys themselves (an issuer whose TLS the test process does not trust). */
  jwksUri: string | JSONWebKeySet
  /** The API's identifier, e.g. the auth server's `resources.api`: tokens must carry it in `aud`. */
  audience: string | string[]
  /** How far a DPoP proof's iat may be from now, and how long its jti is remembered (default 60 s). */
  dpopWindowSeconds?: number
}

export interface ApiRequestRecord {
  method: string
  /** The path without the query string. */
  path: string
  /** The raw Authorization header, so tests can tell which token was sent. */
  authorization?: string
  /** The raw DPoP header (a proof), when one was sent. */
  dpop?: string
  time: number
  /** Set when the answer starts; absent while in flight, or when the client left before it. */
  status?: number
}

/** What `/echo` (and every endpoint that "echoes") answers. */
export interface EchoResponse {
  method: string
  path: string
  /** Repeated parameters become arrays. */
  query: Record<string, string | string[]>
  /** The verified JWT payload; null on `/public/…`. */
  claims: JWTPayload | null
  /** The request headers, `authorization` removed. */
  headers: IncomingHttpHeaders
  /** The body as UTF-8 text, cut at 1 MiB (`bodyTruncated`). */
  body: string
  bodyTruncated: boolean
  bodySha256: string
  bodyLength: number
}

export interface UploadResponse {
  bodySha256: string
  bodyLength: number
  contentType: string | null
}

export interface ApiServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string
  /** Every request, in arrival order. */
  requests: ApiRequestRecord[]
  /** Every bearer token presented, valid or not. */
  tokensSeen: Set<string>
  /** Unexpected server-side failures (a JWKS that cannot be fetched, a bug here). */
  errors: Error[]
  /** Empties requests and tokensSeen, and forgets the per-id state of flaky, throttled and reject-first. */
  reset(): void
  /** Closes the server and every connection, slow and streaming ones included. */
  stop(): Promise<void>
}

/** One request being answered. */
interface Exchange {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  record: ApiRequestRecord
  body: ReceivedBody
  /** Set once the token verified. */
  claims: JWTPayload | null
}

interface ReceivedBody {
  text: string
  truncated: boolean
  sha256: string
  length: number
}

/** Per-id memory of the endpoints that behave differently the first times. */
interface EndpointState {
  flakyCounts: Map<string, number>
  throttled: Set<string>
  /** The first token seen per id, the one treated as revoked (dev idp's protected API does the same). */
  rejectedTokens: ReturnType<typeof firstTokenRejecter>
}

type Route = [pattern: RegExp, handler: (exchange: Exchange, match: RegExpExecArray) => void | Promise<void>]

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const verifier = await bearerVerifier({issuer: options.issuer, audience: options.audience, keys: options.jwksUri})
  const senders = senderVerifier({windowSeconds: options.dpopWindowSeconds ?? 60})
  const requests: ApiRequestRecord[] = []
  const tokensSeen = new Set<string>()
  const errors: Error[] = []
  const state: EndpointState = {flakyCounts: new Map(), throttled: new Set(), rejectedTokens: firstTokenRejecter()}
  const routes = apiRoutes(state)

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const record: ApiRequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      ...(req.headers.authorization === undefined ? {} : {authorization: req.headers.authorization}),
      ...(typeof req.headers.dpop === 'string' ? {dpop: req.headers.dpop} : {}),
      time: Date.now(),
    }
    requests.push(record)
    const token = bearerToken(req.headers.authorization)
    if (token !== undefined) tokensSeen.add(token)
    // The whole body is read before anything is answered: an early answer to a client still
    // sending would make its failures (EPIPE, reset) depend on timing.
    const exchange: Exchange = {req, res, url, record, body: await receiveBody(req), claims: null}

    if (!isPublic(url.pathname)) {
      const verification = await verifier(token)
      if ('problem' in verification) return rejectToken(exchange, verification.problem)
      const sender = await senders.check(req, presentedToken(req.headers.authorization)!, verification.claims)
      if ('refusal' in sender) {
        record.status = 401
        return refuseSender(res, sender.refusal)
      }

      if (sender.nonce) res.setHeader('dpop-nonce', sender.nonce)
      exchange.claims = verification.claims
    }
    for (const [pattern, handler] of routes) {
      const match = pattern.exec(url.pathname)
      if (match) return handler(exchange, match)
    }
    answerText(exchange, 404, `no such endpoint: ${url.pathname}`)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A client that went away mid-request (a timeout, a killed process) is not a server failure.
      if (req.destroyed || res.destroyed) return
      errors.push(error instanceof Error ? error : new Error(String(error)))
      if (res.headersSent) res.destroy()
      else res.writeHead(500, {'content-type': 'text/plain'}).end('internal error in the test API server')
    })
  })
  const url = `http://127.0.0.1:${await listenOnLoopback(server)}`
  let stopped = false

  return {
    url,
    requests,
    tokensSeen,
    errors,
    reset() {
      requests.length = 0
      tokensSeen.clear()
      state.flakyCounts.clear()
      state.throttled.clear()
      state.rejectedTokens.reset()
    },
    async stop() {
      if (stopped) return
      stopped = true
      await closeServer(server)
    },
  }
}

function apiRoutes(state: EndpointState): Route[] {
  return [
    [/^\/echo$/, (exchange) => answerEcho(exchange)],
    [/^\/public(\/.*)?$/, (exchange) => answerEcho(exchange)],
    [/^\/flaky\/(.+)$/, (exchange, [, id]) => flaky(exchange, id, state)],
    [/^\/throttled\/(.+)$/, (exchange, [, id]) => throttled(exchange, `seconds:${id}`, '1', state)],
    [/^\/throttled-date\/(.+)$/, (exchange, [, id]) => throttled(exchange, `date:${id}`, retryAfterDate(), state)],
    [/^\/status\/(\d{3})$/, (exchange, [, code]) => answerStatus(exchange, Number(code))],
    [/^\/reject-first\/(.+)$/, (exchange, [, id]) => rejectFirst(exchange, id, state)],
    // An API that has revoked every token it will ever see from this caller: 401 invalid_token to each.
    [/^\/reject-always$/, (exchange) => rejectToken(exchange, 'the token has been revoked')],
    [/^\/claims-challenge$/, (exchange) => claimsChallenge(exchange)],
    [/^\/large$/, (exchange) => streamLargeBody(exchange)],
    [/^\/slow-headers$/, (exchange) => slowHeaders(exchange)],
    [/^\/upload$/, (exchange) => upload(exchange)],
    [/^\/set-cookie$/, (exchange) => answerEcho(exchange, {'set-cookie': SESSION_COOKIE})],
    [/^\/dpop-refused$/, (exchange) => answerJson(exchange, 401, {error: 'invalid_dpop_proof'}, {'www-authenticate': DPOP_REFUSED_HEADER})],
    [
      /^\/dpop-nonce-again$/,
      (exchange) => answerJson(exchange, 401, {error: 'use_dpop_nonce'}, {'dpop-nonce': randomUUID(), 'www-authenticate': 'DPoP error="use_dpop_nonce", error_description="another nonce"'}),
    ],
  ]
}

function isPublic(path: string): boolean {
  return path === '/public' || path.startsWith('/public/')
}

// ---- token verification ----------------------------------------------------------------------

// bearerToken and bearerVerifier: src/lib/devidp/protected-api.ts, shared with dev idp's protected API.

function rejectToken(exchange: Exchange, description: string): void {
  answerJson(
    exchange,
    401,
    {error: 'invalid_token', error_description: description},
    {
      'www-authenticate': INVALID_TOKEN_HEADER,
    },
  )
}

// ---- endpoints --------------------------------------------------------------------------------

function flaky(exchange: Exchange, id: string, state: EndpointState): void {
  const count = (state.flakyCounts.get(id) ?? 0) + 1
  state.flakyCounts.set(id, count)
  if (count <= FLAKY_FAILURES) answerText(exchange, 503, 'temporarily unavailable')
  else answerEcho(exchange)
}

/** `key` carries the variant too, so `/throttled/x` and `/throttled-date/x` do not share a counter. */
function throttled(exchange: Exchange, key: string, retryAfter: string, state: EndpointState): void {
  if (state.throttled.has(key)) return answerEcho(exchange)
  state.throttled.add(key)
  answerText(exchange, 429, 'too many requests', {'retry-after': retryAfter})
}

/**
 * An HTTP date two whole seconds past the current second: HTTP dates have no fractions, so this is
 * 1–2 s from now, never in the past even after a little latency.
 */
function retryAfterDate(): string {
  return new Date((Math.floor(Date.now() / 1000) + 2) * 1000).toUTCString()
}

function answerStatus(exchange: Exchange, status: number): void {
  // writeHead throws outside 100–999, and 1xx are not final answers.
  if (status < 200 || status > 599) return answerText(exchange, 400, `unsupported status ${status}`)
  // These statuses must not carry a body.
  if ([204, 205, 304].includes(status)) return answer(exchange, status, {}, '')
  answerText(exchange, status, `status ${status}`)
}

function rejectFirst(exchange: Exchange, id: string, state: EndpointState): void {
  const token = bearerToken(exchange.req.headers.authorization) ?? ''
  if (state.rejectedTokens.rejects(id, token)) rejectToken(exchange, 'the token has been revoked')
  else answerEcho(exchange)
}

function claimsChallenge(exchange: Exchange): void {
  answerJson(
    exchange,
    401,
    {
      error: 'insufficient_claims',
      error_description: 'Continuous access evaluation resulted in challenge with result: InteractionRequired',
      claims: CHALLENGE_CLAIMS,
    },
    {'www-authenticate': CLAIMS_CHALLENGE_HEADER},
  )
}

function upload(exchange: Exchange): void {
  const {req, body} = exchange
  if (req.method !== 'POST' && req.method !== 'PUT') {
    return answerText(exchange, 405, 'POST or PUT', {allow: 'POST, PUT'})
  }
  const result: UploadResponse = {
    bodySha256: body.sha256,
    bodyLength: body.length,
    contentType: req.headers['content-type'] ?? null,
  }
  answerJson(exchange, 200, result)
}

/** Answers after SLOW_HEADERS_MS, unless the connection closes first (client timeout, `stop()`). */
async function slowHeaders(exchange: Exchange): Promise<void> {
  const waited = await new Promise<boolean>((resolve) => {
    const onClose = () => {
      clearTimeout(timer)
      resolve(false)
    }
    const timer = setTimeout(() => {
      exchange.res.off('close', onClose)
      resolve(true)
    }, SLOW_HEADERS_MS)
    exchange.res.once('close', onClose)
  })
  if (waited) answerEcho(exchange)
}

// ---- large bodies -----------------------------------------------------------------------------

/**
 * The large body, chunk by chunk: the AES-256-CTR keystream of a fixed key, which is deterministic,
 * incompressible and fast (GB/s). SHA-256 in counter mode, 32 bytes per hash, would take seconds for
 * 50 MB. The stream does not depend on the chunking, and a shorter body is a prefix of a longer one.
 */
function* largeBodyChunks(bytes: number): Generator<Buffer> {
  const cipher = createCipheriv('aes-256-ctr', LARGE_BODY_KEY, Buffer.alloc(16))
  for (let produced = 0; produced < bytes; produced += LARGE_CHUNK) {
    yield cipher.update(ZEROS.subarray(0, Math.min(LARGE_CHUNK, bytes - produced)))
  }
}

const largeBodyHashes = new Map<number, string>()

/**
 * Hex SHA-256 of what `/large?bytes=N` sends, generated the same way and never held whole in memory
 * (about 50 ms for 50 MB). Remembered per size: the server also sends it as `x-content-sha256`, so a
 * benchmark should call this once before timing.
 */
export function expectedLargeBodySha256(bytes: number): string {
  let hash = largeBodyHashes.get(bytes)
  if (hash === undefined) {
    const hasher = createHash('sha256')
    for (const chunk of largeBodyChunks(bytes)) hasher.update(chunk)
    hash = hasher.digest('hex')
    largeBodyHashes.set(bytes, hash)
  }
  return hash
}

function largeBodySize(url: URL): number | undefined {
  const text = url.searchParams.get('bytes') ?? ''
  // Digits only: Number('') is 0 and Number('1e3') is 1000, neither a size anyone meant.
  if (!/^\d{1,15}$/.test(text)) return undefined
  const bytes = Number(text)
  return bytes <= LARGE_MAX_BYTES ? bytes : undefined
}

async function streamLargeBody(exchange: Exchange): Promise<void> {
  const bytes = largeBodySize(exchange.url)
  if (bytes === undefined) return answerText(exchange, 400, `bytes must be an integer from 0 to ${LARGE_MAX_BYTES}`)
  const {res} = exchange
  begin(exchange, 200, {
    'content-type': 'application/octet-stream',
    'content-length': String(bytes),
    'x-content-sha256': expectedLargeBodySha256(bytes),
  })
  // HEAD: Node drops body writes, so generating them would only burn CPU.
  if (exchange.req.method === 'HEAD') return void res.end()
  for (const chunk of largeBodyChunks(bytes)) {
    // Backpressure: once the socket's buffer is full, generate nothing more until it drains.
    if (!res.write(chunk)) await drainOrClose(res)
    if (res.destroyed) return
  }
  res.end()
}

/** Resolves on 'drain', or on 'close' when the client (or `stop()`) ends the connection instead. */
async function drainOrClose(res: ServerResponse): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

// ---- request and response plumbing ------------------------------------------------------------

/** Streams the request body in, hashing all of it and keeping the first ECHO_TEXT_LIMIT bytes. */
async function receiveBody(req: IncomingMessage): Promise<ReceivedBody> {
  const hasher = createHash('sha256')
  const kept: Buffer[] = []
  let keptLength = 0
  let length = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    hasher.update(chunk)
    length += chunk.length
    if (keptLength < ECHO_TEXT_LIMIT) {
      const part = chunk.subarray(0, ECHO_TEXT_LIMIT - keptLength)
      kept.push(part)
      keptLength += part.length
    }
  }
  return {
    // Decoded once, whole: decoding chunk by chunk would split multi-byte characters.
    text: Buffer.concat(kept).toString('utf8'),
    truncated: length > keptLength,
    sha256: hasher.digest('hex'),
    length,
  }
}

function echo({req, url, claims, body}: Exchange): EchoResponse {
  const {authorization: _authorization, ...headers} = req.headers
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: queryObject(url.searchParams),
    claims,
    headers,
    body: body.text,
    bodyTruncated: body.truncated,
    bodySha256: body.sha256,
    bodyLength: body.length,
  }
}

function queryObject(params: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {}
  for (const [key, value] of params) {
    const previous = query[key]
    if (previous === undefined) query[key] = value
    else query[key] = Array.isArray(previous) ? [...previous, value] : [previous, value]
  }
  return query
}

/** Records the status, then sends the head: every answer goes through here. */
function begin(exchange: Exchange, status: number, headers: OutgoingHttpHeaders): void {
  exchange.record.status = status
  exchange.res.writeHead(status, headers)
}

function answer(exchange: Exchange, status: number, headers: OutgoingHttpHeaders, body: string): void {
  begin(exchange, status, headers)
  exchange.res.end(body)
}

function answerText(exchange: Exchange, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  answer(exchange, status, {'content-type': 'text/plain; charset=utf-8', ...headers}, text)
}

function answerJson(exchange: Exchange, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  answer(exchange, status, {'content-type': 'application/json', ...headers}, JSON.stringify(body))
}

function answerEcho(exchange: Exchange, headers: OutgoingHttpHeaders = {}): void {
  answerJson(exchange, 200, echo(exchange), headers)
}

/**
 * The mocha hooks of a suite that shares one API server. `options` is a function because the
 * authorization server it trusts is usually started by an earlier `before` hook (register
 * `useAuthServer` first): its URLs are not known when the hooks are registered.
 */
export function useApiServer(options: () => ApiServerOptions, onStarted: (server: ApiServer) => void): void {
  let server: ApiServer | undefined
  before(async () => {
    server = await startApiServer(options())
    onStarted(server)
  })
  after(async () => {
    await server?.stop()
  })
  beforeEach(() => {
    server?.reset()
  })
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && server && server.errors.length > 0) {
      console.error('API server errors:', server.errors)
    }
  })
}

/** The tests' authorization server and an API that accepts its tokens for `resources.api`, started for a describe block. */
export function useAuthServerWithApi(onStarted: (server: AuthServer, api: ApiServer) => void, options?: AuthServerOptions): void {
  let server: AuthServer
  useAuthServer((started) => {
    server = started
  }, options)
  useApiServer(
    () => ({audience: server.resources.api, issuer: server.issuer, jwksUri: server.jwksUri}),
    (api) => onStarted(server, api),
  )
}
