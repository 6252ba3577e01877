/**
 * Workload identity federation: the client authenticates with a JWT that another identity provider
 * issued to this workload (GitHub Actions, a Kubernetes service account, GitLab CI), sent as its
 * client assertion (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`)
 * with `client_id` in the body: the token's `sub` names the workload, not the client. Microsoft
 * Entra matches the token's iss, sub and aud exactly against the app's federated credentials
 * (Microsoft's "Workload identity federation" documentation); Google and AWS do the same with their
 * own registrations.
 *
 * The token is read for every token request: openid-client calls a client authentication once per
 * request (and again for each retry, which re-runs the grant), and this one reads the source each
 * time — a GitHub token lives five minutes, the kubelet rewrites a projected token before it
 * expires. It is never cached, never logged (traces never show `client_assertion`, nor the runner's
 * `value`), never written anywhere; only its iss, sub, aud and exp are kept in memory, for the
 * advice when the server refuses it.
 */
import type {ClientAuth} from 'openid-client'

import {type FederatedTokenSource, GITHUB_TOKEN_REQUEST_TOKEN, GITHUB_TOKEN_REQUEST_URL, type PresentedClaims} from '../config/credentials.js'
import {assertFederatedSourceAvailable, type FederatedCredential, readSecret, readSecretFile} from '../config/secrets.js'
import {secureUrl} from '../config/urls.js'
import {ConfigError, type ErrorDetails, NetworkError} from '../errors.js'
import type {HttpContext} from '../http/context.js'
import {connectionFailure, type Destination, unavailable} from '../http/failure.js'
import {retriesStatus} from '../http/policy.js'
import {decodeJwt} from '../jwt.js'
import {JWT_BEARER_CLIENT_ASSERTION} from './urns.js'

/**
 * `federated` client authentication through openid-client's extension point (a ClientAuth is any
 * function that adds the client's credentials to the request body and headers).
 */
export function federatedClientAuth(credential: FederatedCredential, http: HttpContext): ClientAuth {
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- openid-client declares ClientAuth as returning void, yet awaits it (as its own PrivateKeyJwt, also async, needs)
  return async (_as, client, body) => {
    const token = await readFederatedToken(credential, http)
    body.set('client_id', client.client_id)
    body.set('client_assertion_type', JWT_BEARER_CLIENT_ASSERTION)
    body.set('client_assertion', token)
  }
}

/** A fresh federated token from its source, checked to be a JWT; its claims are noted for the advice on a refusal. */
export async function readFederatedToken(credential: FederatedCredential, http: HttpContext): Promise<string> {
  const {source} = credential
  const token = source.kind === 'github' ? await fromGithubRunner(source.audience, http) : await fromSource(source)
  credential.presented = presentedClaims(token)
  return token
}

/** A JWS in compact form whose header names an algorithm: anything else is not a token a server could accept. */
function isJwt(token: string): boolean {
  const decoded = decodeJwt(token)
  return decoded !== undefined && typeof decoded.header.alg === 'string' && /^[\w-]*$/.test(decoded.signature)
}

function presentedClaims(token: string): PresentedClaims {
  const {aud, exp, iss, sub} = decodeJwt(token)?.payload ?? {}
  return {aud, exp, iss, sub}
}

async function fromSource(source: Exclude<FederatedTokenSource, {kind: 'github'}>): Promise<string> {
  const where = source.kind === 'file' ? source.path : `$${source.variable}`
  let text: string
  try {
    text = source.kind === 'file' ? await readSecretFile(source.path, 'the federated token file') : await readSecret({kind: 'env', variable: source.variable}, 'the federated token')
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    // Gone since the command started (a file being replaced, say): said as before any request.
    await assertFederatedSourceAvailable(source)
    throw new ConfigError(`no federated token: ${error.message}`, 'no_federated_token', {suggestions: error.suggestions})
  }

  const token = text.trim()
  if (!isJwt(token)) {
    throw new ConfigError(`the federated token in ${where} is not a JWT (three base64url parts: a JSON header, a JSON payload, a signature)`, 'federated_token_invalid', {
      suggestions: [`${source.kind === 'file' ? 'point --federated-token-file at' : 'set the variable to'} the token itself, as its issuer wrote it`],
    })
  }

  return token
}

