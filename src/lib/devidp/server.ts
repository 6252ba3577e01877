/**
 * The dev authorization server: oidc-provider on 127.0.0.1, state in memory. `tokenctl dev idp`
 * runs it, and the test suite's authorization server (test/helpers/auth-server.ts) is this one with
 * request recording and fault injection in front.
 *
 * It speaks client credentials, both OBO flavors (jwt-bearer, RFC 8693 token exchange), refresh
 * tokens with rotation and reuse detection, the device flow, authorization code with PKCE through a
 * loopback redirect (sign-in with any user name, then consent), revocation and introspection; its
 * access tokens are JWTs verifiable with its JWKS. Federated clients authenticate with an external
 * issuer's token (workload identity federation, ./federation.ts), and beside the server, under
 * /github-actions, an imitation of the GitHub Actions runner's token service issues such tokens.
 *
 * What `startDevIdp` returns speaks plain OAuth (URLs, client credentials); only `provider` is the
 * oidc-provider instance, for the tests that reach inside.
 */
import {createServer} from 'node:http'
import type {IncomingMessage, RequestListener, Server, ServerResponse} from 'node:http'
import {createServer as createTlsServer} from 'node:https'

import {ConfigError} from '../errors.js'
import {closeServer, listenOnLoopback} from '../http/loopback.js'
import {DEV_RUNNER_REQUEST_TOKEN, devClients, type DevClients, type DevIdpClient, GITHUB_ACTIONS_PATH} from './clients.js'
import {API_RESOURCE, type ConfigurationOptions, OTHER_RESOURCE, providerConfiguration, WEB_API_RESOURCE} from './configuration.js'
import {enforceDevicePolling} from './device-polling.js'
import {federationFront} from './federation.js'
import {handleInteraction, isInteractionRequest} from './interactions.js'
import {generateSigningKeys, publicJwk, type SigningKeys} from './keys.js'
import {localOnly} from './local-only.js'
import {registerOboGrants} from './obo-grants.js'
import {consentForOfflineAccess} from './offline-access.js'
import {createProvider, type OidcProvider} from './oidc.js'
import {PROTECTED_API_PATH, protectedApiHandler} from './protected-api.js'
import {createWorkloadIssuer, type WorkloadIssuer} from './workload-issuer.js'

/** The provider's default routes (oidc-provider `routes`), which the returned URLs name. */
const ROUTES = {
  authorization: '/auth',
  deviceAuthorization: '/device/auth',
  token: '/token',
  revocation: '/token/revocation',
  introspection: '/token/introspection',
  jwks: '/jwks',
} as const

/** Any object of clients, interfaces included (which a Record<string, …> constraint would refuse). */
export type ClientSet<C> = {[K in keyof C]: DevIdpClient}

/** RFC 8628's default polling interval, announced in the device authorization response. */
const DEFAULT_DEVICE_INTERVAL = 5

export interface DevIdpOptions<C extends ClientSet<C> = DevClients> extends ConfigurationOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. A port in use is a ConfigError `port_in_use`. */
  port?: number
  /** The registered clients; default those of `devClients()` (worker, api, cli, workload). */
  clients?: C
  /** The provider's private signing keys; default fresh ones. */
  signingKeys?: SigningKeys
  /**
   * Register RFC 8693 token exchange, and so list it in discovery's `grant_types_supported` (default
   * true). tokenctl picks the rfc8693 OBO flavor when the metadata lists it; false makes this server
   * look like one that only speaks Entra's jwt-bearer OBO, which is always registered. Pass the same
   * value to `devClients()` when giving `clients`.
   */
  tokenExchange?: boolean
  /** Seconds between device-flow polls, announced as `interval`; faster polls get `slow_down` (default 5). */
  deviceInterval?: number
  /** Wraps the server's request handler: the tests record requests and inject faults in front of it. */
  wrapHandler?: (handler: RequestListener) => RequestListener
  /** Called with every server-side error (provider `server_error`s, failed interactions); also kept in `errors`. */
  onError?: (error: Error) => void
  /**
   * A path for the issuer, e.g. `/tenant1` (default none): the provider is mounted under it, as
   * servers with one issuer per tenant or realm are, and anything outside it answers 404.
   */
  issuerPath?: string
  /**
   * Serve https with this certificate and key (PEM) instead of plain http; the issuer is then
   * https://127.0.0.1:PORT. With `ca`, a second https port asks for client certificates (verified
   * against `ca`, or registered as they are): the mutual-TLS endpoints (`mtls_endpoint_aliases`) and
   * the protected API, for tls_client_auth, self_signed_tls_client_auth and certificate-bound tokens.
   */
  tls?: {ca?: string; cert: string; key: string}
  /** The port of the mutual-TLS endpoints (with `tls.ca`); 0 (the default) picks a free one. */
  mtlsPort?: number
  /** With the default clients: the `mtls` client's certificate (PEM); no `mtls` client without it. */
  mtlsClientCertificate?: string
}

