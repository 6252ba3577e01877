import {createPrivateKey, type JsonWebKey, type KeyObject} from 'node:crypto'
import type {ClientAuth} from 'openid-client'

import {thumbprint, type ThumbprintAlgorithm} from '../config/certificates.js'
import {isMtlsMethod} from '../config/clients.js'
import type {Connection} from '../config/connection.js'
import type {AssertionAudience} from '../config/credentials.js'
import type {ClientCredential} from '../config/secrets.js'
import {ConfigError, type ErrorDetails} from '../errors.js'
import type {HttpContext} from '../http/context.js'
import {isEntraTokenEndpoint, isMicrosoftLoginHost} from './entra.js'
import {type ServerMetadata, tokenEndpointOf} from './metadata.js'

/** JWS algorithm that fits a key when --alg does not say. */
function defaultAlgorithm(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      if (curve === 'secp384r1') return 'ES384'
      if (curve === 'secp521r1') return 'ES512'
      return 'ES256'
    }

    case 'ed25519': {
      return 'Ed25519'
    }

    default: {
      return 'RS256'
    }
  }
}

interface PrivateJwk {
  alg?: string
  d?: string
  kid?: string
  kty?: string
}

function parsePrivateKey(text: string, file: string): {jwk?: PrivateJwk; key: KeyObject} {
  const trimmed = text.trim()
  try {
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as PrivateJwk
      if (!jwk.d) throw new Error('not a private JWK')
      return {jwk, key: createPrivateKey({format: 'jwk', key: jwk as JsonWebKey})}
    }

    return {key: createPrivateKey(trimmed)}
  } catch {
    throw new ConfigError(`${file} is not a private key (PEM or JWK)`, 'config_error')
  }
}

/** How the assertion's `aud` was chosen: for the advice when a server refuses the client. */
export interface AssertionAudienceChoice {
  audience: string
  by: 'entra' | 'flag' | 'default'
  which: AssertionAudience
}

/**
 * The `aud` of a client assertion: --assertion-audience (or what the named client keeps), else the
 * token endpoint for Entra — which refuses anything else, as MSAL knows — else the issuer, which
 * openid-client sends and RFC 7523's update recommends (oidc-provider, Keycloak and Auth0 accept it).
 */
export function assertionAudience(connection: Connection, metadata: ServerMetadata): AssertionAudienceChoice {
  const tokenEndpoint = tokenEndpointOf(metadata)
  const of = (which: AssertionAudience) => (which === 'issuer' ? metadata.issuer : tokenEndpoint.href)
  if (connection.assertionAudience) return {audience: of(connection.assertionAudience), by: 'flag', which: connection.assertionAudience}
  const entra = isEntraTokenEndpoint(tokenEndpoint) || [connection.issuer?.hostname, new URL(metadata.issuer).hostname].some((host) => isMicrosoftLoginHost(host))
  return entra ? {audience: of('token-endpoint'), by: 'entra', which: 'token-endpoint'} : {audience: of('issuer'), by: 'default', which: 'issuer'}
}

/** Lifetime of a client assertion: a few minutes (Entra accepts up to ten), against clock skew between hosts. */
const ASSERTION_LIFETIME_SECONDS = 300

/** The JWS algorithm of a certificate's key: PS256 with `x5t#S256` (RSA), RS256 with the older SHA-1 `x5t`. */
function certificateAlgorithm(key: KeyObject, thumbprint: ThumbprintAlgorithm): string {
  if (key.asymmetricKeyType === 'rsa') return thumbprint === 'sha1' ? 'RS256' : 'PS256'
  return defaultAlgorithm(key)
}

type SigningKey = Awaited<ReturnType<typeof import('jose').importPKCS8>>

async function signingKey(key: KeyObject, alg: string, label: string): Promise<SigningKey> {
  const {importPKCS8} = await import('jose')
  // Web Crypto (jose) imports no RSASSA-PSS-only key, whatever the algorithm: no --alg would help.
  if (key.asymmetricKeyType === 'rsa-pss') {
    throw new ConfigError(`${label} is an RSASSA-PSS key, which cannot sign a client assertion here`, 'config_error', {
      suggestions: ['use an ordinary RSA key (openssl genpkey -algorithm RSA): it signs PS256 as well as RS256'],
    })
  }

  try {
    return await importPKCS8(key.export({format: 'pem', type: 'pkcs8'}) as string, alg)
  } catch {
    throw new ConfigError(`${label} cannot sign with ${alg}`, 'config_error', {
      suggestions: ['pass --alg matching the key (RS256, PS256, ES256, ES384, ES512, Ed25519, EdDSA)'],
    })
  }
}

/**
 * private_key_jwt through openid-client's own PrivateKeyJwt, adjusted at its extension point
 * (`modifyAssertion`): the audience, a lifetime of a few minutes, and for a certificate the header
 * that names it (`x5t#S256` or `x5t`, `x5c`) instead of a `kid`. iss = sub = client id, a fresh
 * jti, iat and nbf stay openid-client's.
 */