/**
 * The GitHub Actions runner's OIDC token for `audience`: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…`
 * with `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answered `{"value": "<JWT>"}`. The URL
 * already carries its own query (`?api-version=2.0`), kept exactly as the runner gave it. Through
 * tokenctl's HTTP layer: proxy, --ca-file, --timeout, --verbose (the bearer and `value` masked).
 */
async function fromGithubRunner(audience: string, http: HttpContext): Promise<string> {
  await assertFederatedSourceAvailable({audience, kind: 'github'})
  const base = process.env[GITHUB_TOKEN_REQUEST_URL]!
  const bearer = process.env[GITHUB_TOKEN_REQUEST_TOKEN]!

  const parsed = secureUrl(base, GITHUB_TOKEN_REQUEST_URL)
  const url = `${base}${parsed.search ? '&' : '?'}audience=${encodeURIComponent(audience)}`
  const {host} = parsed
  const runner: Destination = {host, name: `the GitHub Actions runner (${host})`, role: 'the runner', source: GITHUB_TOKEN_REQUEST_URL, timeoutSeconds: http.timeoutSeconds}
  const fetch = await http.fetch()
  let response: Response
  let text: string
  try {
    response = await fetch(url, {
      headers: {accept: 'application/json', authorization: `bearer ${bearer}`},
      redirect: 'manual',
      signal: AbortSignal.timeout(http.timeoutSeconds * 1000),
    })
    // Held to the token policy's bound by the context's fetch.
    text = await response.text()
  } catch (error) {
    throw connectionFailure(error, runner)
  }

  if (retriesStatus('token', response.status)) {
    throw unavailable(`the GitHub Actions runner's token service (${host}) is unavailable (HTTP ${response.status})`, response)
  }

  if (response.status !== 200) {
    throw new ConfigError(`the GitHub Actions runner (${host}) refused the OIDC token request (HTTP ${response.status})`, 'no_federated_token', {
      details: {status: response.status},
      suggestions: [`${GITHUB_TOKEN_REQUEST_URL} and ${GITHUB_TOKEN_REQUEST_TOKEN} must come from this job, which needs \`permissions: id-token: write\``],
    })
  }

  let value: unknown
  try {
    value = (JSON.parse(text) as {value?: unknown})?.value
  } catch {
    value = undefined
  }

  if (typeof value !== 'string' || !isJwt(value.trim())) {
    throw new NetworkError(`the GitHub Actions runner (${host}) answered without a JWT in "value"`, 'invalid_response', {details: {status: response.status}})
  }

  return value.trim()
}

/** A claim as shown in a message: JSON-quoted (quotes and line breaks escaped), cut when long. */
function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)
}

function ago(seconds: number): string {
  if (seconds < 120) return `${seconds} s ago`
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`
  return `${Math.round(seconds / 3600)} h ago`
}

/**
 * What to tell someone whose federated token the server refused (invalid_client; Entra's
 * AADSTS70021 "no matching federated identity record"): the iss, sub and aud the token presented —
 * not the token — which the federated credential must name exactly, and whether it had expired.
 */
export function federatedRefusalAdvice(credential: FederatedCredential, now = Date.now()): {details: Partial<ErrorDetails>; suggestion: string} | undefined {
  const claims = credential.presented
  if (!claims) return undefined
  const named = (['iss', 'sub', 'aud'] as const).map((claim) => `${claim} ${claims[claim] === undefined ? '(none)' : shown(claims[claim])}`).join(', ')
  const left = typeof claims.exp === 'number' ? Math.floor(claims.exp - now / 1000) : undefined
  const details = {presented_claims: Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined))}
  if (left !== undefined && left <= 0) {
    const fresh =
      credential.source.kind === 'file'
        ? `the kubelet rewrites ${credential.source.path} before its token expires: check that the projected volume is mounted and current`
        : 'give a fresh token: it is read again for every request'
    return {details, suggestion: `the federated token presented (${named}) expired ${ago(-left)}; ${fresh}`}
  }

  return {
    details,
    suggestion: `the federated token presented ${named}: the app's federated credential must name exactly this issuer, subject and audience (Microsoft Entra: the app registration's Certificates & secrets, Federated credentials)`,
  }
}
