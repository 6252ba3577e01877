/**
 * A token may name or carry a key in its header (`jwk`, `jku`, `x5c`, `x5u`, RFC 7515 §4.1). Whoever
 * forged the token chose that key, so it proves nothing: a web API verifies with its issuer's keys
 * only (Microsoft.Identity.Web takes them from the issuer's metadata), and so does `token verify`.
 * The key in the header is never used nor fetched; the signature line says it was ignored.
 */
import type {Check} from './checks.js'

const KEY_PARAMETERS = ['jwk', 'jku', 'x5c', 'x5u'] as const

/** The header parameters that carry or point to a key, in RFC 7515's order. */
export function embeddedKeyParameters(header: Record<string, unknown>): string[] {
  return KEY_PARAMETERS.filter((name) => header[name] !== undefined)
}

/** The signature line, saying that a key the header carries played no part in it. */
export function noteEmbeddedKeys(check: Check, header: Record<string, unknown>): Check {
  const carried = embeddedKeyParameters(header)
  if (carried.length === 0) return check
  const what = `the header's own key (${carried.join(', ')})`
  const detail =
    check.status === 'failed'
      ? `${check.detail}; ${what} was not used: a token cannot vouch for itself, only the issuer's JWKS can`
      : `${check.detail}; ${what} was ignored: only the issuer's JWKS is trusted`
  return {...check, detail}
}
