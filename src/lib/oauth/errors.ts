import {AuthorizationError, ConfigError, type ErrorDetails, messageOf, NetworkError, ReauthenticationRequiredError, TokenctlError} from '../errors.js'
import {connectionFailure, type Destination, noAnswer, unavailable} from '../http/failure.js'
import {type RequestKind, retriesStatus} from '../http/policy.js'

/**
 * Which request failed: the same `invalid_grant` means "refused" for OBO and "sign in again" for a
 * refresh, and the same `access_denied` means "the person said no" only where a person was asked:
 * the browser's answer to an authorization request (`authorization`) and the polls of a device
 * sign-in (`device_code`).
 */
export type GrantKind = 'authorization' | 'client_credentials' | 'device_code' | 'discovery' | 'introspection' | 'obo' | 'refresh_token' | 'revocation' | 'sign_in'

interface ErrorBody {
  claims?: unknown
  correlation_id?: unknown
  error: string
  error_codes?: unknown
  error_description?: unknown
  suberror?: unknown
  timestamp?: unknown
  trace_id?: unknown
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined)

export function detailsOf(body: ErrorBody, status: number | undefined): ErrorDetails {
  const codes = Array.isArray(body.error_codes) ? body.error_codes.filter((code) => typeof code === 'number') : undefined
  return {
    claims: str(body.claims),
    correlation_id: str(body.correlation_id),
    description: str(body.error_description),
    error_codes: codes?.length ? codes : undefined,
    status,
    suberror: str(body.suberror),
    timestamp: str(body.timestamp),
    trace_id: str(body.trace_id),
  }
}

/** The person at the keyboard must act (sign in, consent, approve): exit 5. */
const REAUTHENTICATION_CODES = new Set(['consent_required', 'expired_token', 'interaction_required', 'login_required'])

/** Where a person was asked, and so `access_denied` is their refusal (exit 5) rather than the server's (exit 4). */
const PERSON_ASKED = new Set<GrantKind>(['authorization', 'device_code'])

/**
 * Whether an error code means that a person must act. `access_denied` from any other request (a
 * token, an exchange, client credentials) is the server refusing this client — Keycloak's standard
 * token exchange answers so when the client is not in the user token's audience — and signing in
 * again cannot change it.
 */
function needsPerson(code: string, grant: GrantKind): boolean {
  return REAUTHENTICATION_CODES.has(code) || (code === 'access_denied' && PERSON_ASKED.has(grant))
}

/** What to do about an `access_denied` that no person gave, by the request it refused. */
const DENIED_HINTS: Partial<Record<GrantKind, string>> = {
  obo: "the server does not let this client exchange this user's token, and signing in again will not change that: the exchanging client must be in the user token's audience (aud) and allowed to exchange tokens at the server",
}

const HINTS: Record<string, string> = {
  access_denied: 'the server denied this client the request, and signing in again will not change that: check what the authorization server allows this client',
  expired_token: 'the device code expired before anyone approved it: start the sign-in again',
  consent_required: 'the user (or an admin) must consent to the requested scopes, then sign in again',
  interaction_required: 'the user must sign in again (interactively)',
  invalid_client: 'check the client id, the client secret and --auth-method',
  invalid_scope: 'check --scope (Entra wants exactly one <resource>/.default for client credentials)',
  invalid_target: 'check --resource / --audience',
  unauthorized_client: 'this client is not allowed to use this grant at the authorization server',
  unsupported_grant_type: 'the authorization server does not support this grant for this client',
}

/** Where a person refused: sign in again (and approve) to continue. */
const PERSON_HINTS: Record<string, string> = {...HINTS, access_denied: 'the sign-in was refused or cancelled: sign in again to continue'}

