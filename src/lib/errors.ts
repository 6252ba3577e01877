/**
 * The error vocabulary of tokenctl. Every failure the library reports is a TokenctlError whose
 * exitCode is one of the exit codes of README's "Exit codes" section and whose code is the OAuth
 * `error` value when a server sent one, else one of tokenctl's own codes below.
 */

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  config: 3,
  refused: 4,
  reauthenticate: 5,
  network: 6,
  store: 7,
  httpStatus: 8,
  /** Interrupted by the user (Ctrl-C), as shells report SIGINT. */
  cancelled: 130,
  /** `token verify`: the token fails a check (signature, issuer, audience, time, scope, role). */
  tokenInvalid: 9,
  /** `exec`: the command to run is not executable, as a shell reports it. */
  commandNotExecutable: 126,
  /** `exec`: the command to run does not exist, as a shell reports it. */
  commandNotFound: 127,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** `exec`: a command that a signal ended exits 128 + the signal's number, as shells report it. */
export const SIGNALLED_EXIT_BASE = 128

export type UsageCode = 'usage_error' | 'invalid_jwt' | 'invalid_session_key' | 'secret_on_command_line' | 'input_too_large'
export type ConfigCode =
  | 'config_error'
  | 'unknown_client'
  | 'client_exists'
  | 'missing_configuration'
  | 'no_secret'
  | 'insecure_url'
  | 'unknown_session'
  | 'session_exists'
  | 'port_in_use'
  | 'no_discovery_document'
  | 'credential_in_params'
  | 'invalid_client_entry'
  | 'not_loopback'
  | 'unsafe_permissions'
  | 'output_error'
  | 'certificate_unreadable'
  | 'certificate_password'
  | 'certificate_expired'
  | 'certificate_not_yet_valid'
  | 'certificate_key_mismatch'
  | 'no_federated_token'
  | 'federated_token_invalid'
  | 'not_regular_file'
export type NetworkCode = 'network_error' | 'timeout' | 'tls_error' | 'invalid_response' | 'server_error'
export type StoreCode =
  | 'store_unavailable'
  | 'store_locked'
  | 'store_corrupt'
  | 'store_wrong_passphrase'
  | 'store_wrong_key'
  | 'store_wrong_secret_kind'
  | 'store_invalid_key'
  | 'store_lock_timeout'
  | 'store_lock_lost'
  | 'store_error'
  | 'no_store'

/** What a server (or Entra in particular) said beyond `error`; kept for `--json` errors. */
export interface ErrorDetails {
  claims?: string
  correlation_id?: string
  description?: string
  error_codes?: number[]
  status?: number
  suberror?: string
  timestamp?: string
  trace_id?: string
  /** A refused federated token's iss, sub, aud (and exp), decoded locally: what the federated credential must match. */
  presented_claims?: Record<string, unknown>
}

export interface TokenctlErrorOptions {
  cause?: unknown
  details?: ErrorDetails
  suggestions?: string[]
}

export class TokenctlError extends Error {
  readonly code: string
  readonly details: ErrorDetails
  readonly exitCode: ExitCode
  readonly suggestions: string[]

  constructor(message: string, code: string, exitCode: ExitCode, options: TokenctlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = this.constructor.name
    this.code = code
    this.exitCode = exitCode
    this.details = options.details ?? {}
    this.suggestions = options.suggestions ?? []
  }
}

export class InternalError extends TokenctlError {
  constructor(message: string, options?: TokenctlErrorOptions) {
    super(message, 'internal_error', ExitCode.internal, options)
  }
}

export class UsageError extends TokenctlError {
  constructor(message: string, code: UsageCode = 'usage_error', options?: TokenctlErrorOptions) {
    super(message, code, ExitCode.usage, options)
  }
}

export class ConfigError extends TokenctlError {
  constructor(message: string, code: ConfigCode = 'config_error', options?: TokenctlErrorOptions) {
    super(message, code, ExitCode.config, options)
  }
}

/** The authorization server refused the request (exit 4); `code` is its `error`. */
export class AuthorizationError extends TokenctlError {
  constructor(message: string, code: string, options?: TokenctlErrorOptions) {
    super(message, code, ExitCode.refused, options)
  }
}

/** A person must sign in again (exit 5): refresh token dead, interaction or consent required. */
export class ReauthenticationRequiredError extends TokenctlError {
  constructor(message: string, code: string, options?: TokenctlErrorOptions) {
    super(message, code, ExitCode.reauthenticate, options)
  }
}

export interface NetworkErrorOptions extends TokenctlErrorOptions {
  /** The server asked us to wait this long before trying again (Retry-After). */
  retryAfterMs?: number
  /** Worth another attempt, as the HTTP failure policy decides (src/lib/http/policy.ts). */
  retryable?: boolean
  /**
   * The OAuth `error` a server sent with its failure (`temporarily_unavailable` with a 503): it is
   * then the error's code, as the README's Exit codes section says of every code a server sends.
   */
  serverError?: string
}

export class NetworkError extends TokenctlError {
  /** tokenctl's own name for what went wrong, whatever code the server sent. */
  readonly kind: NetworkCode
  readonly retryable: boolean
  readonly retryAfterMs: number | undefined
  readonly serverError: string | undefined

  constructor(message: string, kind: NetworkCode = 'network_error', options: NetworkErrorOptions = {}) {
    super(message, options.serverError ?? kind, ExitCode.network, options)
    this.kind = kind
    this.retryable = options.retryable ?? false
    this.retryAfterMs = options.retryAfterMs
    this.serverError = options.serverError
  }

  /** The same failure, its message saying where it happened (`… (discovery: URL)`). */
  at(where: string): NetworkError {
    const {details, kind, retryable, retryAfterMs, serverError, suggestions} = this
    return new NetworkError(`${this.message} (${where})`, kind, {cause: this, details, retryable, retryAfterMs, serverError, suggestions})
  }
}

export class StoreError extends TokenctlError {
  constructor(message: string, code: StoreCode = 'store_error', options?: TokenctlErrorOptions) {
    super(message, code, ExitCode.store, options)
  }
}

/** The person at the terminal stopped it (Ctrl-C while waiting for a sign-in). */
export class CancelledError extends TokenctlError {
  constructor(message = 'cancelled') {
    super(message, 'cancelled', ExitCode.cancelled)
  }
}

/** `call`: the API answered with HTTP status >= 400, after retries (exit 8). */
export class HttpStatusError extends TokenctlError {
  constructor(message: string, status: number, options?: TokenctlErrorOptions) {
    super(message, 'http_error', ExitCode.httpStatus, {...options, details: {...options?.details, status}})
  }
}

export function isTokenctlError(error: unknown): error is TokenctlError {
  return error instanceof TokenctlError
}

/** The message of anything thrown, for wrapping lower-level errors. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}

/** `token verify`: the token fails at least one check (exit 9); the message names each failed check. */
export class TokenInvalidError extends TokenctlError {
  constructor(message: string, options?: TokenctlErrorOptions) {
    super(message, 'token_invalid', ExitCode.tokenInvalid, options)
  }
}
