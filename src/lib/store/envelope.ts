import {createCipheriv, createDecipheriv, createHash, createHmac, hkdf, randomBytes, scrypt, timingSafeEqual} from 'node:crypto'

/**
 * The sealed envelope of the encrypted stores: AES-256-GCM under a key derived from the store's
 * secret and a salt, a fresh nonce per seal. The secret is a passphrase, stretched with scrypt, or a
 * random 256-bit key, which needs no stretching and goes through HKDF-SHA256 (README, "How secrets
 * are kept"). Any backend that keeps secrets under one (the file store, the Redis store) seals with
 * these functions so that one secret opens them all.
 *
 * Layout (integers big-endian); the header is the GCM additional authenticated data:
 *
 *   header   magic "TKSE" | version 1 | kdf (1 scrypt, 2 HKDF) | N u32 | r u32 | p u32
 *            | salt 16 | nonce 12 | check 16 | ciphertext length u32          (66 bytes)
 *   digest   first 8 bytes of SHA-256(header)
 *   body     ciphertext | GCM tag 16
 *
 * N, r and p are scrypt's parameters, all three 0 under HKDF, which has none. The kdf byte says which
 * kind of secret sealed the envelope, so that a store sealed with a passphrase is never "opened" with
 * a key (or the reverse) and reported as a wrong secret: the user is told which one it needs. A
 * tokenctl that knows only scrypt refuses an HKDF envelope as a derivation it does not support.
 *
 * check = first 16 bytes of HMAC-SHA256(key, "tokenctl-store-check") tells a wrong secret from a
 * damaged body. The unkeyed digest tells a damaged header (salt, parameters, check) from a wrong
 * secret, which would otherwise look alike; the length field tells a truncated file apart.
 */

export interface KdfParams {
  N: number
  p: number
  r: number
}

/**
 * What a store is sealed with: a passphrase (a string, stretched with scrypt) or a random 256-bit
 * key (HKDF, no stretching: it is not something a person chose, so there is nothing to guess).
 */
export type StoreSecret = string | {readonly key: Buffer}
export type SecretKind = 'key' | 'passphrase'

export const secretKind = (secret: StoreSecret): SecretKind => (typeof secret === 'string' ? 'passphrase' : 'key')

/** The bytes of a store key. */
export const STORE_KEY_BYTES = 32

/** Measured on the reference machine: about 22–28 ms per derivation (2^15 took about 58 ms). */
export const DEFAULT_KDF_PARAMS: Readonly<KdfParams> = Object.freeze({N: 2 ** 14, p: 1, r: 8})

/** What an envelope sealed with a key records as parameters: HKDF has none. */
export const NO_KDF_PARAMS: Readonly<KdfParams> = Object.freeze({N: 0, p: 0, r: 0})

/** The parameters a seal with this secret records: params for a passphrase, none for a key. */
export function sealingParams(secret: StoreSecret, params: KdfParams = DEFAULT_KDF_PARAMS): KdfParams {
  return secretKind(secret) === 'key' ? NO_KDF_PARAMS : params
}

export interface ParsedEnvelope {
  check: Buffer
  ciphertext: Buffer
  /** The exact header bytes, authenticated by GCM. */
  header: Buffer
  nonce: Buffer
  params: KdfParams
  salt: Buffer
  /** Which kind of secret sealed it (the kdf byte). */
  sealedWith: SecretKind
  tag: Buffer
  version: number
}

/**
 * `wrong_secret`: the secret is of the right kind but not the store's; `other_secret`: the store is
 * sealed with the other kind (a passphrase where a key is set, or the reverse), named in sealedWith.
 */
export type OpenResult =
  | {failure: 'corrupt'; ok: false; reason: string}
  | {failure: 'other_secret'; ok: false; reason: string; sealedWith: SecretKind}
  | {failure: 'wrong_secret'; ok: false; reason: string}
  | {ok: true; plaintext: Buffer}

const MAGIC = Buffer.from('TKSE', 'latin1')
const VERSION = 1
const KDF_SCRYPT = 1
const KDF_HKDF = 2
const SALT_BYTES = 16
const NONCE_BYTES = 12
const CHECK_BYTES = 16
const TAG_BYTES = 16
const DIGEST_BYTES = 8
const HEADER_BYTES = MAGIC.length + 1 + 1 + 4 * 3 + SALT_BYTES + NONCE_BYTES + CHECK_BYTES + 4
const KEY_BYTES = 32
const CHECK_LABEL = 'tokenctl-store-check'
/** HKDF's info: binds the derived key to this use of the store key. */
const HKDF_INFO = 'tokenctl-store-envelope'

// Whatever a file claims, we never run a derivation that could exhaust memory or take minutes.
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024

