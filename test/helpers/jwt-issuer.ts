/**
 * A purpose-made token issuer for `token verify`: discovery and a JWKS on 127.0.0.1, and tokens
 * signed however a test needs — what oidc-provider cannot produce: Entra's v1.0 issuer shape
 * (`https://sts.windows.net/{tid}/`, `ver` 1.0) against a v2.0-shaped issuer (`/{tid}/v2.0`), app
 * roles, `scp`, a Graph-style `nonce` header, a key rotated after the JWKS was cached, a tampered
 * signature, `alg: none`, and HS256 keyed with the public key's bytes (the key-confusion attack).
 * It counts every discovery and JWKS request, so tests can prove what was fetched again.
 */
import {createHmac, randomUUID} from 'node:crypto'
import {createServer} from 'node:http'

import {exportJWK, exportSPKI, generateKeyPair, SignJWT} from 'jose'
import type {CryptoKey, JWK, JWTPayload} from 'jose'

import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'

export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'

interface SigningKey {
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
  publicPem: string
}

export interface SignOptions {
  /** More header parameters (`nonce`, another `kid`…); `alg` and `kid` default to the current key's. */
  header?: Record<string, unknown>
  /** Sign with this earlier key (from `keys`) instead of the current one. */
  key?: SigningKey
}

export interface TestIssuer {
  /** The issuer URL, as discovery names it: `http://127.0.0.1:PORT/{TENANT}/v2.0` by default. */
  issuer: string
  /** Where this server serves its JWKS (`jwksUri` of the options may send clients elsewhere). */
  jwksUri: string
  /** Requests to the discovery document and to the JWKS, since the start or `resetCounters()`. */
  readonly discoveryRequests: number
  readonly jwksRequests: number
  resetCounters(): void
  /** Every key made so far, the current one last. */
  keys: SigningKey[]
  /** A new current key; the JWKS then publishes only it (a rotation that retired the old key). */
  rotate(): Promise<SigningKey>
  /** Claims: iss = issuer, iat now, exp in an hour unless given (undefined removes one). */
  sign(claims?: JWTPayload, options?: SignOptions): Promise<string>
  /** `alg: none`, no signature. */
  unsigned(claims?: JWTPayload): string
  /** HS256 with the current public key's PEM as the HMAC secret. */
  hmacWithPublicKey(claims?: JWTPayload): string
  /** The JWKS answers with this status from now on (200 again with `undefined`). */
  failJwks(status: number | undefined): void
  /**
   * An RFC 7662 introspection endpoint answering this (any client credentials accepted), listed in
   * discovery as `introspection_endpoint` (or as `endpoint`, when given) while set; `undefined` removes it.
   */
  introspectWith(answer: IntrospectionAnswer | undefined): void
  stop(): Promise<void>
}

export interface IntrospectionAnswer {
  status?: number
  json: Record<string, unknown>
  endpoint?: string
}

export interface TestIssuerOptions {
  /** Path of the issuer URL; default `/{TENANT}/v2.0` (Entra's v2.0 shape). */
  path?: string
  /** The discovery document names this jwks_uri (an unreachable one, a TLS front…, none); asked on every request. */
  jwksUri?: (issuer: string) => string | undefined
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

async function newKey(): Promise<SigningKey> {
  const {privateKey, publicKey} = await generateKeyPair('RS256', {extractable: true})
  const kid = randomUUID()
  return {kid, privateKey, publicJwk: {...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig'}, publicPem: await exportSPKI(publicKey)}
}

export async function startTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const path = options.path ?? `/${TENANT}/v2.0`
  const keys = [await newKey()]
  let discoveryRequests = 0
  let jwksRequests = 0
  let jwksStatus: number | undefined
  let introspection: IntrospectionAnswer | undefined
  let issuer = ''
  let jwksUri = ''

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const send = (status: number, body: unknown) => {
      res.writeHead(status, {'content-type': 'application/json'})
      res.end(JSON.stringify(body))
    }

    if (url.pathname === `${path}/.well-known/openid-configuration`) {
      discoveryRequests++
      send(200, {
        issuer,
        jwks_uri: options.jwksUri ? options.jwksUri(issuer) : jwksUri,
        token_endpoint: `${issuer}/token`,
        ...(introspection ? {introspection_endpoint: introspection.endpoint ?? `${issuer}/introspect`} : {}),
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      })
    } else if (url.pathname === `${path}/keys`) {
      jwksRequests++
      if (jwksStatus === undefined) send(200, {keys: [keys.at(-1)!.publicJwk]})
      else send(jwksStatus, {error: 'server_error'})
    } else if (url.pathname === `${path}/introspect` && introspection && req.method === 'POST') {
      req.resume()
      req.once('end', () => send(introspection?.status ?? 200, introspection?.json))
    } else {
      send(404, {error: 'not_found'})
    }
  })
  const port = await listenOnLoopback(server)
  issuer = `http://127.0.0.1:${port}${path}`
  jwksUri = `${issuer}/keys`

  const claimsWithDefaults = (claims: JWTPayload): JWTPayload => {
    const now = Math.floor(Date.now() / 1000)
    const all: JWTPayload = {iss: issuer, iat: now, exp: now + 3600, ...claims}
    for (const [name, value] of Object.entries(all)) if (value === undefined) delete all[name]
    return all
  }

  return {
    issuer,
    jwksUri,
    get discoveryRequests() {
      return discoveryRequests
    },
    get jwksRequests() {
      return jwksRequests
    },
    resetCounters() {
      discoveryRequests = 0
      jwksRequests = 0
    },
    keys,
    async rotate() {
      const key = await newKey()
      keys.push(key)
      return key
    },
    async sign(claims = {}, {header = {}, key = keys.at(-1)!} = {}) {
      return new SignJWT(claimsWithDefaults(claims)).setProtectedHeader({alg: 'RS256', kid: key.kid, typ: 'JWT', ...header}).sign(key.privateKey)
    },
    unsigned(claims = {}) {
      return `${b64url({alg: 'none', typ: 'JWT'})}.${b64url(claimsWithDefaults(claims))}.`
    },
    hmacWithPublicKey(claims = {}) {
      const key = keys.at(-1)!
      const input = `${b64url({alg: 'HS256', kid: key.kid, typ: 'JWT'})}.${b64url(claimsWithDefaults(claims))}`
      return `${input}.${createHmac('sha256', key.publicPem).update(input).digest('base64url')}`
    },
    failJwks(status) {
      jwksStatus = status
    },
    introspectWith(answer) {
      introspection = answer
    },
    stop: () => closeServer(server),
  }
}
