/**
 * Sender-constrained tokens as an API checks them (README, "Sender-constrained tokens"): a token
 * whose `cnf` binds it to a DPoP key (`jkt`, RFC 9449) is accepted only with a proof signed by that
 * key for that very request; one bound to a certificate (`x5t#S256`, RFC 8705) only over a TLS
 * connection presenting that certificate. Either, presented as a plain bearer token, is refused.
 *
 * `checkDpopProof` is the proof check of RFC 9449 §4.3, made with jose (the signature with the
 * proof's own `jwk`, through EmbeddedJWK; its thumbprint): `token verify --dpop-proof` and dev idp's
 * protected API both use it. What only a server can check (its nonce, a `jti` seen before) is the
 * server's (../devidp/protected-api.ts).
 */
import {createHash} from 'node:crypto'

import type {Check, Claims} from './checks.js'
import {failed, passed, skipped} from './checks.js'

/** Asymmetric JWS algorithms only: a proof is signed with the private half of the key its header carries. */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519']

export interface ProofExpectations {
  /** The token the proof goes with: its SHA-256 must be the proof's `ath`. None at a token endpoint. */
  accessToken?: string
  /** The thumbprint the token is bound to (`cnf.jkt`), when there is a token. */
  jkt?: string
  method: string
  /** Seconds now, and how far `iat` may be from it. */
  now: number
  skewSeconds: number
  url: string | URL
}

export interface VerifiedProof {
  iat: number
  jkt: string
  jti: string
  nonce?: string
}

export type ProofVerdict = {problems: string[]} | {proof: VerifiedProof}

/** base64url(SHA-256(ASCII token)): a proof's `ath` (RFC 9449 §4.2). */
export const accessTokenHash = (token: string): string => createHash('sha256').update(token, 'ascii').digest('base64url')

/** RFC 9449 §4.2: `htu` is the target URI without query and fragment. */
function withoutQuery(url: URL): string {
  const copy = new URL(url.href)
  copy.search = ''
  copy.hash = ''
  return copy.href
}

const str = (value: unknown): value is string => typeof value === 'string' && value !== ''

/** The claim checks of a proof whose signature verified; every problem is named, none is hidden behind the first. */
function claimProblems(payload: Record<string, unknown>, expected: ProofExpectations): string[] {
  const problems: string[] = []
  if (!str(payload.jti)) problems.push('no jti (a proof is unique: servers refuse one they saw before)')
  if (payload.htm !== expected.method.toUpperCase()) problems.push(`htm ${JSON.stringify(payload.htm)}, the request's method is ${expected.method.toUpperCase()}`)
  const target = new URL(expected.url)
  const htu = str(payload.htu) && URL.canParse(payload.htu) ? new URL(payload.htu) : undefined
  if (!htu) problems.push(`htu ${JSON.stringify(payload.htu)} is not a URL`)
  else if (htu.search !== '' || htu.hash !== '') problems.push(`htu ${payload.htu as string} carries a query or a fragment, which a proof leaves out`)
  else if (htu.href !== withoutQuery(target)) problems.push(`htu ${htu.href}, the request's URL is ${withoutQuery(target)}`)
  if (!Number.isFinite(payload.iat)) problems.push('no iat')
  else if (Math.abs(expected.now - (payload.iat as number)) > expected.skewSeconds) {
    const age = expected.now - (payload.iat as number)
    problems.push(`iat ${age >= 0 ? `${age} s ago` : `${-age} s ahead`}, beyond the ${expected.skewSeconds} s allowed (a proof is made for its request, then; check the clocks)`)
  }

  if (expected.accessToken !== undefined) {
    if (payload.ath === undefined) problems.push('no ath: a proof sent with an access token carries its SHA-256')
    else if (payload.ath !== accessTokenHash(expected.accessToken)) problems.push('ath is not the SHA-256 of this token: the proof was made for another token')
  }

  return problems
}

/** RFC 9449 §4.3: a DPoP proof as a server checks it, each failure said. */
export async function checkDpopProof(proof: string, expected: ProofExpectations): Promise<ProofVerdict> {
  const {calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, errors, jwtVerify} = await import('jose')
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(proof)
  } catch {
    return {problems: ['not a JWT']}
  }

  if (header.typ !== 'dpop+jwt') return {problems: [`typ ${JSON.stringify(header.typ)}, a proof's is dpop+jwt`]}
  if (!header.jwk || typeof header.jwk !== 'object') return {problems: ['no jwk in the header: a proof carries the public key it is signed with']}
  if ('d' in header.jwk) return {problems: ["the header's jwk holds a private key"]}
  let payload: Record<string, unknown>
  try {
    ;({payload} = await jwtVerify(proof, EmbeddedJWK, {algorithms: DPOP_ALGORITHMS, typ: 'dpop+jwt'}))
  } catch (error) {
    if (error instanceof errors.JWTClaimValidationFailed) return {problems: [`its ${error.claim} claim: ${error.message}`]}
    if (error instanceof errors.JOSEAlgNotAllowed) return {problems: [`alg ${JSON.stringify(header.alg)}: a proof is signed with an asymmetric algorithm (${DPOP_ALGORITHMS.join(', ')})`]}
    return {problems: [`its signature does not verify with the jwk of its header (${(error as Error).message})`]}
  }

  const jkt = await calculateJwkThumbprint(header.jwk)
  const problems = claimProblems(payload, expected)
  if (expected.jkt !== undefined && jkt !== expected.jkt) problems.push(`signed with the key ${jkt}, the token is bound to ${expected.jkt} (cnf.jkt)`)
  if (problems.length > 0) return {problems}
  return {proof: {iat: payload.iat as number, jkt, jti: payload.jti as string, nonce: str(payload.nonce) ? payload.nonce : undefined}}
}