async function privateKeyJwt(connection: Connection, credential: SigningCredential, audience: string): Promise<ClientAuth> {
  const client = await import('openid-client')
  let key: KeyObject
  let alg: string
  let header: Record<string, unknown> = {}
  let kid: string | undefined
  if (credential.kind === 'certificate') {
    const {chain} = credential.certificate
    const thumbprintAlgorithm = connection.thumbprint ?? 'sha256'
    key = credential.certificate.key
    alg = connection.alg ?? certificateAlgorithm(key, thumbprintAlgorithm)
    header = thumbprintAlgorithm === 'sha1' ? {x5t: thumbprint(chain[0], 'sha1')} : {'x5t#S256': thumbprint(chain[0], 'sha256')}
    if (connection.sendX5c) header.x5c = chain.map((certificate) => certificate.raw.toString('base64'))
  } else {
    const parsed = parsePrivateKey(credential.keyText, credential.label)
    key = parsed.key
    alg = connection.alg ?? parsed.jwk?.alg ?? defaultAlgorithm(key)
    kid = connection.keyId ?? parsed.jwk?.kid
  }

  const cryptoKey = await signingKey(key, alg, credential.label)
  return client.PrivateKeyJwt(
    {key: cryptoKey, kid},
    {
      [client.modifyAssertion](jwsHeader: Record<string, unknown>, payload: Record<string, unknown>) {
        // openid-client names an Ed25519 key's algorithm Ed25519 (the fully-specified name); a server
        // that knows only RFC 8037's EdDSA gets the name --alg (or the JWK) gave. The signature is the same.
        Object.assign(jwsHeader, {typ: 'JWT'}, header, alg === 'EdDSA' ? {alg} : {})
        if (credential.kind === 'certificate') delete jwsHeader.kid
        payload.aud = audience
        payload.exp = Number(payload.iat) + ASSERTION_LIFETIME_SECONDS
      },
    },
  )
}

type SigningCredential = Extract<ClientCredential, {kind: 'certificate' | 'private_key'}>

/** openid-client's client authentication for a connection and the credential that goes with it (`http` fetches a federated token). */
export async function clientAuthentication(connection: Connection, credential: ClientCredential, metadata: ServerMetadata, http: HttpContext): Promise<ClientAuth> {
  const client = await import('openid-client')
  switch (credential.kind) {
    case 'none': {
      return client.None()
    }

    case 'secret': {
      return connection.authMethod === 'client_secret_post' ? client.ClientSecretPost(credential.secret) : client.ClientSecretBasic(credential.secret)
    }

    case 'certificate':
    case 'private_key': {
      // Mutual TLS: the certificate goes in the TLS handshake (the command's dispatcher), the form carries client_id alone.
      if (isMtlsMethod(connection.authMethod)) return client.TlsClientAuth()
      return privateKeyJwt(connection, credential, assertionAudience(connection, metadata).audience)
    }

    case 'federated': {
      const {federatedClientAuth} = await import('./federated.js')
      return federatedClientAuth(credential, http)
    }
  }
}

/** What to add to the server's invalid_client refusal of this client's authentication. */
export interface RefusalAdvice {
  details?: Partial<ErrorDetails>
  suggestion: string
}

/**
 * The advice for a refusal, computed when it happens: a federated token is read for every request,
 * and the advice names what the refused one presented.
 */
export function refusalAdvice(connection: Connection, credential: ClientCredential, metadata: ServerMetadata): () => Promise<RefusalAdvice | undefined> {
  return async () => {
    if (credential.kind === 'federated') return (await import('./federated.js')).federatedRefusalAdvice(credential)
    const suggestion = assertionAdvice(connection, credential, metadata)
    return suggestion === undefined ? undefined : {suggestion}
  }
}

/**
 * What to tell someone whose client assertion the server refused (invalid_client): the audience is
 * the usual suspect, and the flag that changes it depends on how it was chosen.
 */
export function assertionAdvice(connection: Connection, credential: ClientCredential, metadata: ServerMetadata): string | undefined {
  if (credential.kind !== 'certificate' && credential.kind !== 'private_key') return undefined
  if (credential.kind === 'certificate' && isMtlsMethod(connection.authMethod)) {
    const alias = typeof metadata.mtls_endpoint_aliases === 'object' ? '' : ' (the server lists no mtls_endpoint_aliases: its token endpoint itself must ask for a client certificate)'
    return `check that the certificate (SHA-256 thumbprint ${credential.certificate.chain[0].fingerprint256}) is registered for client ${connection.clientId} with ${connection.authMethod}${alias}`
  }

  const {by, which} = assertionAudience(connection, metadata)
  const registered =
    credential.kind === 'certificate'
      ? `check that the certificate (SHA-256 thumbprint ${credential.certificate.chain[0].fingerprint256}) is registered for client ${connection.clientId}`
      : `check that the key is registered for client ${connection.clientId}`
  if (which === 'issuer') {
    return by === 'flag'
      ? `the client assertion's aud was the issuer (--assertion-audience issuer): Microsoft Entra, Okta and Google want the token endpoint, so pass --assertion-audience token-endpoint; ${registered}`
      : `${registered}; if the server wants the token endpoint as the client assertion's aud (Microsoft Entra, Okta, Google), pass --assertion-audience token-endpoint`
  }

  return `${registered}; if the server wants the issuer as the client assertion's aud, pass --assertion-audience issuer`
}
