/**
 * What Microsoft Entra ID does that explains a refused token: its two issuer shapes (v1.0
 * `https://sts.windows.net/{tenant}/`, v2.0 `https://login.microsoftonline.com/{tenant}/v2.0`), an
 * app addressed both by its client id and its app ID URI (`api://{client id}` by default), and
 * Microsoft Graph's own tokens. Pure functions: nothing here talks to a server.
 */

const GUID = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i

export interface IssuerShape {
  tenant: string
  version: '1.0' | '2.0'
}

/**
 * The Entra version an issuer's shape says: `…/{tenant id}/v2.0` is v2.0, `…/{tenant id}/` is v1.0
 * (`https://sts.windows.net/{tid}/` in the public cloud). Judged by the path, so that national clouds
 * and test servers are recognised alike; a tenant id must be a GUID.
 */
export function issuerShape(issuer: string): IssuerShape | undefined {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    return undefined
  }

  const match = /^\/([^/]+)\/(v2\.0)?$/.exec(url.pathname)
  if (!match || !GUID.test(match[1])) return undefined
  return {tenant: match[1].toLowerCase(), version: match[2] ? '2.0' : '1.0'}
}

/** Why `iss` differs from the issuer in Entra's terms, or undefined when Entra explains nothing. */
export function explainIssuerMismatch(tokenIssuer: string, expected: string): string | undefined {
  const got = issuerShape(tokenIssuer)
  const want = issuerShape(expected)
  if (!got || !want) return undefined
  if (got.tenant !== want.tenant) return `the token was issued by tenant ${got.tenant}, the issuer given is tenant ${want.tenant}`
  if (got.version === want.version) return undefined
  const manifest = "Entra issues v1.0 or v2.0 access tokens as the web API's app registration says (manifest: accessTokenAcceptedVersion null or 1 → v1.0, 2 → v2.0)"
  return got.version === '1.0'
    ? `a v1.0 token checked against the v2.0 issuer: ${manifest}; set it to 2, or verify with --issuer ${tokenIssuer}`
    : `a v2.0 token checked against the v1.0 issuer: ${manifest}; verify with --issuer ${tokenIssuer}, or set it to 1 (null) if the API expects v1.0`
}

const APP_ID_URI = /^api:\/\/([^/]+)$/

/**
 * The other name of the same Entra app: `api://{client id}` (the default app ID URI) for a client id,
 * and the reverse. A custom app ID URI (`https://contoso.com/api`) has no name tokenctl can infer:
 * give both as --audience.
 */
export function otherAppName(audience: string): string | undefined {
  const match = APP_ID_URI.exec(audience)
  if (match) return match[1]
  return /^[\w.-]+$/.test(audience) ? `api://${audience}` : undefined
}

/**
 * The audiences a web API accepts when its configuration names none: Microsoft.Identity.Web's
 * defaults, its client id and `api://{client id}` (the default app ID URI).
 */
export function webApiAudiences(clientId: string): string[] {
  return [clientId, `api://${clientId}`]
}

/** Microsoft Graph's client id and URI, as they appear in `aud`. */
const GRAPH_AUDIENCES = new Set(['00000003-0000-0000-c000-000000000000', 'https://graph.microsoft.com', 'https://graph.microsoft.com/'])

export function isGraphAudience(audience: string): boolean {
  return GRAPH_AUDIENCES.has(audience.toLowerCase())
}

/**
 * Entra signs tokens for Microsoft Graph over a hash of the `nonce` in their header, so no one but
 * Graph can check the signature; such a token is not addressed to any other API either.
 */
export const GRAPH_TOKEN_EXPLANATION =
  'the header carries a nonce: a token for Microsoft Graph, whose signature only Graph can verify (Entra signs a hash of the nonce) — ' +
  "not a token for your API, and not an assertion your API can exchange on-behalf-of; ask for your API's scope (api://{client id}/access_as_user) instead"
