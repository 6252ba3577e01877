/**
 * The test authorization server made as strict as Microsoft Entra ID where oidc-provider is lenient.
 * The token endpoint is still the real oidc-provider (test/helpers/auth-server.ts); these checks run
 * inside it (its `assertJwtClientAuthClaimsAndHeader` hook, after it verified the signature) or in
 * front of it, and refuse as Entra refuses.
 *
 * Client assertions, as Microsoft documents them in "Microsoft identity platform application
 * authentication certificate credentials"
 * (https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials):
 * - `aud` must be the token endpoint, exactly (`https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`);
 *   the issuer, which oidc-provider also accepts, is refused with `invalid_client`;
 * - `iss` = `sub` = the client id, a `jti`, `nbf`, and an `exp` at most 10 minutes ahead;
 * - a certificate is named by the header: `x5t#S256` (base64url SHA-256 of the DER certificate) with
 *   PS256, or the older `x5t` (SHA-1) with RS256, and must be the certificate registered for the
 *   client; `x5c` (the chain, leaf first) is required for subject name and issuer trust, where the
 *   app registration names a subject and a trusted CA instead of a certificate.
 *
 * Refresh, as RFC 6749 §6 says ("the requested scope MUST NOT include any scope not originally
 * granted by the resource owner"): a refresh asking for a scope that the token response did not
 * grant (its `scope`) is refused with `invalid_scope` before the provider sees it.
 *
 * The token endpoint sits at an Entra path (`/{tenant}/oauth2/v2.0/token`), so that tokenctl
 * recognises it as Entra's on 127.0.0.1; OBO is Entra's jwt-bearer flavor only.
 */
import {createHash, X509Certificate} from 'node:crypto'

import type {JWK} from 'jose'

import {JWT_BEARER_GRANT} from '../../src/lib/oauth/urns.js'
import {providerErrors} from '../../src/lib/devidp/oidc.js'
import {type AuthServer, type AuthServerOptions, startAuthServer, type TokenRequestRecord} from './auth-server.js'

export const ENTRA_TENANT = '72f988bf-0000-4000-8000-2d7cd011db47'
export const ENTRA_TOKEN_PATH = `/${ENTRA_TENANT}/oauth2/v2.0/token`
/** Entra accepts an assertion that expires at most this far ahead. */
const MAX_ASSERTION_LIFETIME_SECONDS = 600

export interface CertificateClient {
  clientId: string
  /** The certificate registered for the app (PEM): its public key verifies the assertion. */
  certificatePem: string
  /**
   * `thumbprint` (default): the header's x5t#S256 or x5t must name this certificate.
   * `subject-name`: Entra's subject name + issuer trust: x5c is required, its leaf must be this
   * certificate's subject, issued by `caPem`.
   */
  trust?: 'subject-name' | 'thumbprint'
  caPem?: string
}

export interface EntraStrictServer extends AuthServer {
  /** Why each client assertion or refresh was refused, in order: tests check the reason, not just the code. */
  refusals: string[]
}

interface Registration extends CertificateClient {
  certificate: X509Certificate
}

const b64u = (algorithm: string, der: Buffer) => createHash(algorithm).update(der).digest('base64url')

function certificateJwk(certificate: X509Certificate): JWK {
  return {...(certificate.publicKey.export({format: 'jwk'}) as JWK), use: 'sig'}
}

