/**
 * What a resource server checks of a sender-constrained token before it answers (RFC 9449 §7, RFC
 * 8705 §3), for dev idp's protected API and the tests' API server:
 *  - `cnf.jkt`: `Authorization: DPoP` (a bound token sent as Bearer is refused), a `DPoP` proof that
 *    verifies for this very request (../verify/binding.ts: signature with its jwk, thumbprint equal
 *    to cnf.jkt, htm, htu without query, iat within the window, ath), carrying this API's own nonce
 *    (a proof without it is answered `use_dpop_nonce` with the nonce to use), and a `jti` not seen
 *    before within the window;
 *  - `cnf.x5t#S256`: the TLS connection presents the very certificate;
 *  - an unbound token sent with the DPoP scheme is refused.
 */
import {randomBytes} from 'node:crypto'
import type {IncomingMessage} from 'node:http'
import type {TLSSocket} from 'node:tls'

import type {JWTPayload} from 'jose'

import {thumbprint} from '../config/certificates.js'
import {checkDpopProof, DPOP_ALGORITHMS} from '../verify/binding.js'
import {peerCertificate} from './configuration.js'
import {type ServerChallenge, serverChallenge} from './oidc.js'

export interface SenderRules {
  /** Seconds a proof's `iat` may be from now (default 300, oidc-provider's), and for which its `jti` is remembered. */
  windowSeconds: number
  /** Require this API's nonce in every proof (default true). */
  requireNonce: boolean
  /** The nonces to hand out; default this API's own (a secret of its own, as oidc-provider's). */
  nonces: ServerChallenge
}

export interface SenderRefusal {
  algs: string
  description: string
  error: 'invalid_dpop_proof' | 'invalid_token' | 'use_dpop_nonce'
  /** The nonce the next proof must carry. */
  nonce?: string
  scheme: 'Bearer' | 'DPoP'
}

/** Accepted: with the nonce to hand out for the next proof, when the proof's is no longer the newest. */
export type SenderVerdict = {nonce?: string} | {refusal: SenderRefusal}

/** The `jti`s seen within the window, per key: a proof is for one request (RFC 9449 §11.1). */
function replayMemory(windowSeconds: number) {
  const seen = new Map<string, number>()
  return {
    /** false when this proof was seen before. */
    first(jkt: string, jti: string, now: number): boolean {
      for (const [key, until] of seen) if (until < now) seen.delete(key)
      const key = `${jkt} ${jti}`
      if (seen.has(key)) return false
      seen.set(key, now + 2 * windowSeconds)
      return true
    },
  }
}

/** The URL the request was sent to, as its proof's `htu` must name it (scheme and Host as the client addressed them). */
function requestUrl(request: IncomingMessage): string {
  const scheme = (request.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http'
  const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname
  return `${scheme}://${request.headers.host}${path}`
}

const confirmation = (claims: JWTPayload): Record<string, unknown> => (claims.cnf && typeof claims.cnf === 'object' && !Array.isArray(claims.cnf) ? (claims.cnf as Record<string, unknown>) : {})

export function senderVerifier(rules: Partial<SenderRules> = {}) {
  const windowSeconds = rules.windowSeconds ?? 300
  const requireNonce = rules.requireNonce ?? true
  const nonces = rules.nonces ?? serverChallenge(randomBytes(32), 'tokenctl dev idp API DPoP')
  const replays = replayMemory(windowSeconds)
  const algs = DPOP_ALGORITHMS.join(' ')
  const refusal = (error: SenderRefusal['error'], description: string, scheme: SenderRefusal['scheme'] = 'DPoP', nonce?: string): SenderVerdict => ({
    refusal: {algs, description, error, nonce, scheme},
  })

  async function checkProof(request: IncomingMessage, token: string, jkt: string): Promise<SenderVerdict> {
    const header = request.headers.dpop
    if (typeof header !== 'string' || header === '') return refusal('invalid_dpop_proof', 'no DPoP proof (the DPoP header) with a DPoP-bound token')
    const now = Math.floor(Date.now() / 1000)
    const verdict = await checkDpopProof(header, {accessToken: token, jkt, method: request.method ?? 'GET', now, skewSeconds: windowSeconds, url: requestUrl(request)})
    if ('problems' in verdict) return refusal('invalid_dpop_proof', `the DPoP proof fails: ${verdict.problems.join('; ')}`)
    const {nonce} = verdict.proof
    if (requireNonce && (nonce === undefined || !nonces.checkChallenge(nonce))) {
      return refusal('use_dpop_nonce', nonce === undefined ? 'this API wants its nonce in the proof' : 'the nonce is not one this API gave, or it is too old', 'DPoP', nonces.nextChallenge())
    }

    if (!replays.first(verdict.proof.jkt, verdict.proof.jti, now)) return refusal('invalid_dpop_proof', 'the DPoP proof was used before (its jti): a proof is for one request')
    const next = nonces.nextChallenge()
    return nonce === next ? {} : {nonce: next}
  }

  return {
    async check(request: IncomingMessage, presented: {scheme: 'bearer' | 'dpop'; token: string}, claims: JWTPayload): Promise<SenderVerdict> {
      const cnf = confirmation(claims)
      if (typeof cnf['x5t#S256'] === 'string') {
        const certificate = peerCertificate(request.socket)
        if (!certificate) return refusal('invalid_token', 'a certificate-bound token without a client certificate on the connection', 'Bearer')
        if (thumbprint(certificate, 'sha256') !== cnf['x5t#S256']) return refusal('invalid_token', 'the token is bound to another certificate than the one this connection presents', 'Bearer')
      }

      if (typeof cnf.jkt === 'string') {
        if (presented.scheme !== 'dpop') return refusal('invalid_token', 'a DPoP-bound token sent as a bearer token')
        return checkProof(request, presented.token, cnf.jkt)
      }

      if (presented.scheme === 'dpop') return refusal('invalid_token', 'the token is not bound to a DPoP key, yet sent with the DPoP scheme')
      return {}
    },
  }
}
