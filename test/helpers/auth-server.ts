/**
 * The authorization server of the end-to-end tests: tokenctl's own dev authorization server
 * (src/lib/devidp, what `tokenctl dev idp` runs) with what only tests need in front of it and around
 * it: a request log, fault injection in front of the token endpoint, records of refresh-token uses and
 * revocations, user tokens minted directly, grants revoked as an administrator would, and an outage.
 *
 * Everything oidc-provider-specific lives in src/lib/devidp; the object `startAuthServer` returns
 * speaks plain OAuth (URLs, client credentials, recorded requests) so tests do not depend on the
 * provider library.
 */
import {STATUS_CODES} from 'node:http'
import type {IncomingHttpHeaders, IncomingMessage, RequestListener, ServerResponse} from 'node:http'
import {Readable} from 'node:stream'
import {createHash, randomUUID} from 'node:crypto'
import {exportJWK, exportPKCS8, generateKeyPair} from 'jose'
import type {JWK} from 'jose'
import {devClients, type DevIdpClient} from '../../src/lib/devidp/clients.js'
import {providerConfiguration} from '../../src/lib/devidp/configuration.js'
import {generateSigningKeys, userTokenSigner} from '../../src/lib/devidp/keys.js'
import type {UserTokenClaims} from '../../src/lib/devidp/keys.js'
import type {ClientMetadata, OidcProvider, ProviderConfiguration} from '../../src/lib/devidp/oidc.js'
import {startDevIdp} from '../../src/lib/devidp/server.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import type {DevIdp, DevIdpOptions} from '../../src/lib/devidp/server.js'

export {API_RESOURCE, API_SCOPES, OTHER_RESOURCE, WEB_API_RESOURCE} from '../../src/lib/devidp/configuration.js'
export type {ClientAuthMethod} from '../../src/lib/devidp/clients.js'
export type {ClientMetadata, OidcProvider, ProviderConfiguration, UserTokenClaims}

const TOKEN_PATH = '/token'
const REVOCATION_PATH = '/token/revocation'
const DEFAULT_SHORT_TOKEN_TTL = 5

/** A registered client: id, secret, authentication method (and its grant types, redirect URIs). */
export type TestClient = DevIdpClient

export interface TestKeyClient extends TestClient {
  authMethod: 'private_key_jwt'
  alg: 'ES256'
  kid: string
  /** PKCS#8 PEM, what a user would put in `--private-key-file`. */
  privateKeyPem: string
  privateJwk: JWK
  publicJwk: JWK
}

export interface TestClients {
  basic: TestClient
  post: TestClient
  jwt: TestKeyClient
  /** client_secret_basic whose access tokens live `shortTokenTTL` seconds. */
  short: TestClient
  public: TestClient
  /**
   * A web API (client_secret_basic): the audience of the user tokens `mintUserToken` makes, and the
   * client that exchanges them on behalf of the user (jwt-bearer OBO, token exchange when enabled).
   */
  api: TestClient
  /** `dev idp`'s worker: client credentials only. */
  worker: TestClient
  /** `dev idp`'s public command-line client: device flow, authorization code + PKCE (loopback redirect), refresh. */
  cli: TestClient
  /** `dev idp`'s federated client: client credentials with a token of its GitHub Actions runner imitation. */
  workload: TestClient
  /** `dev idp`'s web API whose tokens must be DPoP-bound. */
  dpop: TestClient
  /** `dev idp --tls`'s mutual-TLS web API (with `mtlsClientCertificate`). */
  mtls?: TestClient
}

/**
 * What the next token request meets instead of (or before) the provider. `delayMs` alone delays the
 * request and then lets the provider answer it — unless the client went away meanwhile: then the
 * provider never sees it.
 */
export type TokenFault =
  {status: number; retryAfter?: number; body?: Record<string, unknown>; delayMs?: number} | {html: true; delayMs?: number} | {malformedJson: true; delayMs?: number} | {hang: true} | {delayMs: number}

