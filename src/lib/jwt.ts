/**
 * Reading (never verifying) JWTs. tokenctl only looks inside tokens to show them and to learn an
 * expiry a server did not state; whoever consumes a token verifies it.
 */

export interface DecodedJwt {
  header: Record<string, unknown>
  payload: Record<string, unknown>
  signature: string
}

function decodeSegment(segment: string): Record<string, unknown> | undefined {
  if (!/^[\w-]+$/.test(segment)) return undefined
  try {
    const value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as unknown
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** A JWS in compact form (three segments, JSON header and payload), or undefined. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.trim().split('.')
  if (parts.length !== 3) return undefined
  const header = decodeSegment(parts[0])
  const payload = decodeSegment(parts[1])
  if (!header || !payload) return undefined
  return {header, payload, signature: parts[2]}
}

export function decodeJwtClaims(token: string): Record<string, unknown> | undefined {
  return decodeJwt(token)?.payload
}
