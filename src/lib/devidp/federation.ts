/**
 * Federated credentials, as Microsoft Entra keeps them on an app registration (Microsoft's "Workload
 * identity federation" and "Configure an app to trust an external identity provider" documents):
 * the app trusts the tokens of one external issuer for one subject and one audience, all three
 * matched exactly, and a token that matches authenticates the app in place of a secret.
 *
 * oidc-provider has no such client authentication (a client assertion's `sub` names the client, and
 * its `iss` must be the client id), so this front does it, in front of the provider's endpoints that
 * authenticate clients (token, revocation, introspection, device authorization). A request whose
 * `client_id` names a federated client must carry a client assertion of the jwt-bearer type that
 *   - matches one of the client's federated credentials by iss, sub and aud exactly, else
 *     `invalid_client` as Entra's AADSTS70021 ("No matching federated identity record found for
 *     presented assertion");
 *   - verifies with a key of its issuer's JWKS, found through the issuer's discovery document (only
 *     a registered issuer is ever fetched);
 *   - has not expired, else `invalid_client` as Entra's AADSTS700024 ("Client assertion is not within
 *     its valid time range").
 * The request then reaches oidc-provider with the client authenticated by a secret only this front
 * knows (random per start) in place of the assertion: the grants, refresh-token rotation and
 * revocation stay oidc-provider's own. Unlike Entra's, the descriptions do not repeat the presented
 * claims (other servers do not either): a client has to say them itself.
 */
import {randomBytes} from 'node:crypto'
import type {IncomingMessage, RequestListener, ServerResponse} from 'node:http'
import {Readable} from 'node:stream'

import {createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify} from 'jose'

import {readStreamAtMost} from '../bounded-read.js'
import {JWT_BEARER_CLIENT_ASSERTION} from '../oauth/urns.js'
import type {DevIdpClient, FederatedIdentityCredential} from './clients.js'

/** Entra's clock skew for assertions is a few minutes; a minute is enough on one machine. */
const CLOCK_TOLERANCE_SECONDS = 60
const MAX_BODY_BYTES = 1024 * 1024
const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

interface Federated {
  credentials: FederatedIdentityCredential[]
  /** What oidc-provider knows the client by: a secret only the front has. */
  secret: string
}

export interface FederationFront {
  /** The clients as oidc-provider registers them: a federated one with the front's secret (client_secret_post). */
  registered: DevIdpClient[]
  /** The server's handler with federated client authentication in front of it. */
  wrap(handler: RequestListener): RequestListener
}