function scryptMemory({N, p, r}: KdfParams): number {
  // OpenSSL's accounting: V takes 128·r·(N+2) bytes, B takes 128·r·p.
  return 128 * r * (N + 2) + 128 * r * p
}

/** Why params are unacceptable, or undefined when they are fine. */
export function kdfParamsProblem(params: KdfParams): string | undefined {
  const {N, p, r} = params
  if (!Number.isInteger(N) || N < 2 ** 10 || N > 2 ** 22 || (N & (N - 1)) !== 0) return `scrypt N=${N} is not a power of two between 2^10 and 2^22`
  if (!Number.isInteger(r) || r < 1 || r > 64) return `scrypt r=${r} is out of range`
  if (!Number.isInteger(p) || p < 1 || p > 16) return `scrypt p=${p} is out of range`
  if (scryptMemory(params) > MAX_SCRYPT_MEMORY) return `scrypt N=${N} r=${r} needs more than 256 MiB`
  return undefined
}

/**
 * The 32-byte AES key for a secret and salt: scrypt with params for a passphrase, HKDF-SHA256 for a
 * key (params unused). Any backend sharing the secret must use exactly this.
 */
export function deriveKey(secret: StoreSecret, salt: Buffer, params: KdfParams): Promise<Buffer> {
  if (typeof secret !== 'string') return hkdfKey(secret.key, salt)
  const problem = kdfParamsProblem(params)
  if (problem) return Promise.reject(new RangeError(problem))
  // Node's default maxmem (32 MiB) would refuse N=2^15, r=8 if the parameters are raised later.
  const options = {...params, maxmem: scryptMemory(params) + 1024 * 1024}
  return new Promise((resolve, reject) => {
    scrypt(secret.normalize('NFC'), salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key)))
  })
}

function hkdfKey(key: Buffer, salt: Buffer): Promise<Buffer> {
  if (key.length !== STORE_KEY_BYTES) return Promise.reject(new RangeError(`a store key is ${STORE_KEY_BYTES} bytes`))
  return new Promise((resolve, reject) => {
    hkdf('sha256', key, salt, HKDF_INFO, KEY_BYTES, (error, derived) => (error ? reject(error) : resolve(Buffer.from(derived))))
  })
}

export function keyCheck(key: Buffer): Buffer {
  return createHmac('sha256', key).update(CHECK_LABEL).digest().subarray(0, CHECK_BYTES)
}

function headerDigest(header: Buffer): Buffer {
  return createHash('sha256').update(header).digest().subarray(0, DIGEST_BYTES)
}

function encodeHeader(kind: SecretKind, params: KdfParams, salt: Buffer, nonce: Buffer, check: Buffer, ciphertextLength: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES)
  let at = MAGIC.copy(header, 0)
  at = header.writeUInt8(VERSION, at)
  at = header.writeUInt8(kind === 'key' ? KDF_HKDF : KDF_SCRYPT, at)
  at = header.writeUInt32BE(params.N, at)
  at = header.writeUInt32BE(params.r, at)
  at = header.writeUInt32BE(params.p, at)
  at += salt.copy(header, at)
  at += nonce.copy(header, at)
  at += check.copy(header, at)
  header.writeUInt32BE(ciphertextLength, at)
  return header
}

/** deriveKey for one secret: how a backend may remember derived keys (see memoisedDerive). */
export type Derive = (salt: Buffer, params: KdfParams) => Promise<Buffer>

/**
 * deriveKey for secret, remembering each derived key (by salt and parameters) for the life of the
 * process: a backend whose entries are separate envelopes under one salt (Redis) derives once per
 * salt, not once per entry. The derivation itself is exactly deriveKey's.
 */
export function memoisedDerive(secret: StoreSecret): Derive {
  const keys = new Map<string, Promise<Buffer>>()
  return (salt, params) => {
    const id = `${salt.toString('hex')}:${params.N}:${params.r}:${params.p}`
    let key = keys.get(id)
    if (!key) {
      key = deriveKey(secret, salt, params)
      key.catch(() => keys.delete(id))
      keys.set(id, key)
    }

    return key
  }
}

export interface SealOptions {
  /** How to derive the key (default: deriveKey with the secret, no memory). */
  derive?: Derive
  /** The salt to seal under (default: a fresh one). The nonce is always fresh. */
  salt?: Buffer
}

/**
 * Seals plaintext under secret with a fresh salt (unless given) and a fresh nonce: one derivation
 * (scrypt with params for a passphrase; a key's HKDF records no parameters, whatever params says).
 */
