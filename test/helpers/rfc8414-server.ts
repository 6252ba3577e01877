/**
 * An authorization server that publishes its metadata only as RFC 8414 says, on a path issuer
 * (`http://127.0.0.1:PORT/tenant1`), as strict as the real ones: RFC 8414 §3 puts the document at
 * `/.well-known/oauth-authorization-server` inserted between host and path (§3.1), and a server that
 * speaks only RFC 8414 answers the OpenID Connect location with a 404 — often with a JSON body
 * (`{"error":"not_found"}`, Spring's error attributes, Keycloak's unknown realm) that a lenient
 * client mistakes for an OAuth error.
 *
 * Behind the discovery front it is the test authorization server (tokenctl's dev server,
 * oidc-provider mounted under the issuer's path): real token, revocation and JWKS endpoints, the
 * same clients, the same records. Only the discovery locations are answered by the front, which
 * serves the provider's own document, fetched once at start.
 */
import type {RequestListener, ServerResponse} from 'node:http'

import {type AuthServer, type AuthServerOptions, startAuthServer} from './auth-server.js'

const OIDC = '.well-known/openid-configuration'
const RFC8414 = '.well-known/oauth-authorization-server'

/** An answer that is not a metadata document. */
export interface Refusal {
  body: string
  contentType: string
  status: number
}

/**
 * What real servers answer where they have no document, by name. Each is "no document here", never
 * a refusal of a request.
 */
export const REFUSALS = {
  /** A JSON 404, as many API gateways and small servers send. */
  jsonNotFound: {status: 404, contentType: 'application/json', body: '{"error":"not_found"}'},
  /** Spring Boot's default error attributes (DefaultErrorAttributes) for an unmapped path. */
  spring: {
    status: 404,
    contentType: 'application/json',
    body: '{"timestamp":"2025-01-01T00:00:00.000+00:00","status":404,"error":"Not Found","path":"/tenant1/.well-known/openid-configuration"}',
  },
  /** Keycloak asked about a realm it does not have. */
  keycloakUnknownRealm: {status: 404, contentType: 'application/json', body: '{"error":"Realm does not exist"}'},
  /** Another 4xx with an OAuth-looking error, from a gateway in front of the server. */
  badRequestJson: {status: 400, contentType: 'application/json', body: '{"error":"invalid_request","error_description":"unknown path"}'},
  /** A web server's error page. */
  html: {status: 404, contentType: 'text/html', body: '<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>'},
  /** Not JSON at all. */
  text: {status: 404, contentType: 'text/plain', body: 'Not Found'},
  /** A single-page application answering every path with its index page. */
  spa: {status: 200, contentType: 'text/html', body: '<!DOCTYPE html><html><body><div id="app"></div></body></html>'},
} satisfies Record<string, Refusal>

export interface DiscoveryBehaviour {
  /**
   * The one location that serves the metadata: RFC 8414 §3.1's inserted form (the default), only
   * the appended form (`ISSUER/.well-known/oauth-authorization-server`), or none.
   */
  metadataAt: 'appended' | 'inserted' | 'nowhere'
  /** What every other discovery location answers (the OpenID Connect one always). Default a JSON 404. */
  refusal: Refusal
  /** The `issuer` the served document names, instead of the server's own. */
  documentIssuer?: string
  /** Every discovery location answers this status (a 5xx outage) instead. */
  outage?: number
}

export interface Rfc8414Server extends AuthServer {
  /** `METHOD path` of every request to a discovery location, in order (they never reach the provider). */
  discoveryRequests: string[]
  /** Changes what the discovery locations answer, from the defaults; `resetCounters()` also empties discoveryRequests. */
  behave(behaviour: Partial<DiscoveryBehaviour>): void
}

const DEFAULT_BEHAVIOUR: DiscoveryBehaviour = {metadataAt: 'inserted', refusal: REFUSALS.jsonNotFound}

function send(res: ServerResponse, refusal: Refusal): void {
  res.writeHead(refusal.status, {'cache-control': 'no-store', 'content-type': refusal.contentType}).end(refusal.body)
}

/** Starts it; `issuerPath` defaults to `/tenant1`, `''` gives an issuer without a path. */
export async function startRfc8414Server(options: AuthServerOptions = {}): Promise<Rfc8414Server> {
  const issuerPath = (options.issuerPath ?? '/tenant1').replace(/\/$/, '')
  const discoveryRequests: string[] = []
  let behaviour = {...DEFAULT_BEHAVIOUR}
  // The provider's document, once fetched; until then requests pass through to fetch it.
  let document: Record<string, unknown> | undefined
  const locations = new Map<string, DiscoveryBehaviour['metadataAt'] | 'oidc'>([
    [`${issuerPath}/${OIDC}`, 'oidc'],
    // For an issuer without a path the two RFC 8414 forms are one URL: the inserted one wins.
    [`${issuerPath}/${RFC8414}`, 'appended'],
    [`/${RFC8414}${issuerPath}`, 'inserted'],
  ])

  const front =
    (next: RequestListener): RequestListener =>
    (req, res) => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname
      const location = locations.get(path)
      if (!document || location === undefined) {
        next(req, res)
        return
      }

      discoveryRequests.push(`${req.method} ${path}`)
      if (behaviour.outage) send(res, {status: behaviour.outage, contentType: 'text/plain', body: 'Service Unavailable'})
      else if (location === behaviour.metadataAt) {
        const body = {...document, ...(behaviour.documentIssuer ? {issuer: behaviour.documentIssuer} : {})}
        send(res, {status: 200, contentType: 'application/json', body: JSON.stringify(body)})
      } else send(res, behaviour.refusal)
    }

  const server = await startAuthServer({...options, issuerPath, outerHandler: front})
  const response = await fetch(`${server.issuer}/${OIDC}`)
  if (response.status !== 200) throw new Error(`the provider's own discovery answered ${response.status}`)
  document = (await response.json()) as Record<string, unknown>
  if (document.issuer !== server.issuer) throw new Error(`the provider names ${String(document.issuer)}, not ${server.issuer}`)
  server.resetCounters()

  const resetCounters = server.resetCounters.bind(server)
  return Object.assign(server, {
    discoveryRequests,
    behave(changes: Partial<DiscoveryBehaviour>) {
      behaviour = {...DEFAULT_BEHAVIOUR, ...changes}
    },
    resetCounters() {
      resetCounters()
      discoveryRequests.length = 0
    },
  })
}
