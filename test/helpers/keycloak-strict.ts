/**
 * A purpose-made authorization server that behaves as Keycloak 26's standard token exchange is
 * documented ("Configuring and using token exchange", https://www.keycloak.org/securing-apps/token-exchange)
 * and coded (services/…/tokenexchange/StandardTokenExchangeProvider.java and
 * AbstractTokenExchangeProvider.java in github.com/keycloak/keycloak), where oidc-provider and
 * `dev idp` are lenient:
 *
 * - a realm issuer, `http://127.0.0.1:PORT/realms/NAME`, with Keycloak's endpoint paths
 *   (`/protocol/openid-connect/token`, `…/certs`, `…/revoke`);
 * - the requesting client must be confidential ("Public client is not allowed to exchange token",
 *   400 invalid_client) and in the subject token's `aud` unless it is the token's holder (`azp`):
 *   else 403 access_denied "Client is not within the token audience";
 * - `audience` may repeat; each must be a client ("Audience not found", 400 invalid_client) and among
 *   the audiences the requester's tokens may carry ("Requested audience not available: X", 400
 *   invalid_request): it only narrows;
 * - a scope the client does not have is 400 invalid_scope "Invalid scopes: …";
 * - no refresh token unless asked for by `requested_token_type=…:refresh_token`, and only where the
 *   client's "Allow refresh token in Standard Token Exchange" is "Same session" ("requested_token_type
 *   unsupported", 400 invalid_request, where it is "No", Keycloak's default); then never with
 *   `offline_access` in the scope ("Scope offline_access not allowed for token exchange") and never
 *   for a subject token without a user session. Such an answer carries both an access token and a
 *   refresh token, and `issued_token_type` refresh_token;
 * - refresh with rotation ("Revoke Refresh Token" on, no reuse): a refresh token presented twice is
 *   invalid_grant and ends its session; a refresh asking for a scope its refresh token does not hold
 *   is 400 invalid_scope.
 *
 * One more client setting is not Keycloak's: `in-access-token` answers a refresh-token request as
 * RFC 8693 §2.2.1 allows, the refresh token in the `access_token` field alone (`issued_token_type`
 * refresh_token, `token_type` N_A), as other token-exchange servers may.
 */
import {createHash, randomBytes, randomUUID} from 'node:crypto'
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'

import {exportJWK, generateKeyPair, jwtVerify, SignJWT} from 'jose'
import type {CryptoKey, JWK, JWTPayload} from 'jose'

import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'

const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const REFRESH_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token'
/** The default client scopes of a new Keycloak realm that show in `scope`. */
const DEFAULT_SCOPES = ['profile', 'email']

/** The client's "Allow refresh token in Standard Token Exchange", plus the RFC 8693 shape Keycloak does not use. */
export type RefreshInExchange = 'in-access-token' | 'no' | 'same-session'

export interface KeycloakClient {
  clientId: string
  /** Absent: a public client. */
  secret?: string
  /** Default `no`, as in Keycloak. */
  refreshInExchange?: RefreshInExchange
  /** The optional client scopes it may ask for, besides the defaults (`offline_access` is one for every client). */
  scopes?: readonly string[]
  /** The audiences its exchanged tokens carry (audience mappers, client roles); `audience` narrows them. Default: none but itself. */
  audiences?: readonly string[]
}

export interface KeycloakRequestRecord {
  grant_type?: string
  client_id?: string
  /** The form as sent; repeated parameters become arrays. */
  params: Record<string, string | string[]>
  time: number
  /** The answer's status and body, once sent. */
  status?: number
  answer?: Record<string, unknown>
}

export interface KeycloakRefreshTokenUse {
  /** Hex SHA-256 of the presented refresh token. */
  sha256: string
  alreadyUsed: boolean
  status?: number
}

export interface UserTokenOptions {
  sub: string
  /** The clients the token is for (Keycloak: an audience mapper on the front end's scope). */
  aud: string | string[]
  /** The client the user signed in with. Default `frontend`. */
  azp?: string
  /** Without a user session (a transient one): no refresh token can be issued from it. */
  sessionless?: boolean
}

export interface KeycloakServer {
  /** `http://127.0.0.1:PORT/realms/NAME`. */
  issuer: string
  tokenEndpoint: string
  tokenRequests: KeycloakRequestRecord[]
  refreshTokenUses: KeycloakRefreshTokenUse[]
  readonly reuseDetected: number
  /** A user's access token as the realm issues it to a front end. */
  mintUserToken(options: UserTokenOptions): Promise<string>
  resetCounters(): void
  stop(): Promise<void>
}

