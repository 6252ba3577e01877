import {readFile} from 'node:fs/promises'

import {messageOf, StoreError} from '../errors.js'
import {createParent, homeFile} from '../paths.js'
import {writePrivateFile} from '../private-files.js'
import {type KdfParams, openEnvelope, parseEnvelope, sealEnvelope, sealingParams, secretKind, type StoreSecret} from './envelope.js'
import {withFileLock} from './file-lock.js'
import {withLocalLock} from './local-lock.js'
import {deriveFor, STORE_FILE} from './store-key.js'
import {sealedOtherwise, type SecretOption, secretOf, wrongSecret} from './store-secret.js'
import type {EntryOptions, LockOptions, SecretStore} from './types.js'

/**
 * The encrypted file store: one file, store.enc under TOKENCTL_HOME, sealing a JSON map name → value.
 * Readers take no lock because writers replace the file by rename, which is atomic. Writers
 * serialize on the file's own lock (store.enc.lock) and re-read under it, so concurrent processes
 * writing different entries never lose each other's writes. A file that does not open is never
 * written over: every write decrypts the current file first.
 *
 * The file is sealed with a passphrase or with a key (envelope.ts). One derivation per process: the key
 * is derived from the secret and the file's salt once (store-key.ts may start a passphrase's scrypt
 * before the command has even loaded), and a write seals under the same salt and key with a fresh
 * nonce, as the Redis store does. The salt still defeats precomputed passphrase guesses, which is what
 * it is for; a new salt is drawn when there is no file yet and when the KDF parameters change. AES-GCM's limit for random nonces under one key (2^32 messages, NIST
 * SP 800-38D §8.3) is beyond any store's lifetime of writes.
 *
 * Entries written with a lifetime (cached tokens) have it recorded beside them, and every write leaves
 * out those whose lifetime has ended: the file, and so what each read decrypts and parses, holds what
 * can still be used, not every token a developer ever fetched.
 */

/** Sealed with a passphrase, or with a 256-bit key (store-secret.ts). */
export type FileStoreOptions = SecretOption & {
  /** Default: store.enc under TOKENCTL_HOME. */
  file?: string
  /** scrypt's parameters for new writes under a passphrase; existing files open with the parameters they record. */
  kdfParams?: KdfParams
}

type Entries = Map<string, string>
/** The contents of the file: the entries, and the lifetime (epoch ms) of those written with one. */
interface Contents {
  entries: Entries
  expiries: Map<string, number>
}

const copy = ({entries, expiries}: Contents): Contents => ({entries: new Map(entries), expiries: new Map(expiries)})

export class FileStore implements SecretStore {
  readonly backend = 'file' as const
  readonly location: string
  readonly #kdfParams: KdfParams
  readonly #secret: StoreSecret
  /** The envelope this process last opened or sealed: the same bytes again need no second scrypt. */
  #last: undefined | {contents: Contents; data: Buffer; params: KdfParams; salt: Buffer}

  constructor(options: FileStoreOptions) {
    this.location = options.file ?? homeFile(STORE_FILE)
    this.#secret = secretOf(options)
    this.#kdfParams = sealingParams(this.#secret, options.kdfParams)
  }

  async check(): Promise<void> {
    await this.#read()
  }

  async delete(name: string): Promise<boolean> {
    // Its lifetime, if any, stays until it ends: harmless, and gone then.
    return this.#modify(({entries}) => entries.delete(name))
  }

