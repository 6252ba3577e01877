/**
 * DPoP keys (README, "Sender-constrained tokens"): where a connection's key lives, its thumbprint
 * (`jkt`, which the token cache's key holds), and the key itself when a proof is to be made.
 *
 *   file            --dpop-key-file: the user's own key (PEM PKCS#8 or JWK), read when needed
 *   named_client    `client add --dpop`: in the secure store under the client's name; its jkt in
 *                   config.json, so that a cache hit needs no store read for it
 *   connection      --dpop alone, without a named client's key: generated once (ES256) and kept in
 *                   the secure store under the connection's identity (server and client id), so
 *                   that the next run proves with the same key and finds its cached token
 *   kept            a session's own copy, inside its record: a session proves with one key for its
 *                   whole life (a public client's refresh token is bound to it)
 *
 * A generated key is never written to a file, a trace or an output: only the store holds it, and
 * only its thumbprint is ever shown. Light on purpose: jose is loaded only to make or read a key.
 */
import {createHash} from 'node:crypto'

import type {JWK} from 'jose'

import type {DpopKeyLocation, DpopKeyMaterial} from '../config/credentials.js'
import {ConfigError} from '../errors.js'
import type {SecretStore} from '../store/types.js'

export type {DpopKeyLocation, DpopKeyMaterial} from '../config/credentials.js'

/** Where a named client's DPoP key is kept. */
export const clientDpopKeyEntry = (clientName: string): string => `dpop-key:client:${clientName}`

/** The store entry of the key generated for a connection without a named client's key: one per server and client id. */
export function connectionDpopKeyEntry(server: string, clientId: string): string {
  return `dpop-key:connection:${createHash('sha256')
    .update(JSON.stringify([server, clientId]))
    .digest('hex')}`
}

/** What DPoP needs to know of a connection: where its key is, and who it is (for a generated key's entry). */
export interface DpopOwner {
  clientId: string
  dpop?: DpopKeyLocation
  /** The token endpoint, or the issuer when discovery finds it. */
  server: string
}

/** The algorithm a DPoP proof is signed with: the JWK's own `alg`, else the usual one for the key. */
export function dpopAlgorithm(jwk: JWK): string {
  if (typeof jwk.alg === 'string') return jwk.alg
  if (jwk.kty === 'EC') return {'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512'}[jwk.crv ?? ''] ?? 'ES256'
  if (jwk.kty === 'OKP') return 'EdDSA'
  return 'RS256'
}

/** The public members of a JWK: what a proof's header carries and what the thumbprint is computed over. */
export function publicDpopJwk(jwk: JWK): JWK {
  const {crv, e, kty, n, x, y} = jwk
  const members: JWK = {crv, e, kty, n, x, y}
  for (const name of Object.keys(members) as Array<keyof JWK>) if (members[name] === undefined) delete members[name]
  return members
}

async function materialOf(jwk: JWK): Promise<DpopKeyMaterial> {
  const {calculateJwkThumbprint} = await import('jose')
  return {jkt: await calculateJwkThumbprint(publicDpopJwk(jwk)), jwk: {...jwk, alg: dpopAlgorithm(jwk)}}
}

/** A fresh ES256 key, the algorithm every DPoP server accepts. */
export async function generateDpopKey(): Promise<DpopKeyMaterial> {
  const {exportJWK, generateKeyPair} = await import('jose')
  const {privateKey} = await generateKeyPair('ES256', {extractable: true})
  return materialOf({...(await exportJWK(privateKey)), alg: 'ES256'})
}

/** The keys a proof can be signed with: ECDSA on the NIST curves, Ed25519, RSA. */
function signs(jwk: JWK): boolean {
  if (jwk.kty === 'EC') return ['P-256', 'P-384', 'P-521'].includes(jwk.crv ?? '')
  return jwk.kty === 'RSA' || (jwk.kty === 'OKP' && jwk.crv === 'Ed25519')
}

