import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'

import {homePath} from '../paths.js'
import {writePrivateFile} from '../private-files.js'
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

interface CachedMetadata {
  fetchedAt: number
  metadata: ServerMetadata
}

const METADATA_TTL_MS = 24 * 60 * 60 * 1000

function cachePath(issuer: URL): string {
  const digest = createHash('sha256').update(issuer.href).digest('hex').slice(0, 32)
  return homePath('cache', 'metadata', `${digest}.json`)
}

async function readEntry(issuer: URL): Promise<CachedMetadata | undefined> {
  try {
    const cached = JSON.parse(await readFile(cachePath(issuer), 'utf8')) as CachedMetadata
    if (typeof cached.metadata?.issuer === 'string') return cached
  } catch {
    // missing or unreadable: discover again
  }

  return undefined
}

async function readCached(issuer: URL): Promise<ServerMetadata | undefined> {
  const cached = await readEntry(issuer)
  return cached && Date.now() - cached.fetchedAt < METADATA_TTL_MS ? cached.metadata : undefined
}

async function writeCached(issuer: URL, metadata: ServerMetadata): Promise<void> {
  await writePrivateFile(cachePath(issuer), JSON.stringify({fetchedAt: Date.now(), metadata} satisfies CachedMetadata))
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