/** What `token verify` was given to check a binding with. */
export interface BindingEvidence {
  /** The certificate's base64url SHA-256 (`--certificate-file`). */
  certificateX5t?: string
  clockSkewSeconds: number
  /** `--dpop-proof`, with the request it was made for. */
  dpop?: {method: string; proof: string; url: string}
  now: number
  token: string
}

/** `cnf`, when the token has one: its DPoP key thumbprint and its certificate's, as far as they are strings. */
function confirmationOf(claims: Claims): {jkt?: unknown; x5t?: unknown} | undefined {
  const {cnf} = claims
  if (cnf === undefined) return undefined
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return {}
  const members = cnf as Record<string, unknown>
  return {jkt: members.jkt, x5t: members['x5t#S256']}
}

const REFUSED_AS_BEARER = 'an API refuses it as a bearer token'

async function dpopCheck(jkt: unknown, evidence: BindingEvidence): Promise<string | {failure: string}> {
  if (typeof jkt !== 'string') return {failure: `cnf.jkt ${JSON.stringify(jkt)} is not a thumbprint`}
  if (!evidence.dpop) return {failure: `bound to a DPoP key (cnf.jkt ${jkt}): ${REFUSED_AS_BEARER}; pass --dpop-proof PROOF --method M --url URL to check the proof it is sent with`}
  const {method, proof, url} = evidence.dpop
  const verdict = await checkDpopProof(proof, {accessToken: evidence.token, jkt, method, now: evidence.now, skewSeconds: evidence.clockSkewSeconds, url})
  if ('problems' in verdict) return {failure: `the DPoP proof for ${method.toUpperCase()} ${url} fails: ${verdict.problems.join('; ')}`}
  return `DPoP proof for ${method.toUpperCase()} ${url} signed by the bound key (jkt ${jkt}), iat ${evidence.now - verdict.proof.iat} s ago, ath matches`
}

function certificateCheck(x5t: unknown, evidence: BindingEvidence): string | {failure: string} {
  if (typeof x5t !== 'string') return {failure: `cnf.x5t#S256 ${JSON.stringify(x5t)} is not a thumbprint`}
  if (evidence.certificateX5t === undefined) {
    return {failure: `bound to a certificate (cnf.x5t#S256 ${x5t}): ${REFUSED_AS_BEARER}, or over a connection without that certificate; pass --certificate-file to compare`}
  }

  if (evidence.certificateX5t !== x5t) return {failure: `bound to the certificate ${x5t} (cnf.x5t#S256), --certificate-file is ${evidence.certificateX5t}`}
  return `bound to the certificate of --certificate-file (x5t#S256 ${x5t})`
}

/**
 * The `cnf` line of `token verify`: none for a bearer token nobody asked about; a failure for a
 * bound token checked without its proof or certificate (an API would refuse it as a bearer token),
 * and for a proof or a certificate that does not match.
 */
export async function checkBinding(claims: Claims, evidence: BindingEvidence): Promise<Check | undefined> {
  const cnf = confirmationOf(claims)
  if (cnf === undefined) {
    if (evidence.dpop) return failed('cnf', 'the token has no cnf: it is not bound to a DPoP key, and an API refuses a DPoP proof with an unbound token')
    if (evidence.certificateX5t !== undefined) return failed('cnf', 'the token has no cnf: it is not bound to a certificate')
    return undefined
  }

  const results: Array<string | {failure: string}> = []
  if (cnf.jkt !== undefined) results.push(await dpopCheck(cnf.jkt, evidence))
  if (cnf.x5t !== undefined) results.push(certificateCheck(cnf.x5t, evidence))
  if (results.length === 0) return skipped('cnf', 'cnf names no binding tokenctl checks (jkt, x5t#S256)')
  const failures = results.filter((result) => typeof result !== 'string')
  if (failures.length > 0) return failed('cnf', failures.map((failure) => failure.failure).join('; '))
  return passed('cnf', results.filter((result) => typeof result === 'string').join('; '))
}