/** --dpop-key-file: a private key as PEM (PKCS#8, or the other PEM forms Node reads) or as a JWK. */
export async function readDpopKeyFile(path: string): Promise<DpopKeyMaterial> {
  const {readSecretFile} = await import('../config/secrets.js')
  const text = (await readSecretFile(path, 'the DPoP key file')).trim()
  const {createPrivateKey} = await import('node:crypto')
  let jwk: JWK
  try {
    const given = text.startsWith('{') ? (JSON.parse(text) as JWK) : undefined
    // A public JWK is refused here too: a private key needs its private members.
    const key = given ? createPrivateKey({format: 'jwk', key: given as never}) : createPrivateKey(text)
    jwk = {...(key.export({format: 'jwk'}) as JWK), ...(typeof given?.alg === 'string' ? {alg: given.alg} : {})}
  } catch {
    throw new ConfigError(`${path} is not a private key (PEM or JWK)`, 'config_error', {
      suggestions: ['pass an EC (P-256), Ed25519 or RSA private key: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dpop.pem'],
    })
  }

  if (!signs(jwk)) {
    throw new ConfigError(`${path} holds a ${[jwk.kty, jwk.crv].filter(Boolean).join(' ')} key, which cannot sign a DPoP proof`, 'config_error', {
      suggestions: ['pass an EC (P-256, P-384, P-521), Ed25519 or RSA private key'],
    })
  }

  return materialOf(jwk)
}

function parseMaterial(text: string, where: string): DpopKeyMaterial {
  try {
    const material = JSON.parse(text) as DpopKeyMaterial
    if (typeof material.jkt === 'string' && typeof material.jwk?.d === 'string') return material
  } catch {
    // not JSON: unreadable, as below
  }

  throw new ConfigError(`the DPoP key of ${where} in the secure store is unreadable`, 'config_error', {
    suggestions: ['remove it and let tokenctl make a new one (tokens bound to the old key are fetched again)'],
  })
}

/** The key a connection's tokens are bound to, made and stored the first time a generated one is needed. */
export async function dpopKeyMaterial(owner: DpopOwner, openStore: () => Promise<SecretStore>): Promise<DpopKeyMaterial | undefined> {
  const location = owner.dpop
  switch (location?.kind) {
    case undefined: {
      return undefined
    }

    case 'file': {
      return readDpopKeyFile(location.path)
    }

    case 'kept': {
      return location.material
    }

    case 'named_client': {
      const text = await (await openStore()).get(clientDpopKeyEntry(location.name))
      if (text === undefined) {
        throw new ConfigError(`the DPoP key of client "${location.name}" is not in the secure store`, 'no_secret', {
          suggestions: [`add the client again: tokenctl client add ${location.name} --replace … --dpop`],
        })
      }

      return parseMaterial(text, `client "${location.name}"`)
    }

    case 'connection': {
      const store = await openStore()
      const entry = connectionDpopKeyEntry(owner.server, owner.clientId)
      const existing = await store.get(entry)
      if (existing !== undefined) return parseMaterial(existing, `client id ${owner.clientId}`)
      // Under the entry's lock: two first runs at once must not each bind tokens to a key of their own.
      return store.withLock(entry, async () => {
        const meanwhile = await store.get(entry)
        if (meanwhile !== undefined) return parseMaterial(meanwhile, `client id ${owner.clientId}`)
        const generated = await generateDpopKey()
        await store.set(entry, JSON.stringify(generated))
        return generated
      })
    }
  }
}

/**
 * The key's thumbprint, as the token cache's key holds it, with as little as possible: a named
 * client's from config.json and a session's from its record without any read; a file's or a
 * generated key's by reading it.
 */
export async function dpopThumbprint(owner: DpopOwner, openStore: () => Promise<SecretStore>): Promise<string | undefined> {
  const location = owner.dpop
  if (location?.kind === 'named_client' && location.jkt !== undefined) return location.jkt
  return (await dpopKeyMaterial(owner, openStore))?.jkt
}