/** An OAuth error response (RFC 6749 §5.2), with Entra's extra fields, as a TokenctlError. */
export function oauthErrorFromBody(body: ErrorBody, status: number | undefined, grant: GrantKind): TokenctlError {
  const details = detailsOf(body, status)
  const code = body.error
  const said = details.description ? `${code}: ${firstLine(details.description)}` : code
  const reauthenticate = needsPerson(code, grant) || (details.suberror !== undefined && needsPerson(details.suberror, grant)) || (grant === 'refresh_token' && code === 'invalid_grant')
  if (reauthenticate) {
    const hint =
      details.claims === undefined
        ? (PERSON_HINTS[details.suberror ?? code] ?? 'the refresh token is expired, revoked or was reused: the user must sign in again')
        : 'the server sent a claims challenge: sign the user in again requesting these claims (see "claims" in --json output)'
    return new ReauthenticationRequiredError(`re-authentication required (${said})`, code, {details, suggestions: [hint]})
  }

  const hint = (code === 'access_denied' ? DENIED_HINTS[grant] : undefined) ?? HINTS[code]
  return new AuthorizationError(`the authorization server refused the request (${said})`, code, {
    details,
    suggestions: hint ? [hint] : [],
  })
}

function firstLine(text: string): string {
  return text.split(/\r?\n/, 1)[0]
}

function isErrorBody(value: unknown): value is ErrorBody {
  return typeof value === 'object' && value !== null && typeof (value as ErrorBody).error === 'string'
}

/** Discovery fetches a document; every other request here is a token request (../http/policy.ts). */
function kindOf(grant: GrantKind): RequestKind {
  return grant === 'discovery' ? 'document' : 'token'
}

/** An answer the policy retries (429, 5xx): never a sign that the request was wrong. */
function serverUnavailable(response: {headers: Headers; status: number; statusText: string}, body: unknown): NetworkError {
  const oauth = isErrorBody(body) ? body : undefined
  const {status, statusText} = response
  const what = `${status}${statusText ? ` ${statusText}` : ''}${oauth ? `, ${oauth.error}` : ''}`
  return unavailable(`the authorization server is unavailable (${what})`, response, {details: oauth ? detailsOf(oauth, status) : {status}, serverError: oauth?.error})
}

/** An HTTP answer openid-client did not accept as a token response. */
async function fromUnexpectedResponse(response: Response, grant: GrantKind): Promise<TokenctlError> {
  const {status} = response
  let body: unknown
  try {
    body = await response.clone().json()
  } catch {
    body = undefined
  }

  if (retriesStatus(kindOf(grant), status)) return serverUnavailable(response, body)
  if (isErrorBody(body) && status >= 400) return oauthErrorFromBody(body, status, grant)
  if (status >= 200 && status < 300) {
    const type = response.headers.get('content-type') ?? 'no content type'
    return new NetworkError(`the authorization server answered ${status} with ${type}, not a JSON ${grant === 'discovery' ? 'document' : 'token response'}`, 'invalid_response', {
      details: {status},
    })
  }

  return new NetworkError(`unexpected answer from the authorization server: HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''} without an OAuth error`, 'invalid_response', {
    details: {status},
  })
}

/** Where the user gave the URL of an authorization server, for the advice when it cannot be reached. */
const SERVER_URL_SOURCE = "the --issuer / --token-endpoint URL (or the named client's)"

function isResponse(value: unknown): value is Response {
  return typeof value === 'object' && value !== null && 'status' in value && 'headers' in value
}

interface LibraryError extends Error {
  code?: string
  error?: string
  response?: Response
  status?: number
}

/**
 * The one place where openid-client's and fetch's errors become tokenctl errors. `host` names the
 * server in messages; `timeoutSeconds` explains a timeout.
 */
