import {resolveConnection} from '../config/connection.js'
import {readSecret} from '../config/secrets.js'
import {UsageError} from '../errors.js'
import type {TokenSource} from '../http/call.js'
import type {Runtime} from '../runtime.js'
import {clientCredentialsToken} from './client-credentials.js'
import {refreshSession} from './sessions.js'
import {isB64Token} from './token.js'

export interface TokenSourceFlags {
  client?: string
  session?: string
  'token-env'?: string
  'token-stdin'?: boolean
}

/**
 * The token a `call` attaches: a named client (client credentials, cached), a session (the
 * `session refresh` rules), or a token handed in from outside. Only the first two can be renewed.
 */
export function tokenSourceOf(flags: TokenSourceFlags, runtime: Runtime): TokenSource {
  const given = (['client', 'session', 'token-env', 'token-stdin'] as const).filter((name) => flags[name])
  if (given.length !== 1) {
    throw new UsageError(
      `${given.length === 0 ? 'no token source' : `one token source, not ${given.length}`}: pass exactly one of --client NAME, --session-key KEY, --token-env VAR, --token-stdin`,
    )
  }

  if (flags.client) {
    const connection = resolveConnection(flags.client, {})
    const get = async (force: boolean) => (await clientCredentialsToken(connection, {force}, runtime)).token.access_token
    return {renew: () => get(true), token: () => get(false)}
  }

  if (flags.session) {
    const key = flags.session
    const get = async (force: boolean) => (await refreshSession(key, {force}, runtime)).result.token.access_token
    return {renew: () => get(true), token: () => get(false)}
  }

  const source = flags['token-env'] ? ({kind: 'env', variable: flags['token-env']} as const) : ({kind: 'stdin'} as const)
  const flag = flags['token-env'] ? '--token-env' : '--token-stdin'
  return {
    async token() {
      const token = (await readSecret(source, 'the token')).trim()
      if (!isB64Token(token)) {
        throw new UsageError(`the token from ${flag} has characters outside RFC 6750's token syntax (a space, a line break, a control character)`, 'usage_error', {
          suggestions: ['pass the access token alone, without "Bearer " or anything around it'],
        })
      }

      return token
    },
  }
}
