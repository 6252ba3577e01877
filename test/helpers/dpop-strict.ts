/**
 * A token endpoint as strict about DPoP proofs as RFC 9449 lets a server be, in front of
 * oidc-provider (an `inspectTokenRequest` of auth-server.ts). oidc-provider already verifies a
 * proof's signature, htm, its nonce and its jti (lib/helpers/validate_dpop.js), but it ignores a
 * query in `htu` (it strips it) and, once a nonce is there, never looks at `iat` again. Servers that
 * are stricter exist (RFC 9449 §4.2: `htu` "without query and fragment parts"; §11.1: a server may
 * refuse any proof older than a short window), so this one refuses:
 *  - a `jti` seen before (a replay), by itself, whatever the nonce;
 *  - a proof whose `iat` is more than `windowSeconds` (default 60) from now;
 *  - an `htu` with a query or a fragment, or one that is not the endpoint the request was sent to.
 * Every proof it saw is kept, decoded, for the tests to look at.
 */
import {decodeJwt, decodeProtectedHeader} from 'jose'

import type {TokenRequestRecord} from './auth-server.js'

export interface SeenProof {
  /** The proof as sent. */
  raw: string
  header: Record<string, unknown>
  payload: Record<string, unknown>
  /** The Host the request was sent to, so that a test tells the mTLS port from the other. */
  host: string
  grant_type?: string
}

export interface StrictDpopFront {
  inspect: (record: TokenRequestRecord) => {status: number; body: Record<string, unknown>} | undefined
  proofs: SeenProof[]
  reset(): void
}

const refuse = (description: string) => ({status: 400, body: {error: 'invalid_dpop_proof', error_description: description}})

export function strictDpopFront(options: {path?: string; windowSeconds?: number} = {}): StrictDpopFront {
  const windowSeconds = options.windowSeconds ?? 60
  const seen = new Set<string>()
  const proofs: SeenProof[] = []
  return {
    proofs,
    reset() {
      proofs.length = 0
    },
    inspect(record) {
      const proof = record.headers.dpop
      if (typeof proof !== 'string') return undefined
      let header: Record<string, unknown>
      let payload: Record<string, unknown>
      try {
        header = decodeProtectedHeader(proof)
        payload = decodeJwt(proof)
      } catch {
        return refuse('not a JWT')
      }

      proofs.push({raw: proof, header, payload, host: String(record.headers.host), grant_type: record.grant_type})
      const jti = String(payload.jti)
      if (seen.has(jti)) return refuse('jti seen before: a replayed proof')
      seen.add(jti)
      const now = Math.floor(Date.now() / 1000)
      if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > windowSeconds) return refuse(`iat outside the ${windowSeconds} s window`)
      const htu = typeof payload.htu === 'string' && URL.canParse(payload.htu) ? new URL(payload.htu) : undefined
      if (!htu) return refuse('htu is not a URL')
      if (htu.search !== '' || htu.hash !== '') return refuse('htu with a query or a fragment')
      if (htu.host !== record.headers.host || (options.path !== undefined && htu.pathname !== options.path)) return refuse('htu is not this endpoint')
      return undefined
    },
  }
}
