import {access, constants} from 'node:fs/promises'

import {chompLineEnding, MAX_INPUT_BYTES, NotRegularFileError, readAtMost, readStreamAtMost, unreadableReason} from '../bounded-read.js'
import {ConfigError, UsageError} from '../errors.js'
import {isSharedStore} from '../store/index.js'
import type {SecretStore} from '../store/types.js'
import {certificateMaterial, type LoadedCertificate, loadCertificateMaterial, readCertificateFile} from './certificates.js'
import type {Connection} from './connection.js'
import {
  clientCredentialEntry,
  clientSecretEntry,
  type CredentialMaterial,
  type CredentialSource,
  type FederatedTokenSource,
  federatedSourceText,
  GITHUB_TOKEN_REQUEST_TOKEN,
  GITHUB_TOKEN_REQUEST_URL,
  type PresentedClaims,
  type SecretSource,
} from './credentials.js'

export {clientSecretEntry} from './credentials.js'

/** How the client proves who it is at the token endpoint, ready to use. Never logged, never written to config. */
export type ClientCredential =
  {certificate: LoadedCertificate; kind: 'certificate'; label: string} | {keyText: string; kind: 'private_key'; label: string} | {kind: 'none'} | {kind: 'secret'; secret: string} | FederatedCredential

/**
 * A federated token's source: the token is read for every request (oauth/federated.ts), never held
 * here. `presented` is what the token last sent presented, for the advice when the server refuses it.
 */
export interface FederatedCredential {
  kind: 'federated'
  label: string
  presented?: PresentedClaims
  source: FederatedTokenSource
}

function tooLarge(what: string, where: string): UsageError {
  return new UsageError(`${what}: ${where} holds more than 64 KiB, the most tokenctl reads for a secret or a token (a few KB)`, 'input_too_large', {
    suggestions: ['check that the right file or command feeds it'],
  })
}

/** At most 64 KiB of stdin, one line ending chomped; `example` shows how to pipe the value in. */
export async function readStdin(what: string, example = 'printf %s "$SECRET" | tokenctl …', stdin: AsyncIterable<unknown> & {isTTY?: boolean} = process.stdin): Promise<string> {
  if (stdin.isTTY) throw new UsageError(`${what}: stdin is a terminal; pipe the value in (for example: ${example})`)
  const bytes = await readStreamAtMost(stdin as AsyncIterable<Uint8Array>)
  if (bytes === undefined) throw tooLarge(what, 'stdin')
  const text = chompLineEnding(bytes.toString('utf8'))
  if (text === '') throw new UsageError(`${what}: stdin was empty`)
  return text
}

/**
 * A file input that cannot be read (exit 3). A FIFO, a device or a directory is refused before any
 * read (bounded-read.ts); `advice` says what to give instead.
 */
export function unreadableFile(what: string, path: string, error: unknown, advice = 'name a regular file'): ConfigError {
  if (!(error instanceof NotRegularFileError)) return new ConfigError(`cannot read ${what} ${path}: ${unreadableReason(error)}`)
  return new ConfigError(`cannot read ${what} ${path}: ${error.message}`, 'not_regular_file', {suggestions: [advice]})
}

export async function readSecretFile(path: string, what: string, advice?: string): Promise<string> {
  let bytes: Buffer | undefined
  try {
    bytes = await readAtMost(path)
  } catch (error) {
    throw unreadableFile(what, path, error, advice)
  }

  if (bytes === undefined) throw tooLarge(what, path)
  const text = chompLineEnding(bytes.toString('utf8'))

  if (text === '') throw new ConfigError(`${what} ${path} is empty`, 'no_secret')
  return text
}