export async function startEntraStrictServer(clients: CertificateClient[] = [], options: AuthServerOptions = {}): Promise<EntraStrictServer> {
  const refusals: string[] = []
  const registrations = new Map<string, Registration>(clients.map((client) => [client.clientId, {...client, certificate: new X509Certificate(client.certificatePem)}]))
  /** sha256(refresh token) → the scopes the response that issued it granted. */
  const granted = new Map<string, Set<string>>()

  function refuse(reason: string): never {
    refusals.push(reason)
    throw new providerErrors.InvalidClientAuth(reason)
  }

  function checkCertificate(registration: Registration, header: Record<string, unknown>): void {
    const der = registration.certificate.raw
    const rsa = registration.certificate.publicKey.asymmetricKeyType === 'rsa'
    if (header['x5t#S256'] !== undefined) {
      if (header['x5t#S256'] !== b64u('sha256', der)) refuse('x5t#S256 does not name the registered certificate')
      if (rsa && header.alg !== 'PS256') refuse(`x5t#S256 goes with PS256, not ${String(header.alg)}`)
    } else if (header.x5t !== undefined) {
      if (header.x5t !== b64u('sha1', der)) refuse('x5t does not name the registered certificate')
      if (rsa && header.alg !== 'RS256') refuse(`x5t goes with RS256, not ${String(header.alg)}`)
    } else {
      refuse('the header names no certificate (x5t#S256 or x5t)')
    }

    const x5c = header.x5c as string[] | undefined
    if (x5c !== undefined && (!Array.isArray(x5c) || x5c[0] !== der.toString('base64'))) refuse('x5c does not start with the registered certificate')
    if (registration.trust === 'subject-name') {
      if (!x5c) refuse('subject name and issuer trust needs the chain (x5c)')
      const [leaf, ...rest] = x5c.map((entry) => new X509Certificate(Buffer.from(entry, 'base64')))
      const ca = new X509Certificate(registration.caPem!)
      if (leaf.subject !== registration.certificate.subject) refuse('x5c leaf has another subject')
      if (!leaf.verify(ca.publicKey) || !rest.some((certificate) => certificate.raw.equals(ca.raw))) refuse('x5c is not issued by the trusted CA')
    }
  }

  /** oidc-provider's hook, called after it verified the assertion's signature with the client's keys. */
  async function assertJwtClientAuthClaimsAndHeader(
    ctx: {oidc: {urlFor(name: string): string}},
    claims: Record<string, unknown>,
    header: Record<string, unknown>,
    client: {clientId: string},
  ): Promise<void> {
    const tokenEndpoint = ctx.oidc.urlFor('token')
    if (claims.aud !== tokenEndpoint) refuse(`aud must be the token endpoint ${tokenEndpoint}, not ${JSON.stringify(claims.aud)}`)
    if (claims.iss !== client.clientId || claims.sub !== client.clientId) refuse('iss and sub must be the client id')
    for (const claim of ['jti', 'nbf', 'exp']) if (claims[claim] === undefined) refuse(`the assertion has no ${claim}`)
    if (Number(claims.exp) - Date.now() / 1000 > MAX_ASSERTION_LIFETIME_SECONDS) refuse('exp is more than 10 minutes ahead')
    const registration = registrations.get(client.clientId)
    if (registration) checkCertificate(registration, header)
  }

  function inspectTokenRequest(record: TokenRequestRecord) {
    const scope = record.params.scope
    if (record.grant_type !== 'refresh_token' || typeof scope !== 'string') return undefined
    const allowed = granted.get(b64u('sha256', Buffer.from(String(record.params.refresh_token))))
    const extra = scope.split(' ').filter((value) => value && allowed && !allowed.has(value))
    if (extra.length === 0) return undefined
    refusals.push(`refresh asked for ${extra.join(' ')}, which was not granted`)
    return {body: {error: 'invalid_scope', error_description: `scope not granted: ${extra.join(' ')} (RFC 6749 section 6)`}, status: 400}
  }

  const server = await startAuthServer({
    ...options,
    tokenExchange: false,
    tokenPath: ENTRA_TOKEN_PATH,
    extraClients: [
      ...(options.extraClients ?? []),
      ...clients.map((client) => ({
        client_id: client.clientId,
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: {keys: [certificateJwk(registrations.get(client.clientId)!.certificate)]},
        grant_types: ['client_credentials', 'refresh_token', JWT_BEARER_GRANT],
        response_types: [],
        redirect_uris: [],
      })),
    ],
    inspectTokenRequest,
    configure(configuration) {
      configuration.assertJwtClientAuthClaimsAndHeader = assertJwtClientAuthClaimsAndHeader
      return options.configure?.(configuration) ?? configuration
    },
  })
  server.provider.on('grant.success', (ctx: {body?: {refresh_token?: string; scope?: string}; oidc: {params: {scope?: string}}}) => {
    const {body} = ctx
    if (!body?.refresh_token) return
    const scope = body.scope ?? ctx.oidc.params.scope ?? ''
    granted.set(b64u('sha256', Buffer.from(body.refresh_token)), new Set(scope.split(' ').filter(Boolean)))
  })
  return Object.assign(server, {refusals})
}
