import {open} from 'node:fs/promises'

import {ConfigError, messageOf, UsageError} from '../errors.js'
import {isSharedStore} from '../store/index.js'
import type {SecretStore} from '../store/types.js'
import type {Connection, SecretSource} from './connection.js'

/** How the client proves who it is at the token endpoint. Never logged, never written to config. */
export type ClientCredential =
  | {alg?: string; keyFile: string; keyId?: string; keyText: string; kind: 'private_key'}
  | {kind: 'none'}
  | {kind: 'secret'; secret: string}

export const clientSecretEntry = (clientName: string): string => `client-secret:${clientName}`

/** Strips the one line ending that `echo` or a text editor adds; a secret never ends in one. */
function chompLineEnding(text: string): string {
  return text.replace(/\r?\n$/, '')
}

/**
 * The most tokenctl reads of a secret, a key or a token (stdin, a file, a variable). A token is a few
 * KB, an Entra token with many groups ~10 KB, a PEM key ~3 KB: anything larger is the wrong input,
 * and reading it whole (10 MB of "assertion") would cost hundreds of MB on its way to a request.
 */
export const MAX_SECRET_BYTES = 64 * 1024

function tooLarge(what: string, where: string): UsageError {
  return new UsageError(`${what}: ${where} holds more than 64 KiB, the most tokenctl reads for a secret or a token (a few KB)`, 'input_too_large', {
    suggestions: ['check that the right file or command feeds it'],
  })
}

export async function readStdin(what: string): Promise<string> {
  if (process.stdin.isTTY) {
    throw new UsageError(`${what}: stdin is a terminal; pipe the value in (for example: printf %s "$SECRET" | tokenctl …)`)
  }

  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length
    // Leaving the loop destroys stdin: the rest is never read.
    if (size > MAX_SECRET_BYTES) throw tooLarge(what, 'stdin')
    chunks.push(chunk as Buffer)
  }

  const text = chompLineEnding(Buffer.concat(chunks).toString('utf8'))
  if (text === '') throw new UsageError(`${what}: stdin was empty`)
  return text
}

/** At most MAX_SECRET_BYTES + 1 bytes of a file (a FIFO or /dev/stdin too): enough to tell it is too large. */
async function readBounded(path: string): Promise<Buffer | undefined> {
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.alloc(MAX_SECRET_BYTES + 1)
    let length = 0
    while (length < buffer.length) {
      const {bytesRead} = await handle.read(buffer, length, buffer.length - length, null)
      if (bytesRead === 0) break
      length += bytesRead
    }

    return length > MAX_SECRET_BYTES ? undefined : buffer.subarray(0, length)
  } finally {
    await handle.close()
  }
}

async function readSecretFile(path: string, what: string): Promise<string> {
  let bytes: Buffer | undefined
  try {
    bytes = await readBounded(path)
  } catch (error) {
    throw new ConfigError(`cannot read ${what} ${path}: ${messageOf(error)}`)
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
      if (Buffer.byteLength(value) > MAX_SECRET_BYTES) throw tooLarge(what, `the environment variable ${source.variable}`)
      return value
    }

    case 'file': {
      return readSecretFile(source.path, what)
    }

    case 'stdin': {
      return readStdin(what)
    }
  }
}

/**
 * The client's credential, from (in order) the flag's source, the secure store, TOKENCTL_CLIENT_SECRET.
 * Only called when a request is really about to be made: a cache hit needs no secret.
 */
export async function resolveCredential(connection: Connection, openStore: () => Promise<SecretStore>): Promise<ClientCredential> {
  if (connection.authMethod === 'none') return {kind: 'none'}
  if (connection.authMethod === 'private_key_jwt') {
    const keyFile = connection.privateKeyFile!
    return {
      alg: connection.alg,
      keyFile,
      keyId: connection.keyId,
      keyText: await readSecretFile(keyFile, 'the private key file'),
      kind: 'private_key',
    }
  }

  if (connection.secretSource) return {kind: 'secret', secret: await readSecret(connection.secretSource, 'client secret')}
  // A shared store (Redis) may hold the secret of a client whose local entry was added without one,
  // on a host where another host stored it.
  if (connection.clientName && (connection.hasStoredSecret || isSharedStore())) {
    const stored = await (await openStore()).get(clientSecretEntry(connection.clientName))
    if (stored) return {kind: 'secret', secret: stored}
  }

  const fromEnvironment = process.env.TOKENCTL_CLIENT_SECRET
  if (fromEnvironment) return {kind: 'secret', secret: fromEnvironment}
  const who = connection.clientName ? `client "${connection.clientName}"` : `client id ${connection.clientId}`
  throw new ConfigError(`no client secret for ${who}`, 'no_secret', {
    suggestions: [
      'pass --client-secret-env VAR, --client-secret-stdin or --client-secret-file PATH, store one with tokenctl client add, or set TOKENCTL_CLIENT_SECRET',
    ],
  })
}