  async get(name: string): Promise<string | undefined> {
    return (await this.#read()).entries.get(name)
  }

  async list(prefix: string): Promise<string[]> {
    return [...(await this.#read()).entries.keys()].filter((name) => name.startsWith(prefix)).sort()
  }

  async set(name: string, value: string, options: EntryOptions = {}): Promise<void> {
    await this.#modify(({entries, expiries}) => {
      entries.set(name, value)
      if (options.expiresAt === undefined) expiries.delete(name)
      else expiries.set(name, options.expiresAt)
      return true
    })
  }

  withLock<T>(name: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return withLocalLock(name, fn, options)
  }

  async #read(): Promise<Contents> {
    const data = await readStoreFile(this.location)
    if (data === undefined) return {entries: new Map(), expiries: new Map()}
    if (this.#last?.data.equals(data)) return copy(this.#last.contents)
    const opened = await openEnvelope(data, this.#secret, deriveFor(this.#secret))
    if (!opened.ok) {
      if (opened.failure === 'other_secret') throw sealedOtherwise(this.location, opened.sealedWith, `move ${this.location} aside`)
      throw opened.failure === 'wrong_secret' ? wrongSecret(this.location, secretKind(this.#secret)) : corrupt(this.location, opened.reason)
    }

    const contents = decodeContents(this.location, opened.plaintext)
    const {params, salt} = parseEnvelope(data)
    this.#last = {contents: copy(contents), data, params, salt}
    return contents
  }

  /**
   * change edits the contents in place and says whether anything changed (nothing changed: no write);
   * a write leaves out the entries whose lifetime has ended.
   */
  #modify(change: (contents: Contents) => boolean): Promise<boolean> {
    createParent(this.location) // the first write creates the home; a read never does
    return withFileLock(`${this.location}.lock`, async () => {
      const contents = await this.#read()
      if (!change(contents)) return false
      removeExpired(contents, Date.now())
      // The salt (and so the key) of the file just opened, unless there was none or the parameters change.
      const last = this.#last
      const salt = last && sameParams(last.params, this.#kdfParams) ? last.salt : undefined
      const sealed = await sealEnvelope(encodeContents(contents), this.#secret, this.#kdfParams, {derive: deriveFor(this.#secret), salt})
      await writeAtomically(this.location, sealed)
      const {params, salt: sealedUnder} = parseEnvelope(sealed)
      this.#last = {contents: copy(contents), data: sealed, params, salt: sealedUnder}
      return true
    })
  }
}

const sameParams = (a: KdfParams, b: KdfParams): boolean => a.N === b.N && a.r === b.r && a.p === b.p

/** Drops the entries whose lifetime ended by now. */
function removeExpired({entries, expiries}: Contents, now: number): void {
  for (const [name, expiresAt] of expiries) {
    if (expiresAt > now) continue
    entries.delete(name)
    expiries.delete(name)
  }
}

async function readStoreFile(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new StoreError(`cannot read the secure store ${file}: ${messageOf(error)}`, 'store_error', {cause: error})
  }
}

function corrupt(file: string, reason: string): StoreError {
  return new StoreError(`the secure store ${file} is corrupt: ${reason}`, 'store_corrupt', {
    suggestions: [`restore ${file} from a backup, or move it aside to start an empty store (its secrets are then lost)`],
  })
}

function decodeContents(file: string, plaintext: Buffer): Contents {
  let parsed: unknown
  try {
    parsed = JSON.parse(plaintext.toString('utf8'))
  } catch {
    throw corrupt(file, 'its contents are not JSON')
  }

  const entries = (parsed as {entries?: unknown} | null)?.entries
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) throw corrupt(file, 'its contents have no entries')
  const map: Entries = new Map()
  for (const [name, value] of Object.entries(entries)) {
    if (typeof value !== 'string') throw corrupt(file, 'an entry is not a string')
    map.set(name, value)
  }

  // A lifetime that is not a number is no lifetime: the entry is kept.
  const expiries = new Map<string, number>()
  for (const [name, expiresAt] of Object.entries((parsed as {expires?: object}).expires ?? {})) {
    if (typeof expiresAt === 'number') expiries.set(name, expiresAt)
  }

  return {entries: map, expiries}
}

function encodeContents({entries, expiries}: Contents): Buffer {
  // fromEntries defines own properties, so a name like "__proto__" survives the round trip.
  return Buffer.from(JSON.stringify({entries: Object.fromEntries(entries), expires: Object.fromEntries(expiries)}), 'utf8')
}

/** Temp file in the same directory, fsync, rename over, fsync the directory: all or nothing, even on power loss. */
async function writeAtomically(file: string, data: Buffer): Promise<void> {
  try {
    // Each temporary file is unique per writer: should a hung writer's lock be broken, two writers
    // still never share one; those a killed writer left behind are removed (private-files.ts).
    await writePrivateFile(file, data, {durable: true})
  } catch (error) {
    throw new StoreError(`cannot write the secure store ${file}: ${messageOf(error)}`, 'store_error', {cause: error})
  }
}
