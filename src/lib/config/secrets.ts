import {readFile} from 'node:fs/promises'

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

export async function readStdin(what: string): Promise<string> {
  if (process.stdin.isTTY) {
    throw new UsageError(`${what}: stdin is a terminal; pipe the value in (for example: printf %s "$SECRET" | tokenctl …)`)
  }

  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  const text = chompLineEnding(Buffer.concat(chunks).toString('utf8'))
  if (text === '') throw new UsageError(`${what}: stdin was empty`)
  return text
}

async function readSecretFile(path: string, what: string): Promise<string> {
  let text: string
  try {
    text = chompLineEnding(await readFile(path, 'utf8'))
  } catch (error) {
    throw new ConfigError(`cannot read ${what} ${path}: ${messageOf(error)}`)
  }

  if (text === '') throw new ConfigError(`${what} ${path} is empty`, 'no_secret')
  return text
}

/** Reads a secret from where a flag says it is: an environment variable, a file, or stdin. */
export async function readSecret(source: SecretSource, what: string): Promise<string> {
  switch (source.kind) {
    case 'env': {
      const value = process.env[source.variable]
      if (!value) throw new ConfigError(`${what}: the environment variable ${source.variable} is not set`, 'no_secret')
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