export interface TokenRequestRecord {
  grant_type?: string
  /** From the Basic authorization header, else from the form. */
  client_id?: string
  /** The form as sent, secrets included; repeated parameters become arrays. */
  params: Record<string, string | string[]>
  body: string
  headers: IncomingHttpHeaders
  time: number
  fault?: TokenFault
}

export interface RequestRecord {
  method: string
  path: string
  time: number
}

/** One `refresh_token` grant request that reached the provider (faulted requests never do). */
export interface RefreshTokenUse {
  /** Hex SHA-256 of the presented refresh token; the token itself is not kept. */
  sha256: string
  /** The same refresh token had already been presented to the provider: a reuse. */
  alreadyUsed: boolean
  client_id?: string
  time: number
  /** The provider's answer, once sent. */
  status?: number
}

/** One request to the revocation endpoint (RFC 7009). */
export interface RevocationRecord {
  /** Hex SHA-256 of the `token` parameter. */
  sha256: string
  token_type_hint?: string
  client_id?: string
  time: number
  status?: number
}

export interface AuthServerOptions {
  /** Lifetime in seconds of access tokens for the API resources (default 3600). */
  accessTokenTTL?: number
  /** Lifetime in seconds of the `short` client's access tokens (default 5). */
  shortTokenTTL?: number
  /** More clients, in oidc-provider's client metadata format. */
  extraClients?: ClientMetadata[]
  /** More resource servers: identifier → space-separated scopes. */
  extraResources?: Record<string, string>
  /** Lifetime in seconds of refresh tokens (default 14 days). */
  refreshTokenTTL?: number
  /**
   * Register RFC 8693 token exchange, and so list it in discovery's `grant_types_supported` (default
   * true). tokenctl picks the rfc8693 OBO flavor when the metadata lists it; false makes this server
   * look like one that only speaks Entra's jwt-bearer OBO, which is always registered.
   */
  tokenExchange?: boolean
  /** Last word on the provider configuration (features, ttl, …); may mutate or return a new one. */
  configure?: (configuration: ProviderConfiguration) => ProviderConfiguration | void
  /** Lifetime in seconds of user tokens issued by sign-ins for the web API, `api://api` (default 3600). */
  userTokenTTL?: number
  /** Device flow: the polling interval announced; faster polls get `slow_down` (default 5). */
  deviceInterval?: number
  /** Device flow: seconds a person has to approve a device code (default 600). */
  deviceCodeTTL?: number
  /** The issuer's path, e.g. `/tenant1`: the provider is mounted under it (default none). */
  issuerPath?: string
  /**
   * Wraps everything, in front of the recording: what a server that differs from oidc-provider at its
   * edges answers itself (discovery locations, say) never reaches the records or the provider.
   */
  outerHandler?: (handler: RequestListener) => RequestListener
  /** The token endpoint's path (default `/token`), e.g. Entra's `/{tenant}/oauth2/v2.0/token`. */
  tokenPath?: string
  /**
   * A stricter server's own check of each token request, before the provider sees it: an answer to
   * send instead (a refusal), or undefined to let the provider answer. See entra-strict.ts.
   */
  inspectTokenRequest?: (record: TokenRequestRecord) => {status: number; body: Record<string, unknown>} | undefined
  /**
   * More clients in dev idp's own terms, registered as `dev idp` registers its own: federated ones
   * (`federatedCredentials`) authenticate with an external issuer's token (src/lib/devidp/federation.ts).
   */
  devClients?: TestClient[]
  /**
   * Serve https with this certificate and key (PEM, e.g. from tls.ts); the issuer is then
   * https://127.0.0.1:PORT. With `ca`, a second port asks for client certificates (mutual TLS): the
   * mtls_endpoint_aliases and dev idp's API on it (`mtls`).
   */
  tls?: {ca?: string; cert: string; key: string}
  /** DPoP: whether a proof must carry the server's nonce (default true, as dev idp). */
  dpopNonce?: boolean
  /** With `tls.ca`: register dev idp's `mtls` client (self_signed_tls_client_auth) with this certificate (PEM). */
  mtlsClientCertificate?: string
}

