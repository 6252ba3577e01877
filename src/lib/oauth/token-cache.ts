import {createHash} from 'node:crypto'

import type {Hooks} from '../http/context.js'
import type {SecretStore} from '../store/types.js'
import {type AccessToken, isUsable, isWellFormed, type TokenResult} from './token.js'

/**
 * Tokens are secrets, so the cache lives in the secure store, one entry per key. The key is a hash
 * of everything that makes two tokens interchangeable; it never contains a secret or an assertion
 * (an assertion enters only as its own SHA-256).
 */
export interface CacheKeyParts {
  audience: string[]
  clientId: string
  /** DPoP: the thumbprint of the key the tokens are bound to (a token bound to another key is no use). */
  dpopJkt?: string
  /** On-behalf-of only: the two flavors answer the same request differently. */
  flavor?: string
  grant: string
  params: Array<[string, string]>
  resources: string[]
  scopes: string[]
  /** The token endpoint, or the issuer when the endpoint comes from discovery (it determines it). */
  server: string
  /** SHA-256 of the subject/assertion for OBO. */
  subject?: string
}

export interface CacheOptions {
  /** Skip the cache read (the new token is still written). */
  force?: boolean
  minTtlSeconds?: number
  /** Neither read nor write the cache; no store is opened for it. */
  noCache?: boolean
}

export function cacheKey(parts: CacheKeyParts): string {
  const canonical = JSON.stringify([
    parts.server,
    parts.clientId,
    parts.grant,
    [...parts.scopes].sort(),
    [...parts.resources].sort(),
    [...parts.audience].sort(),
    [...parts.params].sort(([a], [b]) => a.localeCompare(b)),
    parts.subject ?? null,
    parts.flavor ?? null,
    parts.dpopJkt ?? null,
  ])
  return createHash('sha256').update(canonical).digest('hex')
}

const TOKEN_PREFIX = 'token:'
export const tokenEntry = (key: string): string => `${TOKEN_PREFIX}${key}`

/** A cached entry as a token, or undefined when it is not one tokenctl accepts. */
function parseCached(text: string | undefined): AccessToken | undefined {
  if (!text) return undefined
  try {
    const token = JSON.parse(text) as AccessToken
    // An entry that is not a token tokenctl accepts (foreign, damaged: an expiry out of range, CR/LF) is a miss too.
    return isWellFormed(token) ? token : undefined
  } catch {
    return undefined // an unreadable entry is a miss; the next write replaces it
  }
}

/**
 * A usable cached token, or one fetched by exactly one process: concurrent callers for the same
 * key serialize on the store's lock, and whoever waited reads what the first one wrote.
 * Failures are never cached: fetch() throwing leaves the entry as it was.
 */
export async function cachedOrFetched(openStore: () => Promise<SecretStore>, key: string, options: CacheOptions, fetch: () => Promise<AccessToken>, hooks: Hooks = {}): Promise<TokenResult> {
  if (options.noCache) return {source: 'identity_provider', token: await fetch()}
  const store = await openStore()
  const name = tokenEntry(key)
  const cached = async () => {
    const token = options.force ? undefined : parseCached(await store.get(name))
    return token && isUsable(token, options.minTtlSeconds) ? token : undefined
  }

  const hit = await cached()
  if (hit) return {source: 'cache', token: hit}
  return store.withLock(
    name,
    async () => {
      const filled = await cached()
      if (filled) return {source: 'cache', token: filled}
      const token = await fetch()
      // Written with its lifetime: the store drops it once expired, as it writes later entries.
      if (token.expires_at !== undefined) await store.set(name, JSON.stringify(token), {expiresAt: token.expires_at})
      return {source: 'identity_provider', token}
    },
    {onWait: () => hooks.progress?.({message: 'waiting for another tokenctl fetching the same token', state: 'waiting'})},
  )
}
