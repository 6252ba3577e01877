import {chompLineEnding, readAtMostSync} from '../bounded-read.js'
import {ConfigError, StoreError} from '../errors.js'
import {type SecretKind, STORE_KEY_BYTES, type StoreSecret} from './envelope.js'
import {PASSPHRASE_FILE_VARIABLE, PASSPHRASE_VARIABLE, passphraseSource, resolvePassphrase, unreadableSecretFile} from './passphrase.js'

/**
 * The secret of the encrypted stores (file, Redis): a passphrase (passphrase.ts), or instead a random
 * 256-bit key in base64 from TOKENCTL_STORE_KEY or, mounted as a file, TOKENCTL_STORE_KEY_FILE (the
 * variable wins when both are set). A key needs no stretching, so opening a store with one costs no
 * scrypt: the form for CI and fleets, whose secret is machine-made (README, "How secrets are kept").
 * A store is sealed with one or the other, so setting both is a mistake (exit 3), not a choice.
 */

export const KEY_VARIABLE = 'TOKENCTL_STORE_KEY'
export const KEY_FILE_VARIABLE = 'TOKENCTL_STORE_KEY_FILE'

const KEY_WAYS = `${KEY_VARIABLE} / ${KEY_FILE_VARIABLE}`
const PASSPHRASE_WAYS = `${PASSPHRASE_VARIABLE} / ${PASSPHRASE_FILE_VARIABLE}`

/** How a backend is given its secret: a passphrase, or a 256-bit key. */
export type SecretOption = {key: Buffer; passphrase?: never} | {key?: never; passphrase: string}

export const secretOf = (option: SecretOption): StoreSecret => (option.key === undefined ? option.passphrase : {key: option.key})

/** Where the store's secret comes from, for `store status` and messages; never the secret itself. */
export interface SecretSource {
  /** The file the variable names, for the *_FILE variables. */
  file?: string
  kind: SecretKind
  variable: string
}

function keySource(env: NodeJS.ProcessEnv): SecretSource | undefined {
  // An empty variable counts as unset, as for the passphrase.
  if (env[KEY_VARIABLE]) return {kind: 'key', variable: KEY_VARIABLE}
  const file = env[KEY_FILE_VARIABLE]
  return file ? {file, kind: 'key', variable: KEY_FILE_VARIABLE} : undefined
}

/** Where the secret would come from, or undefined when none is set; a key and a passphrase both set: exit 3. */
export function storeSecretSource(env: NodeJS.ProcessEnv = process.env): SecretSource | undefined {
  const key = keySource(env)
  const passphrase = passphraseSource(env)
  if (key && passphrase) {
    throw new ConfigError(`both a store key (${key.variable}) and a store passphrase (${passphrase.variable}) are set: a store is sealed with one of them`, 'config_error', {
      suggestions: [`unset ${KEY_WAYS} to use the passphrase, or ${PASSPHRASE_WAYS} to use the key`],
    })
  }

  return key ?? (passphrase && {kind: 'passphrase', ...passphrase})
}

/** The secret, or undefined when none is set (the caller decides whether that is an error). */
export function resolveStoreSecret(env: NodeJS.ProcessEnv = process.env): StoreSecret | undefined {
  const source = storeSecretSource(env)
  if (source?.kind !== 'key') return source && resolvePassphrase(env)
  return {key: decodeKey(source.file === undefined ? env[KEY_VARIABLE]! : readKeyFile(source.file), source)}
}

/** Where the key came from, in messages: the variable, or the file and its variable. */
const origin = (source: SecretSource) => (source.file === undefined ? source.variable : `the store key file ${source.file} (${source.variable})`)

function readKeyFile(file: string): string {
  let bytes: Buffer | undefined
  try {
    bytes = readAtMostSync(file)
  } catch (error) {
    throw unreadableSecretFile(error, {code: 'store_invalid_key', file, fileVariable: KEY_FILE_VARIABLE, secret: 'key', variable: KEY_VARIABLE})
  }

  if (bytes === undefined) {
    throw new StoreError(`the store key file ${file} (${KEY_FILE_VARIABLE}) holds more than 64 KiB: a store key is one line of 44 characters`, 'store_invalid_key', {
      suggestions: [`point ${KEY_FILE_VARIABLE} at the file that holds the key`],
    })
  }

  return chompLineEnding(bytes.toString('latin1'))
}

/** 32 bytes from their base64 (as `openssl rand -base64 32` prints them), or exit 7 saying what is wrong; never the value. */
function decodeKey(text: string, source: SecretSource): Buffer {
  const trimmed = text.trim()
  // The padding may be left out. Buffer.from skips what is not base64 (and reads base64url): only a
  // text that is exactly what its bytes encode to is base64.
  const padded = trimmed.padEnd(Math.ceil(trimmed.length / 4) * 4, '=')
  const key = Buffer.from(padded, 'base64')
  const canonical = key.toString('base64') === padded
  if (canonical && key.length === STORE_KEY_BYTES) return key
  const what = trimmed === '' ? 'it is empty' : canonical ? `it is ${key.length} bytes in base64, not ${STORE_KEY_BYTES}` : 'it is not base64'
  throw new StoreError(`${origin(source)} is not a 256-bit store key: ${what}`, 'store_invalid_key', {
    suggestions: [`make one with openssl rand -base64 32 (the same on every machine that shares the store), and put it in ${source.variable}`],
  })
}

/** A store that the secret given is of the right kind for, but not the one it was sealed with (exit 7). */
export function wrongSecret(where: string, kind: SecretKind, everyHost = false): StoreError {
  const who = everyHost ? 'every host must use' : 'it must be'
  return kind === 'key'
    ? new StoreError(`cannot open the secure store ${where}: wrong key`, 'store_wrong_key', {
        suggestions: [`check ${KEY_WAYS}: ${who} the key the store was created with`],
      })
    : new StoreError(`cannot open the secure store ${where}: wrong passphrase`, 'store_wrong_passphrase', {
        suggestions: [`check ${PASSPHRASE_WAYS}: ${who} the passphrase the store was created with`],
      })
}

/** A store sealed with the other kind of secret: a passphrase where a key is set, or the reverse (exit 7). */
export function sealedOtherwise(where: string, sealedWith: SecretKind, discard: string): StoreError {
  const [wanted, set] = sealedWith === 'key' ? [KEY_WAYS, PASSPHRASE_WAYS] : [PASSPHRASE_WAYS, KEY_WAYS]
  return new StoreError(`cannot open the secure store ${where}: it is sealed with a ${sealedWith}, and a ${sealedWith === 'key' ? 'passphrase' : 'key'} is set`, 'store_wrong_secret_kind', {
    suggestions: [`set ${wanted} to the ${sealedWith} it was sealed with, and unset ${set}; or ${discard} to start a store sealed with what is set (its secrets are then lost)`],
  })
}