/** The dev server's URLs, clients and resources, plus what only tests need. */
export interface AuthServer extends Pick<
  DevIdp<TestClients>,
  'authorizationEndpoint' | 'clients' | 'deviceAuthorizationEndpoint' | 'introspectionEndpoint' | 'issuer' | 'jwksUri' | 'resources' | 'revocationEndpoint' | 'tokenEndpoint' | 'apiUrl' | 'mtls'
> {
  tokenRequests: TokenRequestRecord[]
  requests: RequestRecord[]
  /** Every `refresh_token` grant request the provider received, in order. */
  refreshTokenUses: RefreshTokenUse[]
  /** How many of `refreshTokenUses` presented a refresh token that had been presented before. */
  readonly reuseDetected: number
  /** Every request to the revocation endpoint, in order. */
  revocations: RevocationRecord[]
  /** Server-side errors (provider `server_error`s, helper failures); print them when a test fails. */
  errors: Error[]
  /**
   * Queues faults for the next POSTs to the token endpoint, one fault per request, in order. A
   * `{status, body}` fault answers any grant, OBO included, with that exact JSON: Entra-style errors
   * (`suberror`, `error_codes`, `claims`) need nothing more.
   */
  injectTokenFaults(...faults: TokenFault[]): void
  /**
   * Empties tokenRequests, requests, refreshTokenUses and revocations; queued faults and errors stay,
   * and so does the memory of presented refresh tokens (a reuse after a reset still counts).
   */
  resetCounters(): void
  /** A user access token signed with the server's key, `iss` = issuer. */
  mintUserToken(claims: UserTokenClaims): Promise<string>
  /**
   * Revokes the grant a refresh token belongs to, as an administrator would: the refresh tokens of
   * the grant (rotated ones included) die with it. False when the server does not know the token.
   */
  revokeGrantOf(refreshToken: string): Promise<boolean>
  /** Revokes every grant of a user (`sub`); returns how many grants were still alive. */
  revokeAllGrants(sub: string): Promise<number>
  /** Stops listening (connections are refused) while keeping all server state, until `comeBack()`. */
  goDown(): Promise<void>
  /** Listens again on the same port, with the same grants, tokens and clients. */
  comeBack(): Promise<void>
  /** Closes the server and every open connection, hanging ones included. */
  stop(): Promise<void>
  provider: OidcProvider
}

export interface ServerKeys {
  /** The provider's private signing keys (JWKS). */
  jwks: {keys: JWK[]}
  jwtClient: TestKeyClient
}

