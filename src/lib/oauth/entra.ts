/**
 * How tokenctl recognises Microsoft Entra ID, which differs from other servers in two places: its
 * on-behalf-of is the jwt-bearer flavor, and it refuses a client assertion whose `aud` is not its
 * token endpoint.
 */

/** Entra's sign-in hosts, public and national clouds. */
export const MICROSOFT_LOGIN_HOSTS = new Set([
  'login.chinacloudapi.cn',
  'login.microsoftonline.com',
  'login.microsoftonline.de',
  'login.microsoftonline.us',
  'login.partner.microsoftonline.cn',
  'login.windows.net',
  'sts.windows.net',
])

export function isMicrosoftLoginHost(host: string | undefined): boolean {
  return host !== undefined && MICROSOFT_LOGIN_HOSTS.has(host.toLowerCase())
}

/** Entra's v2 and v1 token endpoints, wherever they are served (a national cloud, a proxy, a test server). */
const ENTRA_TOKEN_PATH = /\/oauth2(\/v2\.0)?\/token$/

/** An Entra token endpoint: on one of its hosts, or at one of its paths. */
export function isEntraTokenEndpoint(tokenEndpoint: URL): boolean {
  return isMicrosoftLoginHost(tokenEndpoint.hostname) || ENTRA_TOKEN_PATH.test(tokenEndpoint.pathname)
}