export interface DevIdp<C extends ClientSet<C> = DevClients> {
  issuer: string
  authorizationEndpoint: string
  deviceAuthorizationEndpoint: string
  tokenEndpoint: string
  revocationEndpoint: string
  introspectionEndpoint: string
  jwksUri: string
  /** The protected API beside the server (`/echo`, `/reject-first/ID`): tokens for `resources.api` or `resources.other`. */
  apiUrl: string
  /** With `tls.ca`: the origin that asks for client certificates, and the protected API on it (certificate-bound tokens go there). */
  mtls?: {apiUrl: string; origin: string; tokenEndpoint: string}
  clients: C
  /** `api`, `other`: downstream APIs (scopes `api read write`); `webApi`: the web API for user tokens (scope `access_as_user`). */
  resources: {api: string; other: string; webApi: string}
  /** The device-flow polling interval announced, in seconds. */
  deviceInterval: number
  /**
   * The imitation of the GitHub Actions runner's token service beside the server (/github-actions):
   * its issuer, and the ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN a job would have. The `workload`
   * client trusts its tokens for its default subject and the audience api://AzureADTokenExchange.
   */
  githubActions: Pick<WorkloadIssuer, 'issuer' | 'requestToken' | 'requestUrl' | 'subject'>
  /** Server-side errors so far. */
  errors: Error[]
  provider: OidcProvider
  /** The listening server; `stop()` closes it. */
  server: Server
  /** Closes the server and every open connection; safe to call twice or after the server was closed. */
  stop(): Promise<void>
}

