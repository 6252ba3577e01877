import {isMtlsMethod} from '../config/clients.js'
import {type Connection, resolveConnection} from '../config/connection.js'
import {readSecret, resolveCredential} from '../config/secrets.js'
import {UsageError} from '../errors.js'
import type {SenderBinding, SentToken, TokenSource} from '../http/call.js'
import type {Runtime} from '../runtime.js'
import {clientCredentialsToken, dpopOwnerOf} from './client-credentials.js'
import {refreshSession, type SessionResult} from './sessions.js'
import {type AccessToken, isB64Token} from './token.js'

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
    throw new UsageError(`${given.length === 0 ? 'no token source' : `one token source, not ${given.length}`}: pass exactly one of --client NAME, --session-key KEY, --token-env VAR, --token-stdin`)
  }

  if (flags.client) {
    const connection = resolveConnection(flags.client, {})
    const get = async (force: boolean) => sent((await clientCredentialsToken(connection, {force}, runtime)).token)
    return {binding: () => connectionBinding(connection, runtime), renew: () => get(true), token: () => get(false)}
  }

  if (flags.session) {
    const key = flags.session
    let latest: SessionResult | undefined
    const get = async (force: boolean) => {
      latest = await refreshSession(key, {force}, runtime)
      return sent(latest.result.token)
    }

    return {binding: async () => sessionBinding(latest!), renew: () => get(true), token: () => get(false)}
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

      return {token, type: 'Bearer'}
    },
  }
}

const sent = (token: AccessToken): SentToken => ({token: token.access_token, type: token.token_type === 'DPoP' ? 'DPoP' : 'Bearer'})

/** A named client's: its DPoP key (--dpop), its certificate when it authenticates with mutual TLS. */
async function connectionBinding(connection: Connection, runtime: Runtime): Promise<SenderBinding> {
  const binding: SenderBinding = {}
  if (connection.dpop) binding.dpop = await (await import('./dpop.js')).resourceProverFor(dpopOwnerOf(connection), runtime.openStore)
  if (isMtlsMethod(connection.authMethod)) {
    const {presentedCertificate} = await import('./grants.js')
    binding.certificate = presentedCertificate(connection, await resolveCredential(connection, runtime.openStore))
  }

  return binding
}

/** A session's: the DPoP key it keeps, the certificate its client presents. */
async function sessionBinding(result: SessionResult): Promise<SenderBinding> {
  return {certificate: await result.certificate?.(), dpop: await result.proofs?.()}
}
