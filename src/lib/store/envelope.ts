import {createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, scrypt, timingSafeEqual} from 'node:crypto'

/**
 * The sealed envelope of the encrypted stores: AES-256-GCM under a key derived with scrypt from a
 * passphrase and a fresh salt, a fresh nonce per seal. Any backend that keeps secrets under a
 * passphrase (the file store, the Redis store) seals with these functions so that one passphrase opens
 * them all.
 *
 * Layout (integers big-endian); the header is the GCM additional authenticated data:
 *
 *   header   magic "TKSE" | version 1 | kdf 1 (scrypt) | N u32 | r u32 | p u32
 *            | salt 16 | nonce 12 | check 16 | ciphertext length u32          (66 bytes)
 *   digest   first 8 bytes of SHA-256(header)
 *   body     ciphertext | GCM tag 16
 *
 * check = first 16 bytes of HMAC-SHA256(key, "tokenctl-store-check") tells a wrong passphrase from
 * a damaged body. The unkeyed digest tells a damaged header (salt, parameters, check) from a wrong
 * passphrase, which would otherwise look alike; the length field tells a truncated file apart.
 */

export interface KdfParams {
  N: number
  p: number
  r: number
}

/** Measured on the reference machine: about 22–28 ms per derivation (2^15 took about 58 ms). */
export const DEFAULT_KDF_PARAMS: Readonly<KdfParams> = Object.freeze({N: 2 ** 14, p: 1, r: 8})

export interface ParsedEnvelope {
  check: Buffer
  ciphertext: Buffer
  /** The exact header bytes, authenticated by GCM. */
  header: Buffer
  nonce: Buffer
  params: KdfParams
  salt: Buffer
  tag: Buffer
  version: number
}

export type OpenResult =
  | {failure: 'corrupt' | 'wrong_passphrase'; ok: false; reason: string}
  | {ok: true; plaintext: Buffer}

const MAGIC = Buffer.from('TKSE', 'latin1')
const VERSION = 1
const KDF_SCRYPT = 1
const SALT_BYTES = 16
const NONCE_BYTES = 12
const CHECK_BYTES = 16
const TAG_BYTES = 16
const DIGEST_BYTES = 8
const HEADER_BYTES = MAGIC.length + 1 + 1 + 4 * 3 + SALT_BYTES + NONCE_BYTES + CHECK_BYTES + 4
const KEY_BYTES = 32
const CHECK_LABEL = 'tokenctl-store-check'

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

/** The 32-byte AES key for passphrase and salt. Any backend sharing the passphrase must use exactly this. */
export function deriveKey(passphrase: string, salt: Buffer, params: KdfParams): Promise<Buffer> {
  const problem = kdfParamsProblem(params)
  if (problem) return Promise.reject(new RangeError(problem))
  // Node's default maxmem (32 MiB) would refuse N=2^15, r=8 if the parameters are raised later.
  const options = {...params, maxmem: scryptMemory(params) + 1024 * 1024}
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key)))
  })
}

export function keyCheck(key: Buffer): Buffer {
  return createHmac('sha256', key).update(CHECK_LABEL).digest().subarray(0, CHECK_BYTES)
}

function headerDigest(header: Buffer): Buffer {
  return createHash('sha256').update(header).digest().subarray(0, DIGEST_BYTES)
}

function encodeHeader(params: KdfParams, salt: Buffer, nonce: Buffer, check: Buffer, ciphertextLength: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES)
  let at = MAGIC.copy(header, 0)
  at = header.writeUInt8(VERSION, at)
  at = header.writeUInt8(KDF_SCRYPT, at)
  at = header.writeUInt32BE(params.N, at)
  at = header.writeUInt32BE(params.r, at)
  at = header.writeUInt32BE(params.p, at)
  at += salt.copy(header, at)
  at += nonce.copy(header, at)
  at += check.copy(header, at)
  header.writeUInt32BE(ciphertextLength, at)
  return header
}

/** deriveKey for one passphrase: how a backend may remember derived keys (see memoisedDerive). */
export type Derive = (salt: Buffer, params: KdfParams) => Promise<Buffer>

/**
 * deriveKey for passphrase, remembering each derived key (by salt and parameters) for the life of
 * the process: a backend whose entries are separate envelopes under one salt (Redis) derives once
 * per salt, not once per entry. The derivation itself is exactly deriveKey's.
 */
export function memoisedDerive(passphrase: string): Derive {
  const keys = new Map<string, Promise<Buffer>>()
  return (salt, params) => {
    const id = `${salt.toString('hex')}:${params.N}:${params.r}:${params.p}`
    let key = keys.get(id)
    if (!key) {
      key = deriveKey(passphrase, salt, params)
      key.catch(() => keys.delete(id))
      keys.set(id, key)
    }

    return key
  }
}

export interface SealOptions {
  /** How to derive the key (default: deriveKey with passphrase, no memory). */
  derive?: Derive
  /** The salt to seal under (default: a fresh one). The nonce is always fresh. */
  salt?: Buffer
}

/** Seals plaintext under passphrase with a fresh salt (unless given) and a fresh nonce: one scrypt derivation. */
export async function sealEnvelope(plaintext: Buffer, passphrase: string, params: KdfParams = DEFAULT_KDF_PARAMS, options: SealOptions = {}): Promise<Buffer> {
  const salt = options.salt ?? randomBytes(SALT_BYTES)
  if (salt.length !== SALT_BYTES) throw new RangeError(`a salt is ${SALT_BYTES} bytes`)
  const nonce = randomBytes(NONCE_BYTES)
  const key = await (options.derive ?? ((s: Buffer, p: KdfParams) => deriveKey(passphrase, s, p)))(salt, params)
  const header = encodeHeader(params, salt, nonce, keyCheck(key), plaintext.length)
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
  if (kdf !== KDF_SCRYPT) throw new Error(`key derivation ${kdf} is not supported by this tokenctl`)
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
  const problem = kdfParamsProblem(params)
  if (problem) throw new Error(problem)

  return {
    check,
    ciphertext: data.subarray(bodyStart, bodyStart + ciphertextLength),
    header,
    nonce,
    params,
    salt,
    tag: data.subarray(bodyStart + ciphertextLength),
    version,
  }
}

/**
 * Opens an envelope with one scrypt derivation (none when derive remembers the salt's key).
 * Failures are results, not exceptions, so that each backend can name its own location in the
 * message; reasons never contain secret material.
 */
export async function openEnvelope(data: Buffer, passphrase: string, derive?: Derive): Promise<OpenResult> {
  let parsed: ParsedEnvelope
  try {
    parsed = parseEnvelope(data)
  } catch (error) {
    return {failure: 'corrupt', ok: false, reason: (error as Error).message}
  }

  const key = await (derive ? derive(parsed.salt, parsed.params) : deriveKey(passphrase, parsed.salt, parsed.params))
  if (!timingSafeEqual(keyCheck(key), parsed.check)) return {failure: 'wrong_passphrase', ok: false, reason: 'wrong passphrase'}

  const decipher = createDecipheriv('aes-256-gcm', key, parsed.nonce, {authTagLength: TAG_BYTES})
  decipher.setAAD(parsed.header)
  decipher.setAuthTag(parsed.tag)
  try {
    return {ok: true, plaintext: Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()])}
  } catch {
    return {failure: 'corrupt', ok: false, reason: 'the contents fail authentication (damaged or altered)'}
  }
}