export async function startAuthServer(options: AuthServerOptions = {}): Promise<AuthServer> {
  const keys = await generateServerKeys()
  const clients = testClients(keys.jwtClient, options)
  const errors: Error[] = []
  const tokenRequests: TokenRequestRecord[] = []
  const requests: RequestRecord[] = []
  const refreshTokenUses: RefreshTokenUse[] = []
  const revocations: RevocationRecord[] = []
  const presentedRefreshTokens = new Set<string>()
  const faults: TokenFault[] = []
  // The dev server's own request handler, behind the recording and the faults (set by `front`).
  let providerCallback: RequestListener = () => {}
  let stopped = false

  async function handleTokenRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req)
    const fault = faults.shift()
    const record = recordTokenRequest(req, body, fault)
    tokenRequests.push(record)
    let clientGone = false
    res.once('close', () => {
      clientGone = !res.writableEnded
    })
    if (fault && 'delayMs' in fault && fault.delayMs) await sleep(fault.delayMs)
    // A client that went away during the delay (killed mid-request) never reaches the provider: as if
    // the request had been lost on the way, so the server consumed nothing.
    if (stopped || clientGone) return
    if (fault && answerWithFault(fault, res)) return
    const refusal = options.inspectTokenRequest?.(record)
    if (refusal) {
      send(res, refusal.status, 'application/json', JSON.stringify(refusal.body))
      return
    }

    if (record.grant_type === 'refresh_token') recordRefreshTokenUse(record, res)
    providerCallback(replayRequest(req, body), res)
  }

  function recordRefreshTokenUse(record: TokenRequestRecord, res: ServerResponse): void {
    const hash = sha256(firstValue(record.params.refresh_token) ?? '')
    const use: RefreshTokenUse = {
      sha256: hash,
      alreadyUsed: presentedRefreshTokens.has(hash),
      ...(record.client_id === undefined ? {} : {client_id: record.client_id}),
      time: record.time,
    }
    // Counted when presented, not when answered: two concurrent presentations are a reuse even if
    // the provider, racing with itself, answered both.
    presentedRefreshTokens.add(hash)
    refreshTokenUses.push(use)
    res.once('finish', () => (use.status = res.statusCode))
  }

  async function handleRevocationRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req)
    const params = parseForm(body.toString('utf8'))
    const hint = firstValue(params.token_type_hint)
    const clientId = basicClientId(req.headers.authorization) ?? firstValue(params.client_id)
    const record: RevocationRecord = {
      sha256: sha256(firstValue(params.token) ?? ''),
      ...(hint === undefined ? {} : {token_type_hint: hint}),
      ...(clientId === undefined ? {} : {client_id: clientId}),
      time: Date.now(),
    }
    revocations.push(record)
    res.once('finish', () => (record.status = res.statusCode))
    if (stopped) return
    providerCallback(replayRequest(req, body), res)
  }

  function intercept(handler: typeof handleTokenRequest, req: IncomingMessage, res: ServerResponse): void {
    handler(req, res).catch((error: unknown) => {
      errors.push(error instanceof Error ? error : new Error(String(error)))
      res.destroy()
    })
  }

  function front(devIdpHandler: RequestListener): RequestListener {
    providerCallback = devIdpHandler
    const recording: RequestListener = (req, res) => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
      requests.push({method: req.method ?? 'GET', path, time: Date.now()})
      if (req.method === 'POST' && path === `${issuerPath}${tokenPath}`) intercept(handleTokenRequest, req, res)
      else if (req.method === 'POST' && path === `${issuerPath}${REVOCATION_PATH}`) intercept(handleRevocationRequest, req, res)
      else providerCallback(req, res)
    }
    return options.outerHandler ? options.outerHandler(recording) : recording
  }

  const issuerPath = options.issuerPath?.replace(/\/$/, '') ?? ''
  const tokenPath = options.tokenPath ?? TOKEN_PATH
  const {shortTokenTTL: _short, outerHandler: _outer, inspectTokenRequest: _inspect, tokenPath: _path, devClients: extra = [], ...devIdpOptions} = options
  const idp = await startDevIdp({
    ...devIdpOptions,
    configure: (configuration) => {
      if (options.tokenPath) configuration.routes = {...configuration.routes, token: options.tokenPath}
      return options.configure?.(configuration) ?? configuration
    },
    port: 0,
    clients: {...clients, ...Object.fromEntries(extra.map((client) => [client.clientId, client]))},
    signingKeys: keys.jwks,
    wrapHandler: front,
    onError: (error) => errors.push(error),
  } satisfies DevIdpOptions<TestClients>)
  const {issuer, provider, server} = idp
  const grants = trackGrants(provider)
  const signUserToken = userTokenSigner(issuer, keys.jwks.keys[0])

  return {
    issuer,
    authorizationEndpoint: idp.authorizationEndpoint,
    deviceAuthorizationEndpoint: idp.deviceAuthorizationEndpoint,
    tokenEndpoint: options.tokenPath ? `${issuer}${options.tokenPath}` : idp.tokenEndpoint,
    revocationEndpoint: idp.revocationEndpoint,
    introspectionEndpoint: idp.introspectionEndpoint,
    jwksUri: idp.jwksUri,
    apiUrl: idp.apiUrl,
    mtls: idp.mtls,
    clients,
    resources: idp.resources,
    tokenRequests,
    requests,
    refreshTokenUses,
    get reuseDetected() {
      return refreshTokenUses.filter((use) => use.alreadyUsed).length
    },
    revocations,
    errors,
    injectTokenFaults(...more) {
      faults.push(...more)
    },
    resetCounters() {
      tokenRequests.length = 0
      requests.length = 0
      refreshTokenUses.length = 0
      revocations.length = 0
    },
    mintUserToken: signUserToken,
    revokeGrantOf: (refreshToken) => revokeGrantOf(provider, refreshToken),
    revokeAllGrants: (sub) => grants.revokeAll(sub),
    async goDown() {
      await closeServer(server)
    },
    async comeBack() {
      await listenOnLoopback(server, Number(new URL(issuer).port))
    },
    async stop() {
      // Delayed token requests still waiting must not reach the provider afterwards.
      stopped = true
      await idp.stop()
    },
    provider,
  }
}

