import {secureUrl} from '../config/urls.js'
import {documentPath, isFresh, readDocument, writeDocument} from '../document-cache.js'
import {ConfigError} from '../errors.js'
import type {HttpContext} from '../http/context.js'

/** The parts of RFC 8414 / OIDC discovery metadata tokenctl uses (the whole document is cached). */
export interface ServerMetadata {
  [key: string]: unknown
  device_authorization_endpoint?: string
  grant_types_supported?: string[]
  issuer: string
  revocation_endpoint?: string
  token_endpoint?: string
}

/** The token endpoint the metadata names, under the same https-or-loopback rule as every endpoint (exit 3 without one). */
export function tokenEndpointOf(metadata: ServerMetadata): URL {
  if (!metadata.token_endpoint) {
    throw new ConfigError(`the authorization server ${metadata.issuer} advertises no token endpoint`, 'config_error', {
      suggestions: ['pass --token-endpoint URL'],
    })
  }

  return secureUrl(metadata.token_endpoint, 'the token endpoint')
}

interface CachedMetadata {
  fetchedAt: number
  metadata: ServerMetadata
}

async function readEntry(issuer: URL): Promise<CachedMetadata | undefined> {
  const cached = (await readDocument(documentPath('metadata', issuer.href))) as CachedMetadata | undefined
  return typeof cached?.metadata?.issuer === 'string' ? cached : undefined
}

async function readCached(issuer: URL): Promise<ServerMetadata | undefined> {
  const cached = await readEntry(issuer)
  return cached && isFresh(cached.fetchedAt) ? cached.metadata : undefined
}

async function writeCached(issuer: URL, metadata: ServerMetadata): Promise<void> {
  await writeDocument(documentPath('metadata', issuer.href), {fetchedAt: Date.now(), metadata} satisfies CachedMetadata)
}

/** Discovery metadata, from TOKENCTL_HOME's cache while it is younger than 24 h. */
export async function serverMetadata(issuer: URL, http: HttpContext): Promise<ServerMetadata> {
  const cached = await readCached(issuer)
  if (cached) return cached
  // Loaded only on a miss: the cache-hit paths that read this module never pay for openid-client.
  const {discover} = await import('./discovery.js')
  const metadata = await discover(issuer, http)
  await writeCached(issuer, metadata)
  return metadata
}

/**
 * The last metadata discovered for an issuer, whatever its age, without any request: enough to know
 * what the server supports on a token-cache hit, which must send nothing. A miss discovers anyway.
 */
export async function lastKnownMetadata(issuer: URL): Promise<ServerMetadata | undefined> {
  return (await readEntry(issuer))?.metadata
}
