import {readFile} from 'node:fs/promises'

import {messageOf, StoreError} from '../errors.js'
import {createParent, homeFile} from '../paths.js'
import {writePrivateFile} from '../private-files.js'
import {DEFAULT_KDF_PARAMS, type KdfParams, openEnvelope, parseEnvelope, sealEnvelope} from './envelope.js'
import {withFileLock} from './file-lock.js'
import {updateUnderLock, withLocalLock} from './local-lock.js'
import {PASSPHRASE_FILE_VARIABLE, PASSPHRASE_VARIABLE} from './passphrase.js'
import {deriveFor, STORE_FILE} from './store-key.js'
import type {LockOptions, SecretStore} from './types.js'

/**
 * The encrypted file store: one file, store.enc under TOKENCTL_HOME, sealing a JSON map name → value.
 * Readers take no lock because writers replace the file by rename, which is atomic. Writers
 * serialize on the file's own lock (store.enc.lock) and re-read under it, so concurrent processes
 * writing different entries never lose each other's writes. A file that does not open is never
 * written over: every write decrypts the current file first.
 *
 * One scrypt derivation per process: the key is derived from the passphrase and the file's salt once
 * (store-key.ts may start it before the command has even loaded), and a write seals under the same
 * salt and key with a fresh nonce, as the Redis store does. The salt still defeats precomputed
 * passphrase guesses, which is what it is for; a new salt is drawn when there is no file yet and when
 * the KDF parameters change. AES-GCM's limit for random nonces under one key (2^32 messages, NIST
 * SP 800-38D §8.3) is beyond any store's lifetime of writes.
 */

export interface FileStoreOptions {
  /** Default: store.enc under TOKENCTL_HOME. */
  file?: string
  /** Parameters for new writes; existing files open with the parameters they record. */
  kdfParams?: KdfParams
  passphrase: string
}

type Entries = Map<string, string>

export class FileStore implements SecretStore {
  readonly backend = 'file' as const
  readonly location: string
  readonly #kdfParams: KdfParams
  readonly #passphrase: string
  /** The envelope this process last opened or sealed: the same bytes again need no second scrypt. */
  #last: undefined | {data: Buffer; entries: Entries; params: KdfParams; salt: Buffer}

  constructor(options: FileStoreOptions) {
    this.location = options.file ?? homeFile(STORE_FILE)
    this.#kdfParams = options.kdfParams ?? DEFAULT_KDF_PARAMS
    this.#passphrase = options.passphrase
  }

  async check(): Promise<void> {
    await this.#read()
  }

  async delete(name: string): Promise<boolean> {
    return this.#modify((entries) => entries.delete(name))
  }

  async get(name: string): Promise<string | undefined> {
    return (await this.#read()).get(name)
  }

  async list(prefix: string): Promise<string[]> {
    return [...(await this.#read()).keys()].filter((name) => name.startsWith(prefix)).sort()
  }

  async set(name: string, value: string): Promise<void> {
    await this.#modify((entries) => {
      entries.set(name, value)
      return true
    })
  }

  update(name: string, fn: (current: string | undefined) => Promise<string | undefined> | string | undefined): Promise<string | undefined> {
    return updateUnderLock(this, name, fn)
  }

  withLock<T>(name: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return withLocalLock(name, fn, options)
  }

  async #read(): Promise<Entries> {
    const data = await readStoreFile(this.location)
    if (data === undefined) return new Map()
    if (this.#last?.data.equals(data)) return new Map(this.#last.entries)
    const opened = await openEnvelope(data, this.#passphrase, deriveFor(this.#passphrase))
    if (!opened.ok) throw openFailure(this.location, opened.failure, opened.reason)
    const entries = decodeEntries(this.location, opened.plaintext)
    const {params, salt} = parseEnvelope(data)
    this.#last = {data, entries: new Map(entries), params, salt}
    return entries
  }

  /** change edits entries in place and says whether anything changed (nothing changed: no write). */
  #modify(change: (entries: Entries) => boolean): Promise<boolean> {
    createParent(this.location) // the first write creates the home; a read never does
    return withFileLock(`${this.location}.lock`, async () => {
      const entries = await this.#read()
      if (!change(entries)) return false
      // The salt (and so the key) of the file just opened, unless there was none or the parameters change.
      const last = this.#last
      const salt = last && sameParams(last.params, this.#kdfParams) ? last.salt : undefined
      const sealed = await sealEnvelope(encodeEntries(entries), this.#passphrase, this.#kdfParams, {derive: deriveFor(this.#passphrase), salt})
      await writeAtomically(this.location, sealed)
      const {params, salt: sealedUnder} = parseEnvelope(sealed)
      this.#last = {data: sealed, entries: new Map(entries), params, salt: sealedUnder}
      return true
    })
  }
}

const sameParams = (a: KdfParams, b: KdfParams): boolean => a.N === b.N && a.r === b.r && a.p === b.p

async function readStoreFile(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new StoreError(`cannot read the secure store ${file}: ${messageOf(error)}`, 'store_error', {cause: error})
  }
}

function openFailure(file: string, failure: 'corrupt' | 'wrong_passphrase', reason: string): StoreError {
  if (failure === 'wrong_passphrase') {
    return new StoreError(`cannot open the secure store ${file}: wrong passphrase`, 'store_wrong_passphrase', {
      suggestions: [`check ${PASSPHRASE_VARIABLE} / ${PASSPHRASE_FILE_VARIABLE}: it must be the passphrase the store was created with`],
    })
  }

  return corrupt(file, reason)
}

function corrupt(file: string, reason: string): StoreError {
  return new StoreError(`the secure store ${file} is corrupt: ${reason}`, 'store_corrupt', {
    suggestions: [`restore ${file} from a backup, or move it aside to start an empty store (its secrets are then lost)`],
  })
}

function decodeEntries(file: string, plaintext: Buffer): Entries {
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

  return map
}

function encodeEntries(entries: Entries): Buffer {
  // fromEntries defines own properties, so a name like "__proto__" survives the round trip.
  return Buffer.from(JSON.stringify({entries: Object.fromEntries(entries)}), 'utf8')
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