/**
 * The provider configuration of a server with these clients: src/lib/devidp's, with `shortTokenTTL`
 * applied to the `short` client. A provider built from it also needs the OBO grants and the device
 * polling rules registered, as `startDevIdp` does.
 */
export function authServerConfiguration(keys: ServerKeys, clients: TestClients, options: AuthServerOptions = {}): ProviderConfiguration {
  const short = {...clients.short, accessTokenTTL: options.shortTokenTTL ?? clients.short.accessTokenTTL ?? DEFAULT_SHORT_TOKEN_TTL}
  return providerConfiguration(keys.jwks, Object.values({...clients, short}), options)
}

/** The fixed clients of the tests, and `dev idp`'s three (worker, api, cli). */
export function testClients(jwtClient: TestKeyClient, options: AuthServerOptions = {}): TestClients {
  return {
    ...devClients({mtlsCertificate: options.mtlsClientCertificate, tokenExchange: options.tokenExchange}),
    basic: {clientId: 'basic', clientSecret: 'basic-secret', authMethod: 'client_secret_basic'},
    post: {clientId: 'post', clientSecret: 'post-secret', authMethod: 'client_secret_post'},
    jwt: jwtClient,
    short: {
      clientId: 'short',
      clientSecret: 'short-secret',
      authMethod: 'client_secret_basic',
      accessTokenTTL: options.shortTokenTTL ?? DEFAULT_SHORT_TOKEN_TTL,
    },
    public: {clientId: 'public', authMethod: 'none'},
  }
}

/** The provider's signing keys (fresh, as `dev idp`'s) and the `jwt` client's key pair. */
export async function generateServerKeys(): Promise<ServerKeys> {
  const [jwks, client] = await Promise.all([generateSigningKeys(), generateKeyPair('ES256', {extractable: true})])
  const kid = `jwt-client-${randomUUID()}`
  const publicJwk = {...(await exportJWK(client.publicKey)), kid, alg: 'ES256', use: 'sig'}
  return {
    jwks,
    jwtClient: {
      clientId: 'jwt',
      authMethod: 'private_key_jwt',
      alg: 'ES256',
      kid,
      privateKeyPem: await exportPKCS8(client.privateKey),
      privateJwk: {...(await exportJWK(client.privateKey)), kid, alg: 'ES256', use: 'sig'},
      publicJwk,
    },
  }
}

/**
 * Grant ids by account, from the provider's `grant.saved` events: the memory adapter cannot list
 * them, and revoking a user's sessions needs them.
 */
function trackGrants(provider: OidcProvider): {revokeAll(sub: string): Promise<number>} {
  const byAccount = new Map<string, Set<string>>()
  provider.on('grant.saved', (grant: {accountId?: string; jti: string}) => {
    if (grant.accountId === undefined) return
    const ids = byAccount.get(grant.accountId) ?? new Set<string>()
    byAccount.set(grant.accountId, ids.add(grant.jti))
  })
  return {
    async revokeAll(sub) {
      const ids = [...(byAccount.get(sub) ?? [])]
      byAccount.delete(sub)
      const alive = await Promise.all(ids.map((id) => revokeGrant(provider, id)))
      return alive.filter(Boolean).length
    },
  }
}