/** Reads a secret from where a flag says it is: an environment variable, a file, or stdin. */
export async function readSecret(source: SecretSource, what: string): Promise<string> {
  switch (source.kind) {
    case 'env': {
      const value = process.env[source.variable]
      if (!value) throw new ConfigError(`${what}: the environment variable ${source.variable} is not set`, 'no_secret')
      if (Buffer.byteLength(value) > MAX_INPUT_BYTES) throw tooLarge(what, `the environment variable ${source.variable}`)
      return value
    }

    case 'file': {
      // What a command prints (`<(vault read …)`) is a pipe: stdin and a variable take it.
      return readSecretFile(source.path, what, 'name a regular file, or pass the value on stdin or in an environment variable (the -stdin and -env flags)')
    }

    case 'stdin': {
      return readStdin(what)
    }
  }
}

/** A credential given for this run, read (and, for a certificate, checked) now. */
export async function readCredentialSource(source: CredentialSource): Promise<ClientCredential> {
  switch (source.kind) {
    case 'certificate': {
      return {certificate: await readCertificateFile(source.file, source.passwordVariable), kind: 'certificate', label: source.file}
    }

    case 'private_key': {
      return {keyText: await readSecretFile(source.file, 'the private key file'), kind: 'private_key', label: source.file}
    }

    case 'secret': {
      return {kind: 'secret', secret: await readSecret(source.from, 'client secret')}
    }

    case 'federated': {
      // The token itself is read for every request, never now: only that it can be is checked.
      await assertFederatedSourceAvailable(source.from)
      return {kind: 'federated', label: federatedSourceText(source.from), source: source.from}
    }
  }
}

/**
 * A federated source that cannot give a token is missing configuration (exit 3), said before any
 * request is made: an unset variable, a file that is not there, a GitHub job without the runner's
 * OIDC variables (which it has only with `permissions: id-token: write`).
 */
export async function assertFederatedSourceAvailable(source: FederatedTokenSource): Promise<void> {
  switch (source.kind) {
    case 'env': {
      if (process.env[source.variable]) return
      throw new ConfigError(`no federated token: the environment variable ${source.variable} is not set`, 'no_federated_token', {
        suggestions: [`set ${source.variable} to the JWT your CI issues to the job (GitLab: an id_tokens: entry of that name)`],
      })
    }

    case 'file': {
      try {
        await access(source.path, constants.R_OK)
        return
      } catch (error) {
        throw new ConfigError(`no federated token: cannot read ${source.path} (${unreadableReason(error)})`, 'no_federated_token', {
          suggestions: ['point --federated-token-file at the projected service-account token (AKS: $AZURE_FEDERATED_TOKEN_FILE), as the pod mounts it'],
        })
      }
    }

    case 'github': {
      const missing = [GITHUB_TOKEN_REQUEST_URL, GITHUB_TOKEN_REQUEST_TOKEN].filter((name) => !process.env[name])
      if (missing.length === 0) return
      throw new ConfigError(`no federated token from the GitHub Actions runner: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set`, 'no_federated_token', {
        suggestions: ['add `permissions: id-token: write` to the workflow or the job: the runner sets these variables only then'],
      })
    }
  }
}

/** The secret part of a credential, as the secure store keeps it; a federated source has none (its location is kept). */
export function materialOf(credential: Exclude<ClientCredential, FederatedCredential | {kind: 'none'}>): CredentialMaterial {
  switch (credential.kind) {
    case 'certificate': {
      return {kind: 'certificate', ...certificateMaterial(credential.certificate)}
    }

    case 'private_key': {
      return {key: credential.keyText, kind: 'private_key'}
    }

    case 'secret': {
      return {kind: 'secret', secret: credential.secret}
    }
  }
}

/** A kept credential, ready to use; `owner` names it in messages ("client \"ci\"", "session \"nightly\""). */
export function fromMaterial(material: CredentialMaterial, owner: string): ClientCredential {
  switch (material.kind) {
    case 'certificate': {
      return {certificate: loadCertificateMaterial(material, `the certificate of ${owner}`), kind: 'certificate', label: `the certificate of ${owner}`}
    }

    case 'private_key': {
      return {keyText: material.key, kind: 'private_key', label: `the private key of ${owner}`}
    }

    case 'secret': {
      return {kind: 'secret', secret: material.secret}
    }
  }
}