export async function sealEnvelope(plaintext: Buffer, secret: StoreSecret, params: KdfParams = DEFAULT_KDF_PARAMS, options: SealOptions = {}): Promise<Buffer> {
  const salt = options.salt ?? randomBytes(SALT_BYTES)
  if (salt.length !== SALT_BYTES) throw new RangeError(`a salt is ${SALT_BYTES} bytes`)
  const nonce = randomBytes(NONCE_BYTES)
  const recorded = sealingParams(secret, params)
  const key = await (options.derive ?? ((s: Buffer, p: KdfParams) => deriveKey(secret, s, p)))(salt, recorded)
  const header = encodeHeader(secretKind(secret), recorded, salt, nonce, keyCheck(key), plaintext.length)
  const cipher = createCipheriv('aes-256-gcm', key, nonce, {authTagLength: TAG_BYTES})
  cipher.setAAD(header)
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([header, headerDigest(header), ciphertext, cipher.getAuthTag()])
}

/** Splits an envelope into its parts; throws a one-line Error saying what is wrong with it. */
export function parseEnvelope(data: Buffer): ParsedEnvelope {
  if (data.length < MAGIC.length || !data.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a tokenctl store (unknown format)')
  if (data.length < HEADER_BYTES + DIGEST_BYTES) throw new Error('truncated (the header is incomplete)')
  const version = data.readUInt8(MAGIC.length)
  if (version !== VERSION) throw new Error(`format version ${version} is not supported by this tokenctl`)
  const header = data.subarray(0, HEADER_BYTES)
  if (!headerDigest(header).equals(data.subarray(HEADER_BYTES, HEADER_BYTES + DIGEST_BYTES))) throw new Error('the header is damaged')

  let at = MAGIC.length + 1
  const kdf = header.readUInt8(at++)
  if (kdf !== KDF_SCRYPT && kdf !== KDF_HKDF) throw new Error(`key derivation ${kdf} is not supported by this tokenctl`)
  const params: KdfParams = {N: header.readUInt32BE(at), p: header.readUInt32BE(at + 8), r: header.readUInt32BE(at + 4)}
  at += 12
  const take = (bytes: number): Buffer => header.subarray(at, (at += bytes))
  const salt = take(SALT_BYTES)
  const nonce = take(NONCE_BYTES)
  const check = take(CHECK_BYTES)
  const ciphertextLength = header.readUInt32BE(at)

  const bodyStart = HEADER_BYTES + DIGEST_BYTES
  const expected = bodyStart + ciphertextLength + TAG_BYTES
  if (data.length < expected) throw new Error(`truncated (${data.length} of ${expected} bytes)`)
  if (data.length > expected) throw new Error(`${data.length - expected} unexpected bytes after the end`)
  const sealedWith: SecretKind = kdf === KDF_HKDF ? 'key' : 'passphrase'
  const problem = sealedWith === 'key' ? hkdfParamsProblem(params) : kdfParamsProblem(params)
  if (problem) throw new Error(problem)

  return {
    check,
    ciphertext: data.subarray(bodyStart, bodyStart + ciphertextLength),
    header,
    nonce,
    params,
    salt,
    sealedWith,
    tag: data.subarray(bodyStart + ciphertextLength),
    version,
  }
}

/** HKDF records no parameters: anything else in their place is damage. */
function hkdfParamsProblem({N, p, r}: KdfParams): string | undefined {
  return N === 0 && r === 0 && p === 0 ? undefined : `key derivation HKDF takes no parameters, not N=${N} r=${r} p=${p}`
}

/**
 * Opens an envelope with one derivation (none when derive remembers the salt's key), once the secret
 * is known to be of the kind that sealed it. Failures are results, not exceptions, so that each
 * backend can name its own location in the message; reasons never contain secret material.
 */
export async function openEnvelope(data: Buffer, secret: StoreSecret, derive?: Derive): Promise<OpenResult> {
  let parsed: ParsedEnvelope
  try {
    parsed = parseEnvelope(data)
  } catch (error) {
    return {failure: 'corrupt', ok: false, reason: (error as Error).message}
  }

  const kind = secretKind(secret)
  if (parsed.sealedWith !== kind) return {failure: 'other_secret', ok: false, reason: `sealed with a ${parsed.sealedWith}, not a ${kind}`, sealedWith: parsed.sealedWith}
  const key = await (derive ? derive(parsed.salt, parsed.params) : deriveKey(secret, parsed.salt, parsed.params))
  if (!timingSafeEqual(keyCheck(key), parsed.check)) return {failure: 'wrong_secret', ok: false, reason: `wrong ${kind}`}

  const decipher = createDecipheriv('aes-256-gcm', key, parsed.nonce, {authTagLength: TAG_BYTES})
  decipher.setAAD(parsed.header)
  decipher.setAuthTag(parsed.tag)
  try {
    return {ok: true, plaintext: Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()])}
  } catch {
    return {failure: 'corrupt', ok: false, reason: 'the contents fail authentication (damaged or altered)'}
  }
}
