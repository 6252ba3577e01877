/**
 * DPoP proofs (RFC 9449; README, "Sender-constrained tokens"), made by openid-client: its DPoP handle
 * signs a proof for every token request (`typ: dpop+jwt`, the public `jwk`, a fresh `jti`, `htm`,
 * `htu` without query or fragment, `iat`), retries once with the server's nonce on `use_dpop_nonce`,
 * and keeps the nonces it was given. What this adds:
 *  - the nonces remembered across runs (../http/dpop-nonces.ts), put into a proof through the
 *    handle's own extension point (`modifyAssertion`) when the handle has none of its own yet;
 *  - proofs for an API (`call`, `--format header --url`): the same handle's `addProof`, which
 *    `protectedResourceRequest` uses to add `ath`. tokenctl sends API requests through its own
 *    transport (http/call.ts streams bodies in constant memory), not through fetch, so it asks the
 *    handle for the proof alone. `addProof` is a method of oauth4webapi's handle that its type
 *    declarations leave out: it is reached through `ProofMaker` below, checked when the handle is made.
 * Loaded only when a proof is to be made: a DPoP cache hit never loads it.
 */
import type {Configuration, CryptoKey, CryptoKeyPair, DPoPHandle} from 'openid-client'

import {ConfigError, InternalError} from '../errors.js'
import type {NonceBook, NonceRole} from '../http/dpop-nonces.js'
import {type DpopKeyMaterial, dpopAlgorithm, dpopKeyMaterial, type DpopOwner, publicDpopJwk} from './dpop-keys.js'
import type {SecretStore} from '../store/types.js'
import type {ServerMetadata} from './metadata.js'

/** The DPoP side of a token request: openid-client's handle, and the thumbprint of its key. */
export interface TokenEndpointDpop {
  handle: DPoPHandle
  jkt: string
}

/** What oauth4webapi's DPoP handle does beyond its declared type (see the module comment). */
interface ProofMaker {
  addProof(url: URL, headers: Headers, htm: string, accessToken?: string): Promise<void>
}

function proofMaker(handle: DPoPHandle): ProofMaker {
  const maker = handle as unknown as Partial<ProofMaker>
  if (typeof maker.addProof !== 'function') throw new InternalError("openid-client's DPoP handle no longer makes proofs for a resource request (addProof)")
  return maker as ProofMaker
}

/**
 * The algorithm to sign with: the key's, unless the server lists the algorithms it accepts and an
 * RSA key's other one (PS256, RS256) is among them where the default is not.
 */
function algorithmFor(material: DpopKeyMaterial, metadata?: ServerMetadata): string {
  const alg = dpopAlgorithm(material.jwk)
  const supported = metadata?.dpop_signing_alg_values_supported
  if (!Array.isArray(supported) || supported.includes(alg) || material.jwk.kty !== 'RSA') return alg
  return ['PS256', 'RS256'].find((candidate) => supported.includes(candidate)) ?? alg
}

async function keyPair(material: DpopKeyMaterial, alg: string): Promise<CryptoKeyPair> {
  const {importJWK} = await import('jose')
  const privateKey = (await importJWK(material.jwk, alg)) as CryptoKey
  // The handle exports the public key into every proof's header: it must be extractable.
  const publicKey = (await importJWK(publicDpopJwk(material.jwk), alg, {extractable: true})) as CryptoKey
  return {privateKey, publicKey}
}

async function handleFor(config: Configuration, material: DpopKeyMaterial, nonces: NonceBook, role: NonceRole, metadata?: ServerMetadata): Promise<DPoPHandle> {
  const client = await import('openid-client')
  const handle = client.getDPoPHandle(config, await keyPair(material, algorithmFor(material, metadata)), {
    [client.modifyAssertion](_header: Record<string, unknown>, payload: Record<string, unknown>) {
      // The handle's own nonce (from this run's answers) is the freshest; else the last one remembered.
      if (payload.nonce === undefined && typeof payload.htu === 'string') {
        const remembered = nonces.get(role, payload.htu)
        if (remembered !== undefined) payload.nonce = remembered
      }
    },
  })
  proofMaker(handle)
  return handle
}

/** The handle for a connection's token requests (every grant passes it to openid-client). */
export async function tokenEndpointDpop(config: Configuration, material: DpopKeyMaterial, nonces: NonceBook, metadata: ServerMetadata): Promise<TokenEndpointDpop> {
  return {handle: await handleFor(config, material, nonces, 'token', metadata), jkt: material.jkt}
}

/** Proofs for the requests to an API that a DPoP-bound token is sent to. */
export interface ResourceProver {
  jkt: string
  /** Remembers the nonce an API answered with (its DPoP-Nonce header), for the next proof to it. */
  noteNonce(url: URL, nonce: string | null | undefined): Promise<void>
  /** A fresh proof for one request: `htm`, `htu` (no query, no fragment), `iat`, a new `jti`, `ath`, the API's last nonce. */
  proof(method: string, url: URL, accessToken: string): Promise<string>
}

export async function resourceProver(material: DpopKeyMaterial, nonces: NonceBook): Promise<ResourceProver> {
  const client = await import('openid-client')
  // The handle takes its clock skew from a client configuration; an API has no metadata of its own.
  const config = new client.Configuration({issuer: 'urn:tokenctl:resource'}, 'tokenctl')
  const maker = proofMaker(await handleFor(config, material, nonces, 'api'))
  return {
    jkt: material.jkt,
    noteNonce: (url, nonce) => nonces.note('api', url, nonce),
    async proof(method, url, accessToken) {
      const headers = new Headers()
      await maker.addProof(url, headers, method.toUpperCase(), accessToken)
      return headers.get('dpop')!
    },
  }
}

/** Proofs with the connection's (or session's) key for the requests to an API: `call`, `--format header --url`. */
export async function resourceProverFor(owner: DpopOwner, openStore: () => Promise<SecretStore>): Promise<ResourceProver> {
  const material = await dpopKeyMaterial(owner, openStore)
  if (!material) throw new ConfigError('no DPoP key: the token was not fetched with --dpop')
  return resourceProverWith(material)
}

export async function resourceProverWith(material: DpopKeyMaterial): Promise<ResourceProver> {
  const {dpopNonceBook} = await import('../http/dpop-nonces.js')
  return resourceProver(material, dpopNonceBook())
}
