import {chompLineEnding, NotRegularFileError, readAtMostSync, unreadableReason} from '../bounded-read.js'
import {StoreError} from '../errors.js'

/**
 * The passphrase of the encrypted stores, from TOKENCTL_STORE_PASSPHRASE or, for secrets mounted as
 * files (Docker, Kubernetes, systemd credentials), TOKENCTL_STORE_PASSPHRASE_FILE. The direct
 * variable wins when both are set; passphraseSource says which one was used.
 */

export const PASSPHRASE_VARIABLE = 'TOKENCTL_STORE_PASSPHRASE'
export const PASSPHRASE_FILE_VARIABLE = 'TOKENCTL_STORE_PASSPHRASE_FILE'

export type PassphraseSource = {file: string; variable: typeof PASSPHRASE_FILE_VARIABLE} | {variable: typeof PASSPHRASE_VARIABLE}

/** Where the passphrase would come from, for `store status`; never the passphrase itself. */
export function passphraseSource(env: NodeJS.ProcessEnv = process.env): PassphraseSource | undefined {
  // An empty variable counts as unset: an empty passphrase would encrypt with no secret at all.
  if (env[PASSPHRASE_VARIABLE]) return {variable: PASSPHRASE_VARIABLE}
  const file = env[PASSPHRASE_FILE_VARIABLE]
  if (file) return {file, variable: PASSPHRASE_FILE_VARIABLE}
  return undefined
}

/** The passphrase, or undefined when none is configured (the caller decides whether that is an error). */
export function resolvePassphrase(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const source = passphraseSource(env)
  if (source === undefined) return undefined
  if (source.variable === PASSPHRASE_VARIABLE) return env[PASSPHRASE_VARIABLE]

  let text: string | undefined
  try {
    text = readAtMostSync(source.file)?.toString('utf8')
  } catch (error) {
    throw unreadableSecretFile(error, {code: 'store_error', file: source.file, fileVariable: PASSPHRASE_FILE_VARIABLE, secret: 'passphrase', variable: PASSPHRASE_VARIABLE})
  }

  if (text === undefined) {
    throw new StoreError(`the store passphrase file ${source.file} (${PASSPHRASE_FILE_VARIABLE}) holds more than 64 KiB: a passphrase is one line`, 'store_error', {
      suggestions: [`point ${PASSPHRASE_FILE_VARIABLE} at the file that holds the passphrase`],
    })
  }

  const passphrase = chompLineEnding(text)
  if (passphrase === '') {
    throw new StoreError(`the store passphrase file ${source.file} (${PASSPHRASE_FILE_VARIABLE}) is empty`, 'store_error', {
      suggestions: [`write the passphrase into ${source.file}`],
    })
  }

  return passphrase
}

/** The store's secret file (passphrase or key) could not be read: why, and what fits the failure (a secret manager's mount that is not there is the usual case). */
export function unreadableSecretFile(
  error: unknown,
  {code, file, fileVariable, secret, variable}: {code: 'store_error' | 'store_invalid_key'; file: string; fileVariable: string; secret: string; variable: string},
): StoreError {
  const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
  return new StoreError(`cannot read the store ${secret} file ${file} (${fileVariable}): ${unreadableReason(error)}`, code, {
    cause: error,
    suggestions: [
      error instanceof NotRegularFileError
        ? `point ${fileVariable} at the regular file that holds the ${secret}`
        : missing
          ? `check the path in ${fileVariable}: the file your secret manager mounts must be there when tokenctl runs (or set ${variable} instead)`
          : `let this user read ${file}, or set ${variable} instead`,
    ],
  })
}