interface RefreshGrant {
  aud: string[]
  clientId: string
  scope: string[]
  sid: string
  sub: string
  used: boolean
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description)
  }
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex')

export async function startKeycloakServer(options: {clients: KeycloakClient[]; realm?: string; accessTokenTTL?: number}): Promise<KeycloakServer> {
  const realm = options.realm ?? 'tokenctl'
  const accessTokenTTL = options.accessTokenTTL ?? 300
  const clients = new Map(options.clients.map((client) => [client.clientId, client]))
  const {privateKey, publicKey} = await generateKeyPair('RS256', {extractable: true})
  const kid = randomUUID()
  const publicJwk: JWK = {...(await exportJWK(publicKey)), alg: 'RS256', kid, use: 'sig'}
  const tokenRequests: KeycloakRequestRecord[] = []
  const refreshTokenUses: KeycloakRefreshTokenUse[] = []
  /** User sessions (`sid`) that are alive. */
  const sessions = new Set<string>()
  const refreshTokens = new Map<string, RefreshGrant>()
  let issuer = ''

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      send(res, 500, {error: 'server_error', error_description: String(error)})
    })
  })
  const port = await listenOnLoopback(server)
  issuer = `http://127.0.0.1:${port}/realms/${realm}`
  const base = `/realms/${realm}`
  const endpoint = (name: string) => `${issuer}/protocol/openid-connect/${name}`

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', issuer).pathname
    if (req.method === 'GET' && path === `${base}/.well-known/openid-configuration`) return send(res, 200, metadata())
    if (req.method === 'GET' && path === `${base}/protocol/openid-connect/certs`) return send(res, 200, {keys: [publicJwk]})
    if (req.method === 'POST' && path === `${base}/protocol/openid-connect/token`) return tokenEndpoint(req, res)
    if (req.method === 'POST' && path === `${base}/protocol/openid-connect/revoke`) return revocationEndpoint(req, res)
    // Keycloak's answer for a realm or path it does not have.
    return send(res, 404, {error: 'Unable to find matching target resource method'})
  }

  function metadata() {
    return {
      issuer,
      authorization_endpoint: endpoint('auth'),
      token_endpoint: endpoint('token'),
      jwks_uri: endpoint('certs'),
      revocation_endpoint: endpoint('revoke'),
      grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token', TOKEN_EXCHANGE_GRANT],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
    }
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req))
    const record: KeycloakRequestRecord = {grant_type: form.get('grant_type') ?? undefined, params: formRecord(form), time: Date.now()}
    tokenRequests.push(record)
    let status = 200
    let answer: Record<string, unknown>
    try {
      const client = authenticate(req, form)
      record.client_id = client.clientId
      answer = await grant(client, form)
    } catch (error) {
      if (!(error instanceof Refusal)) throw error
      status = error.status
      answer = {error: error.error, error_description: error.description}
    }

    record.status = status
    record.answer = answer
    send(res, status, answer)
  }

  /** client_secret_basic or client_secret_post; a public client names itself in the form. */
  function authenticate(req: IncomingMessage, form: URLSearchParams): KeycloakClient {
    const basic = /^basic\s+(\S+)$/i.exec(req.headers.authorization ?? '')
    let id = form.get('client_id') ?? undefined
    let secret = form.get('client_secret') ?? undefined
    if (basic) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      id = decodeURIComponent(decoded.slice(0, colon).replaceAll('+', ' '))
      secret = decodeURIComponent(decoded.slice(colon + 1).replaceAll('+', ' '))
    }

    const client = id === undefined ? undefined : clients.get(id)
    if (!client || (client.secret !== undefined && client.secret !== secret) || (client.secret === undefined && secret !== undefined)) {
      throw new Refusal(401, 'invalid_client', 'Invalid client or Invalid client credentials')
    }

    return client
  }

  async function grant(client: KeycloakClient, form: URLSearchParams): Promise<Record<string, unknown>> {
    switch (form.get('grant_type')) {
      case TOKEN_EXCHANGE_GRANT: {
        return exchange(client, form)
      }

      case 'refresh_token': {
        return refresh(client, form)
      }

      default: {
        throw new Refusal(400, 'unsupported_grant_type', 'Unsupported grant_type')
      }
    }
  }

  /** StandardTokenExchangeProvider, in its order: subject token, token type, audiences, the requester, scopes, then the session. */
  async function exchange(client: KeycloakClient, form: URLSearchParams): Promise<Record<string, unknown>> {
    if (form.get('subject_token_type') !== ACCESS_TOKEN_TYPE) throw new Refusal(400, 'invalid_request', 'Invalid subject token type')
    const subject = await verifiedUserToken(form.get('subject_token') ?? '')
    const requestedTokenType = form.get('requested_token_type') ?? ACCESS_TOKEN_TYPE
    const refreshAllowed = (client.refreshInExchange ?? 'no') !== 'no'
    if (requestedTokenType !== ACCESS_TOKEN_TYPE && !(requestedTokenType === REFRESH_TOKEN_TYPE && refreshAllowed)) {
      throw new Refusal(400, 'invalid_request', 'requested_token_type unsupported')
    }

    const requested = form.getAll('audience')
    if (requested.some((audience) => !clients.has(audience))) throw new Refusal(400, 'invalid_client', 'Audience not found')
    if (client.secret === undefined) throw new Refusal(400, 'invalid_client', 'Public client is not allowed to exchange token')
    if (subject.azp !== client.clientId && ![subject.aud ?? []].flat().includes(client.clientId)) {
      throw new Refusal(403, 'access_denied', 'Client is not within the token audience')
    }

    const scope = grantedScopes(client, form.get('scope'))
    const refreshing = requestedTokenType === REFRESH_TOKEN_TYPE
    if (refreshing && (typeof subject.sid !== 'string' || !sessions.has(subject.sid))) {
      throw new Refusal(400, 'invalid_request', 'Refresh token not valid as requested_token_type because creating a new session is needed')
    }

    if (refreshing && scope.includes('offline_access')) throw new Refusal(400, 'invalid_request', 'Scope offline_access not allowed for token exchange')
    const available = client.audiences ?? [client.clientId]
    const missing = requested.filter((audience) => !available.includes(audience))
    if (missing.length > 0) throw new Refusal(400, 'invalid_request', `Requested audience not available: ${missing.join(', ')}`)
    const aud = requested.length > 0 ? [...new Set(requested)] : [...available]
    const sid = typeof subject.sid === 'string' ? subject.sid : undefined
    const body: Record<string, unknown> = {
      ...(await accessTokenAnswer({aud, clientId: client.clientId, scope, sid, sub: String(subject.sub)})),
      issued_token_type: requestedTokenType,
    }
    if (!refreshing) return body
    const refreshToken = newRefreshToken({aud, clientId: client.clientId, scope, sid: sid!, sub: String(subject.sub), used: false})
    if (client.refreshInExchange === 'same-session') return {...body, refresh_token: refreshToken, refresh_expires_in: 1800}
    // RFC 8693 §2.2.1: the issued token in `access_token`, its type N_A (not an access token).
    return {access_token: refreshToken, expires_in: 1800, issued_token_type: REFRESH_TOKEN_TYPE, scope: scope.join(' '), token_type: 'N_A'}
  }

  /** TokenManager.refreshAccessToken: the client's own refresh token, a scope within it, rotation without reuse. */
  async function refresh(client: KeycloakClient, form: URLSearchParams): Promise<Record<string, unknown>> {
    const presented = form.get('refresh_token') ?? ''
    const use: KeycloakRefreshTokenUse = {alreadyUsed: false, sha256: sha256(presented)}
    refreshTokenUses.push(use)
    try {
      const held = refreshTokens.get(presented)
      if (!held || !sessions.has(held.sid)) throw new Refusal(400, 'invalid_grant', 'Invalid refresh token')
      if (held.clientId !== client.clientId) throw new Refusal(400, 'invalid_grant', "Invalid refresh token. Token client and authorized client don't match")
      if (held.used) {
        use.alreadyUsed = true
        sessions.delete(held.sid)
        throw new Refusal(400, 'invalid_grant', 'Maximum allowed refresh token reuse exceeded')
      }

      const asked = form.get('scope')?.split(' ').filter(Boolean)
      const beyond = (asked ?? []).filter((scope) => !held.scope.includes(scope))
      if (beyond.length > 0) throw new Refusal(400, 'invalid_scope', `Invalid scopes: ${form.get('scope')}`)
      held.used = true
      const scope = asked && asked.length > 0 ? asked : held.scope
      const rotated = newRefreshToken({...held, used: false})
      use.status = 200
      return {...(await accessTokenAnswer({...held, scope})), refresh_token: rotated, refresh_expires_in: 1800}
    } catch (error) {
      if (error instanceof Refusal) use.status = error.status
      throw error
    }
  }

  async function revocationEndpoint(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req))
    try {
      const client = authenticate(req, form)
      const held = refreshTokens.get(form.get('token') ?? '')
      if (held?.clientId === client.clientId) sessions.delete(held.sid)
      res.writeHead(200).end()
    } catch (error) {
      if (!(error instanceof Refusal)) throw error
      send(res, error.status, {error: error.error, error_description: error.description})
    }
  }

  /** TokenManager.isValidScope: the default scopes always, an optional one when asked for; anything else refused. */
  function grantedScopes(client: KeycloakClient, scope: string | null): string[] {
    const asked = (scope ?? '').split(' ').filter(Boolean)
    const optional = new Set([...(client.scopes ?? []), 'offline_access', 'openid'])
    if (asked.some((value) => !optional.has(value) && !DEFAULT_SCOPES.includes(value))) throw new Refusal(400, 'invalid_scope', `Invalid scopes: ${scope}`)
    return [...new Set([...asked.filter((value) => value !== 'openid'), ...DEFAULT_SCOPES])]
  }

  async function verifiedUserToken(token: string): Promise<JWTPayload & {azp?: string; sid?: string}> {
    try {
      const {payload} = await jwtVerify(token, publicKey, {issuer, requiredClaims: ['sub', 'exp']})
      if (payload.typ !== 'Bearer') throw new Error('not an access token')
      if (typeof payload.sid === 'string' && !sessions.has(payload.sid)) throw new Error('session not active')
      return payload
    } catch {
      throw new Refusal(400, 'invalid_request', 'Invalid token')
    }
  }

  function newRefreshToken(held: RefreshGrant): string {
    const token = randomBytes(32).toString('base64url')
    refreshTokens.set(token, held)
    return token
  }

  async function accessTokenAnswer(token: {aud: string[]; clientId: string; scope: string[]; sid?: string; sub: string}): Promise<Record<string, unknown>> {
    const accessToken = await sign(
      privateKey,
      {
        aud: token.aud.length === 1 ? token.aud[0] : token.aud,
        azp: token.clientId,
        scope: token.scope.join(' '),
        sub: token.sub,
        typ: 'Bearer',
        ...(token.sid === undefined ? {} : {sid: token.sid}),
      },
      accessTokenTTL,
    )
    return {
      access_token: accessToken,
      expires_in: accessTokenTTL,
      'not-before-policy': 0,
      refresh_expires_in: 0,
      scope: token.scope.join(' '),
      token_type: 'Bearer',
      ...(token.sid === undefined ? {} : {session_state: token.sid}),
    }
  }

  async function sign(key: CryptoKey, claims: JWTPayload, lifetime: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({...claims, jti: randomUUID()})
      .setProtectedHeader({alg: 'RS256', kid, typ: 'JWT'})
      .setIssuer(issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + lifetime)
      .sign(key)
  }

  return {
    issuer,
    tokenEndpoint: endpoint('token'),
    tokenRequests,
    refreshTokenUses,
    get reuseDetected() {
      return refreshTokenUses.filter((use) => use.alreadyUsed).length
    },
    async mintUserToken({aud, azp = 'frontend', sessionless, sub}) {
      const sid = sessionless ? undefined : randomUUID()
      if (sid) sessions.add(sid)
      return sign(privateKey, {aud, azp, scope: 'openid profile email', sub, typ: 'Bearer', ...(sid ? {sid} : {})}, 3600)
    },
    resetCounters() {
      tokenRequests.length = 0
      refreshTokenUses.length = 0
    },
    stop: () => closeServer(server),
  }
}

/** The mocha hooks of a suite sharing one server: started before it, stopped after it, counters reset before each test. */
export function useKeycloakServer(onStarted: (server: KeycloakServer) => void, options: Parameters<typeof startKeycloakServer>[0]): void {
  let server: KeycloakServer | undefined
  before(async () => {
    server = await startKeycloakServer(options)
    onStarted(server)
  })
  after(async () => {
    await server?.stop()
  })
  beforeEach(() => {
    server?.resetCounters()
  })
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function formRecord(form: URLSearchParams): Record<string, string | string[]> {
  const params: Record<string, string | string[]> = {}
  for (const name of new Set(form.keys())) {
    const values = form.getAll(name)
    params[name] = values.length === 1 ? values[0] : values
  }

  return params
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, {'cache-control': 'no-store', 'content-type': 'application/json'})
  res.end(JSON.stringify(body))
}