function notInStore(clientName: string): ConfigError {
  return new ConfigError(`the credential of client "${clientName}" is not in the secure store`, 'no_secret', {
    suggestions: [`add the client again with its credential: tokenctl client add ${clientName} --replace …`],
  })
}

const isText = (value: unknown): value is string => typeof value === 'string' && value !== ''

/** The stored entry as tokenctl writes it; anything else (damaged, written by hand) is said so, not a crash. */
function storedMaterial(text: string, clientName: string): CredentialMaterial {
  let material: unknown
  try {
    material = JSON.parse(text)
  } catch {
    material = undefined
  }

  const entry = (typeof material === 'object' && material !== null ? material : {}) as Record<string, unknown>
  const whole =
    (entry.kind === 'private_key' && isText(entry.key)) ||
    (entry.kind === 'secret' && isText(entry.secret)) ||
    (entry.kind === 'certificate' && isText(entry.key) && Array.isArray(entry.certificates) && entry.certificates.length > 0 && entry.certificates.every(isText))
  if (whole) return entry as CredentialMaterial
  throw new ConfigError(`the credential of client "${clientName}" in the secure store is damaged (not what tokenctl writes)`, 'config_error', {
    suggestions: [`add the client again with its credential: tokenctl client add ${clientName} --replace …`],
  })
}

/** A named client's stored credential; undefined when it has none stored (and no shared store holds one). */
async function namedClientCredential(location: Extract<Connection['credential'], {kind: 'named_client'}>, openStore: () => Promise<SecretStore>): Promise<ClientCredential | undefined> {
  const {name, stored} = location
  if (location.source) return readCredentialSource(location.source)
  if (stored === 'certificate' || stored === 'private_key') {
    const text = await (await openStore()).get(clientCredentialEntry(name))
    if (text === undefined) throw notInStore(name)
    return fromMaterial(storedMaterial(text, name), `client "${name}"`)
  }

  // A shared store (Redis) may hold the secret of a client whose local entry was added without one,
  // on a host where another host stored it.
  if (stored === 'secret' || isSharedStore()) {
    const secret = await (await openStore()).get(clientSecretEntry(name))
    if (secret !== undefined) return {kind: 'secret', secret}
  }

  return undefined
}

const credentials = new WeakMap<Connection, Promise<ClientCredential>>()

/**
 * The client's credential, from where the connection says it is (see config/credentials.ts), read at
 * most once per connection: a secret from stdin can be read only once, and a session keeps what its
 * first request used. Only called when a request is really about to be made: a cache hit needs no secret.
 */
export function resolveCredential(connection: Connection, openStore: () => Promise<SecretStore>): Promise<ClientCredential> {
  let credential = credentials.get(connection)
  if (!credential) {
    credential = readCredential(connection, openStore)
    credentials.set(connection, credential)
  }

  return credential
}

async function readCredential(connection: Connection, openStore: () => Promise<SecretStore>): Promise<ClientCredential> {
  const location = connection.credential
  switch (location.kind) {
    case 'given': {
      return readCredentialSource(location.source)
    }

    case 'kept': {
      return fromMaterial(location.material, `session "${location.session}"`)
    }

    case 'none': {
      return {kind: 'none'}
    }

    case 'named_client': {
      const stored = await namedClientCredential(location, openStore)
      if (stored) return stored
      break
    }

    case 'environment': {
      break
    }
  }

  const fromEnvironment = process.env.TOKENCTL_CLIENT_SECRET
  if (fromEnvironment) return {kind: 'secret', secret: fromEnvironment}
  const who = connection.clientName ? `client "${connection.clientName}"` : `client id ${connection.clientId}`
  throw new ConfigError(`no client secret for ${who}`, 'no_secret', {
    suggestions: ['pass --client-secret-env VAR, --client-secret-stdin or --client-secret-file PATH, store one with tokenctl client add, or set TOKENCTL_CLIENT_SECRET'],
  })
}