/** `origin`: this server's, for issuers given as a path. */
export function federationFront(clients: DevIdpClient[], origin: string): FederationFront {
  const federated = new Map<string, Federated>()
  const registered = clients.map((client) => {
    if (!client.federatedCredentials) return client
    const credentials = client.federatedCredentials.map((credential) => ({
      ...credential,
      issuer: credential.issuer.startsWith('/') ? `${origin}${credential.issuer}` : credential.issuer,
    }))
    const secret = randomBytes(32).toString('base64url')
    federated.set(client.clientId, {credentials, secret})
    return {...client, authMethod: 'client_secret_post' as const, clientSecret: secret, federatedCredentials: credentials}
  })
  const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>()

  /** The issuer's keys, through its discovery document: fetched once per issuer that verified. */
  async function keysOf(issuer: string): Promise<ReturnType<typeof createRemoteJWKSet>> {
    const known = keySets.get(issuer)
    if (known) return known
    const response = await fetch(`${issuer}/.well-known/openid-configuration`, {signal: AbortSignal.timeout(10_000)})
    const metadata = (await response.json()) as {issuer?: unknown; jwks_uri?: unknown}
    if (!response.ok || metadata.issuer !== issuer || typeof metadata.jwks_uri !== 'string') {
      throw new Error(`the discovery document of ${issuer} names no jwks_uri for that issuer`)
    }

    const keys = createRemoteJWKSet(new URL(metadata.jwks_uri), {timeoutDuration: 10_000})
    keySets.set(issuer, keys)
    return keys
  }

  /** undefined when the assertion authenticates the client, else why not (the error_description). */
  async function refusal(client: Federated, params: URLSearchParams, req: IncomingMessage): Promise<{codes: number[]; description: string} | undefined> {
    if (req.headers.authorization !== undefined || params.has('client_secret')) {
      return {codes: [7_000_218], description: 'AADSTS7000218: this client authenticates with a federated token (client_assertion), not a secret'}
    }

    const assertion = params.get('client_assertion')
    if (params.get('client_assertion_type') !== JWT_BEARER_CLIENT_ASSERTION || !assertion) {
      return {codes: [7_000_218], description: "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' (with client_assertion_type jwt-bearer)"}
    }

    let claims: ReturnType<typeof decodeJwt>
    try {
      claims = decodeJwt(assertion)
    } catch {
      return {codes: [50_027], description: 'AADSTS50027: JWT token is invalid or malformed'}
    }

    const audiences = [claims.aud ?? []].flat()
    const match = client.credentials.find((credential) => credential.issuer === claims.iss && credential.subject === claims.sub && audiences.includes(credential.audience))
    if (!match) return {codes: [70_021], description: 'AADSTS70021: No matching federated identity record found for presented assertion.'}

    try {
      await jwtVerify(assertion, await keysOf(match.issuer), {
        algorithms: ASYMMETRIC_ALGORITHMS,
        audience: match.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        issuer: match.issuer,
        requiredClaims: ['exp'],
        subject: match.subject,
      })
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        return {codes: [700_024], description: 'AADSTS700024: Client assertion is not within its valid time range.'}
      }

      if (error instanceof joseErrors.JWSSignatureVerificationFailed || error instanceof joseErrors.JWKSNoMatchingKey) {
        return {codes: [], description: "the federated token's signature does not verify with the keys of its issuer"}
      }

      return {codes: [], description: `the federated token was not accepted: ${(error as Error).message}`}
    }

    return undefined
  }

  async function authenticate(req: IncomingMessage, res: ServerResponse, next: RequestListener): Promise<void> {
    const body = await readStreamAtMost(req, MAX_BODY_BYTES)
    if (body === undefined) {
      res.writeHead(413, {'content-type': 'application/json'}).end(JSON.stringify({error: 'invalid_request', error_description: 'request body too large'}))
      return
    }

    const params = new URLSearchParams(body.toString('utf8'))
    const client = federated.get(params.get('client_id') ?? basicUser(req.headers.authorization) ?? '')
    if (!client) {
      next(replay(req, body), res)
      return
    }

    const refused = await refusal(client, params, req)
    if (refused) {
      res.writeHead(401, {'cache-control': 'no-store', 'content-type': 'application/json'})
      res.end(JSON.stringify({error: 'invalid_client', error_codes: refused.codes, error_description: refused.description}))
      return
    }

    params.delete('client_assertion')
    params.delete('client_assertion_type')
    params.set('client_secret', client.secret)
    next(replay(req, Buffer.from(params.toString())), res)
  }

  return {
    registered,
    wrap(handler) {
      if (federated.size === 0) return handler
      return (req, res) => {
        if (req.method !== 'POST' || !/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
          handler(req, res)
          return
        }

        authenticate(req, res, handler).catch(() => res.destroy())
      }
    },
  }
}

/** The client id of a Basic header (RFC 6749 §2.3.1: form-urlencoded, then base64). */
function basicUser(authorization: string | undefined): string | undefined {
  const match = /^basic\s+(\S+)$/i.exec(authorization ?? '')
  if (!match) return undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  try {
    return decodeURIComponent(decoded.split(':', 1)[0].replaceAll('+', ' '))
  } catch {
    return undefined
  }
}

/** The request again, with this body (oidc-provider reads the raw stream and checks its length). */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const headers = {...req.headers, 'content-length': String(body.length)}
  delete headers['transfer-encoding']
  const stream = Readable.from(body.length > 0 ? [body] : [], {objectMode: false})
  return Object.assign(stream, {
    complete: true,
    headers,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    method: req.method,
    rawHeaders: req.rawHeaders,
    socket: req.socket,
    url: req.url,
  }) as unknown as IncomingMessage
}