async function revokeGrantOf(provider: OidcProvider, refreshToken: string): Promise<boolean> {
  // Expired and consumed refresh tokens still name their grant.
  const token = await provider.RefreshToken.find(refreshToken, {ignoreExpiration: true})
  if (!token?.grantId) return false
  await revokeGrant(provider, token.grantId)
  return true
}

/**
 * What oidc-provider's own revocation does to a grant (lib/helpers/revoke.js): its tokens and the
 * grant itself are deleted, so a refresh with any of its refresh tokens meets invalid_grant.
 * True when the grant still existed.
 */
async function revokeGrant(provider: OidcProvider, grantId: string): Promise<boolean> {
  const grant = await provider.Grant.find(grantId, {ignoreExpiration: true})
  await Promise.all([provider.AccessToken.revokeByGrantId(grantId), provider.RefreshToken.revokeByGrantId(grantId), provider.Grant.adapter.destroy(grantId)])
  return grant !== undefined
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/**
 * oidc-provider reads the form from the raw request stream, which recording has already drained;
 * give it a fresh stream with the same body and the original request's metadata.
 */
function replayRequest(req: IncomingMessage, body: Buffer): IncomingMessage {
  const replay = Readable.from(body.length > 0 ? [body] : [], {objectMode: false})
  return Object.assign(replay, {
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    method: req.method,
    url: req.url,
    socket: req.socket,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    complete: true,
  }) as unknown as IncomingMessage
}

function recordTokenRequest(req: IncomingMessage, body: Buffer, fault: TokenFault | undefined): TokenRequestRecord {
  const text = body.toString('utf8')
  const params = parseForm(text)
  return {
    grant_type: firstValue(params.grant_type),
    client_id: basicClientId(req.headers.authorization) ?? firstValue(params.client_id),
    params,
    body: text,
    headers: req.headers,
    time: Date.now(),
    ...(fault ? {fault} : {}),
  }
}

function parseForm(text: string): Record<string, string | string[]> {
  const params: Record<string, string | string[]> = {}
  for (const [key, value] of new URLSearchParams(text)) {
    const previous = params[key]
    if (previous === undefined) params[key] = value
    else params[key] = Array.isArray(previous) ? [...previous, value] : [previous, value]
  }
  return params
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** The client id of a Basic header, form-urlencoded before base64 as RFC 6749 §2.3.1 says. */
function basicClientId(authorization: string | undefined): string | undefined {
  const match = /^basic\s+(\S+)$/i.exec(authorization ?? '')
  if (!match) return undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const id = decoded.slice(0, decoded.includes(':') ? decoded.indexOf(':') : undefined)
  try {
    return decodeURIComponent(id.replaceAll('+', ' '))
  } catch {
    return id
  }
}

/** Answers with the fault; false when the fault was only a delay and the provider should answer. */
function answerWithFault(fault: TokenFault, res: ServerResponse): boolean {
  if ('hang' in fault) return true
  if ('html' in fault) {
    send(res, 200, 'text/html; charset=utf-8', '<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>')
    return true
  }
  if ('malformedJson' in fault) {
    send(res, 200, 'application/json', '{"access_token": ')
    return true
  }
  if ('status' in fault) {
    if (fault.retryAfter !== undefined) res.setHeader('retry-after', String(fault.retryAfter))
    if (fault.body === undefined) send(res, fault.status, 'text/plain', STATUS_CODES[fault.status] ?? 'Error')
    else send(res, fault.status, 'application/json', JSON.stringify(fault.body))
    return true
  }
  return false
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {'content-type': contentType, 'cache-control': 'no-store'})
  res.end(body)
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * The mocha hooks of a suite that shares one server: started before it, stopped after it, counters
 * reset before each test, server-side errors printed when a test fails.
 */
export function useAuthServer(onStarted: (server: AuthServer) => void, options?: AuthServerOptions): void {
  let server: AuthServer | undefined
  before(async () => {
    server = await startAuthServer(options)
    onStarted(server)
  })
  after(async () => {
    await server?.stop()
  })
  beforeEach(() => {
    server?.resetCounters()
  })
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && server && server.errors.length > 0) {
      console.error('authorization server errors:', server.errors)
    }
  })
}