export async function startDevIdp<C extends ClientSet<C> = DevClients>(options: DevIdpOptions<C> = {}): Promise<DevIdp<C>> {
  const signingKeys = options.signingKeys ?? (await generateSigningKeys())
  const clients = options.clients ?? (devClients({mtlsCertificate: options.mtlsClientCertificate, tokenExchange: options.tokenExchange}) as unknown as C)
  const deviceInterval = options.deviceInterval ?? DEFAULT_DEVICE_INTERVAL
  const server = options.tls ? (createTlsServer({cert: options.tls.cert, key: options.tls.key}) as unknown as Server) : createServer()
  const issuerPath = options.issuerPath?.replace(/\/$/, '') ?? ''
  const issuer = `${await listenForIssuer(server, options.port ?? 0, options.tls ? 'https' : 'http')}${issuerPath}`
  // A client certificate is asked for, never required of the handshake: the provider and the API judge it (RFC 8705 §2).
  const mtlsServer = options.tls?.ca
    ? (createTlsServer({ca: options.tls.ca, cert: options.tls.cert, key: options.tls.key, rejectUnauthorized: false, requestCert: true}) as unknown as Server)
    : undefined
  let mtlsOrigin: string | undefined
  try {
    if (mtlsServer) mtlsOrigin = await listenForIssuer(mtlsServer, options.mtlsPort ?? 0, 'https')
  } catch (error) {
    server.close()
    throw error
  }

  const mtlsBase = mtlsOrigin === undefined ? undefined : `${mtlsOrigin}${issuerPath}`
  const mtlsEndpointAliases =
    mtlsBase === undefined
      ? undefined
      : {
          device_authorization_endpoint: `${mtlsBase}${ROUTES.deviceAuthorization}`,
          introspection_endpoint: `${mtlsBase}${ROUTES.introspection}`,
          revocation_endpoint: `${mtlsBase}${ROUTES.revocation}`,
          token_endpoint: `${mtlsBase}${ROUTES.token}`,
        }
  const errors: Error[] = []
  const reportError = (error: Error) => {
    errors.push(error)
    options.onError?.(error)
  }

  const origin = new URL(issuer).origin
  const githubActions = await createWorkloadIssuer({issuer: `${origin}${GITHUB_ACTIONS_PATH}`, requestToken: DEV_RUNNER_REQUEST_TOKEN})
  const federation = federationFront(Object.values<DevIdpClient>(clients), origin)
  let provider: OidcProvider
  try {
    provider = createProvider(issuer, providerConfiguration(signingKeys, federation.registered, {...options, mtlsEndpointAliases}))
    // Before the first request: the `api` client's metadata names these grants, and oidc-provider
    // validates client metadata against the registered grant types when it first loads the client.
    registerOboGrants(provider, {userTokenKeys: signingKeys, tokenExchange: options.tokenExchange})
    enforceDevicePolling(provider, deviceInterval)
    consentForOfflineAccess(provider, ROUTES.authorization)
  } catch (error) {
    server.close()
    mtlsServer?.close()
    throw error
  }

  provider.on('server_error', (_ctx: unknown, error: Error) => reportError(error))
  // Koa logs uncaught errors to the console unless someone listens.
  provider.on('error', (error: Error) => reportError(error))

  const providerCallback = federation.wrap(provider.callback())
  const api = await protectedApiHandler({
    audience: [API_RESOURCE, OTHER_RESOURCE],
    issuer,
    keys: {keys: signingKeys.keys.map((key) => publicJwk(key))},
  })
  // Only this machine, and in a browser only the server's own pages (./local-only.ts).
  const handler: RequestListener = localOnly(
    (req, res) => {
      const {pathname} = new URL(req.url ?? '/', issuer)
      if (pathname === PROTECTED_API_PATH || pathname.startsWith(`${PROTECTED_API_PATH}/`)) {
        api(req, res)
      } else if (githubActions.handle(req, res)) {
        // the runner's token service, discovery and keys
      } else if (isInteractionRequest(pathname)) {
        handleInteraction(provider, req, res).catch((error: unknown) => {
          reportError(error instanceof Error ? error : new Error(String(error)))
          res.destroy()
        })
      } else if (issuerPath) {
        mounted(issuerPath, providerCallback, req, res)
      } else {
        providerCallback(req, res)
      }
    },
    options.tls ? 'https' : 'http',
  )
  const wrapped = options.wrapHandler ? options.wrapHandler(handler) : handler
  server.on('request', wrapped)
  mtlsServer?.on('request', wrapped)

  let stopped = false
  return {
    issuer,
    authorizationEndpoint: `${issuer}${ROUTES.authorization}`,
    deviceAuthorizationEndpoint: `${issuer}${ROUTES.deviceAuthorization}`,
    tokenEndpoint: `${issuer}${ROUTES.token}`,
    revocationEndpoint: `${issuer}${ROUTES.revocation}`,
    introspectionEndpoint: `${issuer}${ROUTES.introspection}`,
    jwksUri: `${issuer}${ROUTES.jwks}`,
    apiUrl: `${issuer}${PROTECTED_API_PATH}`,
    ...(mtlsOrigin === undefined ? {} : {mtls: {apiUrl: `${mtlsOrigin}${PROTECTED_API_PATH}`, origin: mtlsOrigin, tokenEndpoint: mtlsEndpointAliases!.token_endpoint}}),
    clients,
    resources: {api: API_RESOURCE, other: OTHER_RESOURCE, webApi: WEB_API_RESOURCE},
    deviceInterval,
    githubActions: {issuer: githubActions.issuer, requestToken: githubActions.requestToken, requestUrl: githubActions.requestUrl, subject: githubActions.subject},
    errors,
    provider,
    server,
    async stop() {
      if (stopped) return
      stopped = true
      if (server.listening) await closeServer(server)
      if (mtlsServer?.listening) await closeServer(mtlsServer)
    },
  }
}

/**
 * The provider under a path prefix, mounted the way Express mounts it (what oidc-provider expects):
 * `url` without the prefix, `originalUrl` with it, from which the provider's URLs keep the prefix.
 */
function mounted(prefix: string, providerCallback: RequestListener, req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/'
  if (url !== prefix && !url.startsWith(`${prefix}/`) && !url.startsWith(`${prefix}?`)) {
    res.writeHead(404, {'content-type': 'text/plain'}).end('Not Found')
    return
  }

  const rest = url.slice(prefix.length)
  Object.assign(req, {originalUrl: url, url: rest.startsWith('/') ? rest : `/${rest}`})
  providerCallback(req, res)
}

/** Listens on 127.0.0.1 only and returns the issuer URL, which must be known before the provider exists. */
async function listenForIssuer(server: Server, port: number, scheme: 'http' | 'https'): Promise<string> {
  try {
    return `${scheme}://127.0.0.1:${await listenOnLoopback(server, port)}`
  } catch (error) {
    throw listenError(error as NodeJS.ErrnoException, port)
  }
}

function listenError(error: NodeJS.ErrnoException, port: number): Error {
  if (error.code === 'EADDRINUSE') {
    return new ConfigError(`port ${port} on 127.0.0.1 is already in use`, 'port_in_use', {
      cause: error,
      suggestions: ['stop what listens there, or pick another --port (0 picks a free one)'],
    })
  }

  if (error.code === 'EACCES') {
    return new ConfigError(`not allowed to listen on port ${port} of 127.0.0.1`, 'config_error', {
      cause: error,
      suggestions: ['pick a port above 1023, or --port 0 for a free one'],
    })
  }

  return error
}
