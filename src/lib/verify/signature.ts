/**
 * The signature check: the token's `alg` from an allow-list of public-key algorithms, then the JWS
 * verified (jose's compactVerify; the claims are checked by ./checks.ts, each on its own line) with
 * the issuer's JWKS, jose's remote key set (./jwks.ts): a `kid` the cached set does not hold fetches
 * the set again, once, as the issuer may have rotated its keys since the cache was written.
 */
import type {CryptoKey} from 'jose'

import {NetworkError} from '../errors.js'
import {type Check, failed, passed} from './checks.js'
import {GRAPH_TOKEN_EXPLANATION} from './entra.js'
import type {LoadedJwks} from './jwks.js'

/**
 * What an issuer signs access tokens with (RFC 7518 RSA, RSA-PSS, ECDSA; RFC 8037 EdDSA and its
 * RFC 9864 name Ed25519). Never `none`, never HMAC: an issuer's key set is public.
 */
export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']

export interface KeySource {
  /** The issuer's key set, from the cache while it is fresh; it fetches again by itself on an unknown kid. */
  load(): Promise<LoadedJwks>
}

/** A token refused by its header alone, before any key is fetched. */
export function refusedByHeader(header: Record<string, unknown>): Check | undefined {
  const {alg} = header
  if (typeof alg !== 'string' || alg === '') return failed('signature', 'no alg in the header')
  if (alg.toLowerCase() === 'none') return failed('signature', 'alg none: an unsigned token, which no web API accepts')
  if (/^HS\d+$/i.test(alg)) {
    return failed('signature', `alg ${alg} is symmetric (HMAC): an issuer's tokens are verified with its public keys, and accepting HMAC keyed with a public key lets anyone forge tokens; refused`)
  }

  if (!ALLOWED_ALGORITHMS.includes(alg)) return failed('signature', `alg ${alg} is not allowed (allowed: ${ALLOWED_ALGORITHMS.join(' ')})`)
  if (header.nonce !== undefined) return failed('signature', GRAPH_TOKEN_EXPLANATION)
  if (header.b64 === false) return failed('signature', 'b64 false: an unencoded payload, which a JWT never has')
  return undefined
}

function codeOf(error: unknown): string | undefined {
  return (error as {code?: unknown})?.code as string | undefined
}

/** Verifies with the one matching key, or with each of several candidates (a set without kids). */
async function verifyWith(token: string, loaded: LoadedJwks): Promise<void> {
  const {compactVerify} = await import('jose')
  const options = {algorithms: ALLOWED_ALGORITHMS}
  try {
    await compactVerify(token, loaded.getKey, options)
  } catch (error) {
    if (codeOf(error) !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw error
    let last: unknown = error
    for await (const key of error as AsyncIterable<CryptoKey>) {
      try {
        await compactVerify(token, key, options)
        return
      } catch (attempt) {
        last = attempt
      }
    }

    throw last
  }
}

function keyName(header: Record<string, unknown>): string {
  return typeof header.kid === 'string' ? `kid ${header.kid}` : 'no kid'
}

function where(loaded: LoadedJwks): string {
  const origin = loaded.origin() === 'fetched again' ? 'fetched again: the key was not in the cached set' : loaded.origin()
  return `the JWKS at ${loaded.uri.href} (${origin})`
}

function noMatchingKey(header: Record<string, unknown>, loaded: LoadedJwks): string {
  const {alg, kid} = header
  const sameKid = typeof kid === 'string' ? loaded.jwks().keys.find((key) => key.kid === kid) : undefined
  if (sameKid) {
    const fits = sameKid.alg ? `alg ${sameKid.alg}` : `kty ${sameKid.kty}`
    return `the key kid ${String(kid)} in ${where(loaded)} is for ${fits}, not ${String(alg)}: the header's alg does not fit the key`
  }

  return `no key with ${typeof kid === 'string' ? `kid ${kid}` : `alg ${String(alg)}`} in ${where(loaded)}: the token was not issued by this issuer, or signed with a key it no longer publishes`
}

function failure(error: unknown, header: Record<string, unknown>, loaded: LoadedJwks): Check {
  const message = (error as Error)?.message ?? String(error)
  switch (codeOf(error)) {
    case 'ERR_JWKS_INVALID': {
      throw new NetworkError(`the JWKS at ${loaded.uri.href} is not usable: ${message}`, 'invalid_response', {cause: error})
    }

    case 'ERR_JWKS_NO_MATCHING_KEY': {
      return failed('signature', noMatchingKey(header, loaded))
    }

    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': {
      return failed('signature', `bad signature: ${String(header.alg)} with ${keyName(header)} from ${where(loaded)} does not verify — the token was altered, or signed by someone else`)
    }

    case 'ERR_JWS_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
    case 'ERR_JOSE_ALG_NOT_ALLOWED': {
      return failed('signature', `cannot verify: ${message}`)
    }
  }

  // jose's key checks (an RSA modulus under 2048 bits) are TypeErrors.
  if (error instanceof TypeError) return failed('signature', `cannot verify: ${message}`)
  throw error
}

/** The signature line: passed with the key that verified it, or failed with the reason. */
export async function checkSignature(token: string, header: Record<string, unknown>, keys: KeySource): Promise<Check> {
  const refused = refusedByHeader(header)
  if (refused) return refused
  const loaded = await keys.load()
  try {
    await verifyWith(token, loaded)
    return passed('signature', `${String(header.alg)}, ${keyName(header)}, from ${where(loaded)}`)
  } catch (error) {
    return failure(error, header, loaded)
  }
}