export async function translateOAuthError(error: unknown, context: {grant: GrantKind; host: string; timeoutSeconds: number}): Promise<TokenctlError> {
  if (error instanceof TokenctlError) return error
  // A refusal of ours made inside the connection (a localhost name that resolves elsewhere) arrives
  // wrapped by fetch and openid-client: it is reported as it is, not as a network failure.
  for (let cause = (error as Error)?.cause, depth = 0; cause && depth < 4; cause = (cause as Error).cause, depth++) {
    if (cause instanceof TokenctlError) return cause
  }

  const err = error as LibraryError
  const {grant, host} = context
  const destination: Destination = {host, source: SERVER_URL_SOURCE, timeoutSeconds: context.timeoutSeconds}
  switch (err?.name) {
    case 'ResponseBodyError': {
      if (err.status !== undefined && retriesStatus(kindOf(grant), err.status) && err.response) return serverUnavailable(err.response, err.cause)

      return oauthErrorFromBody(err.cause as ErrorBody, err.status, grant)
    }

    case 'WWWAuthenticateChallengeError': {
      // The body usually carries the same error with its description; the challenge is the fallback.
      if (err.response) {
        const translated = await fromUnexpectedResponse(err.response, grant)
        if (!(translated instanceof NetworkError)) return translated
      }

      const challenge = (err.cause as Array<{parameters?: Record<string, string>}>)?.[0]?.parameters
      if (challenge?.error) return oauthErrorFromBody(challenge as unknown as ErrorBody, err.status, grant)
      return new AuthorizationError(`the authorization server refused the request (HTTP ${err.status})`, 'unauthorized', {details: {status: err.status}})
    }

    case 'TypeError': {
      if (err.message === 'fetch failed') return connectionFailure(err, destination)
      break
    }

    case 'ClientError': {
      switch (err.code) {
        case 'OAUTH_TIMEOUT': {
          return noAnswer(destination)
        }

        case 'OAUTH_RESPONSE_IS_NOT_CONFORM':
        case 'OAUTH_RESPONSE_IS_NOT_JSON': {
          if (isResponse(err.cause)) return fromUnexpectedResponse(err.cause, grant)
          return new NetworkError(`${host} sent a malformed ${grant === 'discovery' ? 'discovery document' : 'token response'} (${err.message})`, 'invalid_response')
        }

        case 'OAUTH_PARSE_ERROR': {
          // A 200 whose body is not JSON at all (oauth4webapi's error, wrapped by openid-client, holds
          // JSON.parse's SyntaxError): no parser's words, but where to look.
          if ((err.cause as Error | undefined)?.cause instanceof SyntaxError) {
            const what = grant === 'discovery' ? 'its discovery document' : 'a token response'
            return new NetworkError(`${host} answered with a body that is not JSON, where ${what} should be`, 'invalid_response', {
              suggestions: [`check ${SERVER_URL_SOURCE}: it must be the authorization server's, not a web page or another service on that port`],
            })
          }

          const reason = err.cause instanceof Error ? err.cause.message : err.message
          return new NetworkError(`${host} sent a malformed ${grant === 'discovery' ? 'discovery document' : 'token response'} (${reason})`, 'invalid_response')
        }

        case 'OAUTH_INVALID_RESPONSE': {
          // The cause says which field ("expires_in" property must be a number); the wrapper only "invalid response".
          const reason = err.cause instanceof Error ? err.cause.message : err.message
          return new NetworkError(`${host} sent a malformed ${grant === 'discovery' ? 'discovery document' : 'token response'} (${reason})`, 'invalid_response')
        }

        case 'OAUTH_UNSUPPORTED_OPERATION': {
          const type = (err.cause as {cause?: {body?: {token_type?: unknown}}} | undefined)?.cause?.body?.token_type
          if (typeof type === 'string') {
            return new NetworkError(`${host} answered with token_type "${type}", which tokenctl cannot use (Bearer, DPoP or N_A)`, 'invalid_response')
          }

          break
        }

        case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED': {
          if (grant === 'discovery') {
            return new ConfigError(`the discovery document of ${host} names another issuer`, 'config_error', {
              suggestions: ['pass --issuer exactly as the server spells its issuer (trailing slash included)'],
            })
          }

          break
        }

        case 'OAUTH_HTTP_REQUEST_FORBIDDEN': {
          return new ConfigError(`refusing plain http to ${host}: only loopback hosts may use http`, 'insecure_url')
        }
      }

      const cause = err.cause as LibraryError | undefined
      if (cause?.name === 'TypeError' && cause.message === 'fetch failed') return connectionFailure(cause, destination)
      break
    }
  }

  return new NetworkError(`request to ${host} failed: ${messageOf(error)}`, 'invalid_response', {cause: error})
}
