import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'

import {secureUrl} from '../config/urls.js'
import {ConfigError, NetworkError} from '../errors.js'
import {homePath} from '../paths.js'
import {writePrivateFile} from '../private-files.js'
import {type GrantKind, translateOAuthError} from './errors.js'
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

async function readCached(issuer: URL): Promise<ServerMetadata | undefined> {
  try {
    const cached = JSON.parse(await readFile(cachePath(issuer), 'utf8')) as CachedMetadata
    if (Date.now() - cached.fetchedAt < METADATA_TTL_MS && cached.metadata?.issuer) return cached.metadata
  } catch {
    // missing or unreadable: discover again
  }

  return undefined
}

async function writeCached(issuer: URL, metadata: ServerMetadata): Promise<void> {
  await writePrivateFile(cachePath(issuer), JSON.stringify({fetchedAt: Date.now(), metadata} satisfies CachedMetadata))
}

/** Every endpoint we may call must pass the same https-or-loopback rule as the issuer. */
function checkEndpoints(metadata: ServerMetadata): void {
  for (const name of ['token_endpoint', 'revocation_endpoint', 'device_authorization_endpoint'] as const) {
    const value = metadata[name]
    if (typeof value === 'string') secureUrl(value, `the discovered ${name}`)
  }
}

async function discover(issuer: URL, http: HttpContext): Promise<ServerMetadata> {
  const client = await import('openid-client')
  const grant: GrantKind = 'discovery'
  const attempt = async (algorithm: 'oauth2' | 'oidc') =>
    http.retrying(async () => {
      try {
        const config = await client.discovery(issuer, 'tokenctl-discovery', undefined, client.None(), {
          [client.customFetch]: await http.fetch(),
          algorithm,
          execute: issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [],
          timeout: http.timeoutSeconds,
        })
        return {...config.serverMetadata()} as ServerMetadata
      } catch (error) {
        throw await translateOAuthError(error, {grant, host: issuer.host, timeoutSeconds: http.timeoutSeconds})
      }
    })

  try {
    return await attempt('oidc')
  } catch (error) {
    if (!(error instanceof NetworkError) || error.code !== 'invalid_response') throw error
  }

  try {
    return await attempt('oauth2')
  } catch (error) {
    if (!(error instanceof NetworkError) || error.code !== 'invalid_response') throw error
    throw new ConfigError(`no discovery document at ${issuer.href} (${error.message})`, 'config_error', {
      suggestions: ['check --issuer, or pass --token-endpoint to skip discovery'],
    })
  }
}

/** Discovery metadata, from TOKENCTL_HOME's cache while it is younger than 24 h. */
export async function serverMetadata(issuer: URL, http: HttpContext): Promise<ServerMetadata> {
  const cached = await readCached(issuer)
  if (cached) return cached
  const metadata = await discover(issuer, http)
  checkEndpoints(metadata)
  await writeCached(issuer, metadata)
  return metadata
}
