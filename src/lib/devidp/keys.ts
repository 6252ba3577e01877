/**
 * The dev authorization server's signing keys, and user tokens signed with them: what a web API
 * would receive from a real sign-in, minted directly (tests) or issued through a sign-in flow.
 */
import {randomUUID} from 'node:crypto'
import {exportJWK, generateKeyPair, importJWK, SignJWT} from 'jose'
import type {JWK} from 'jose'

const DEFAULT_USER_TOKEN_TTL = 3600

/** A JWKS with private members, as oidc-provider's `jwks` configuration takes it. */
export interface SigningKeys {
  keys: JWK[]
}

/** A user access token as a web API receives it: the future OBO assertion. */
export interface UserTokenClaims {
  sub: string
  /** The web API, e.g. `api`. */
  aud: string | string[]
  scope?: string
  /** Seconds from now; zero or negative for an already expired token. Default 3600. */
  expiresIn?: number
  /** The front-end client the user signed in with (`client_id` claim); default `public`. */
  clientId?: string
}

/** A fresh RS256 signing key per start: tokens of an earlier run never verify against a new one. */
export async function generateSigningKeys(): Promise<SigningKeys> {
  const {privateKey} = await generateKeyPair('RS256', {extractable: true})
  return {keys: [{...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig'}]}
}

const PRIVATE_JWK_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])

/** The public part of a key: verifying needs nothing else, and jose refuses private keys for it. */
export function publicJwk(jwk: JWK): JWK {
  return Object.fromEntries(Object.entries(jwk).filter(([member]) => !PRIVATE_JWK_MEMBERS.has(member)))
}

/**
 * Signs user access tokens with the provider's own signing key, so that they verify against its
 * JWKS as the tokens it issues do (RFC 9068 `at+jwt`).
 */
export function userTokenSigner(issuer: string, signingJwk: JWK): (claims: UserTokenClaims) => Promise<string> {
  const alg = signingJwk.alg ?? 'RS256'
  let key: ReturnType<typeof importJWK> | undefined
  return async ({sub, aud, scope, expiresIn = DEFAULT_USER_TOKEN_TTL, clientId = 'public'}) => {
    key ??= importJWK(signingJwk, alg)
    const now = Math.floor(Date.now() / 1000)
    const exp = now + expiresIn
    // An expired token was still issued before it expired.
    const iat = expiresIn > 0 ? now : exp - 60
    return new SignJWT({...(scope === undefined ? {} : {scope}), client_id: clientId})
      .setProtectedHeader({alg, kid: signingJwk.kid, typ: 'at+jwt'})
      .setIssuer(issuer)
      .setSubject(sub)
      .setAudience(aud)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(await key)
  }
}
