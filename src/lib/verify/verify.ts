/**
 * `token verify`: checks a token as the web API that receives it would (Microsoft.Identity.Web's
 * JwtBearer validation with `[RequiredScope]`) and says which check fails and why. Two ways:
 *   verifyJwt        the signature with the issuer's JWKS (discovery, cached), then every claim check;
 *   introspectToken  RFC 7662: the issuer says whether the token is active (opaque tokens), then the
 *                    claim checks on what it answered.
 * Either returns every check; the caller decides the exit code (9 when any failed). Failures to reach
 * the issuer or its keys are thrown (exit 6), as every network failure is.
 */
import type {Connection, IssuerConnection} from '../config/connection.js'
import {resolveCredential} from '../config/secrets.js'
import {secureUrl} from '../config/urls.js'
import {AuthorizationError, ConfigError, UsageError} from '../errors.js'
import {type Hooks, type HttpContext, httpContext} from '../http/context.js'
import {decodeJwt} from '../jwt.js'
import {openConfiguration} from '../oauth/configuration.js'
import {translateOAuthError} from '../oauth/errors.js'
import {type ServerMetadata, serverMetadata} from '../oauth/metadata.js'
import type {Runtime} from '../runtime.js'
import {type BindingEvidence, checkBinding} from './binding.js'
import {type Check, type CheckName, checkIssuer, claimChecks, type Claims, failed, passed, skipped} from './checks.js'
import {noteEmbeddedKeys} from './embedded-keys.js'
import {loadJwks} from './jwks.js'
import {checkSignature, type KeySource} from './signature.js'

export interface VerifyOptions {
  /** `aud` must be one of these (an Entra app's client id and `api://{client id}` count as one). */
  audiences: string[]
  /** Where `audiences` came from when no --audience gave them: said on the aud line. */
  audienceDefault?: string
  /** What a sender-constrained token is checked with: a DPoP proof and its request, a certificate (./binding.ts). */
  binding?: Pick<BindingEvidence, 'certificateX5t' | 'dpop'>
  clockSkewSeconds: number
  roles: string[]
  scopes: string[]
}

/** The binding check, when the token is bound or a proof or certificate was given: after the others, as an API makes it. */
async function withBinding(checks: Check[], claims: Claims, token: string, options: VerifyOptions): Promise<Check[]> {
  const binding = await checkBinding(claims, {...options.binding, clockSkewSeconds: options.clockSkewSeconds, now: nowInSeconds(), token})
  return binding ? [...checks, binding] : checks
}

export interface VerifyResult {
  checks: Check[]
  /** The token's claims (or what introspection answered): never the token itself. */
  claims: Claims
  valid: boolean
}

function resultOf(checks: Check[], claims: Claims): VerifyResult {
  return {checks, claims, valid: checks.every((check) => check.status !== 'failed')}
}

const nowInSeconds = () => Math.floor(Date.now() / 1000)

/** The issuer's key set, checked against the https-or-loopback rule only when a key is needed. */
function keySource(metadata: ServerMetadata, http: HttpContext): KeySource {
  const uri = () => {
    if (typeof metadata.jwks_uri !== 'string') {
      throw new ConfigError(`the issuer ${metadata.issuer} publishes no jwks_uri, so no key to check a signature with`, 'config_error', {
        suggestions: ['ask the issuer itself with --introspect, if it has an introspection endpoint'],
      })
    }

    return secureUrl(metadata.jwks_uri, 'the discovered jwks_uri')
  }

  return {load: () => loadJwks(uri(), http)}
}

export async function verifyJwt(token: string, issuer: IssuerConnection, options: VerifyOptions, hooks: Hooks): Promise<VerifyResult> {
  const jwt = decodeJwt(token)
  if (!jwt && token.split('.').length === 5) {
    throw new UsageError('an encrypted token (JWE, five segments): only the API holding its decryption key can read it', 'invalid_jwt')
  }

  if (!jwt) {
    throw new UsageError('not a JWT (three base64url segments with a JSON header and payload)', 'invalid_jwt', {
      suggestions: ['for an opaque token, add --introspect: the issuer is asked about it (RFC 7662)'],
    })
  }

  const http = httpContext({caFile: issuer.caFile, timeoutSeconds: issuer.timeoutSeconds}, hooks)
  const metadata = await serverMetadata(issuer.issuer, http)
  const signature = noteEmbeddedKeys(await checkSignature(token, jwt.header, keySource(metadata, http)), jwt.header)
  const checks = [signature, checkIssuer(jwt.payload, metadata.issuer), ...claimChecks(jwt.payload, {...options, now: nowInSeconds()})]
  return resultOf(await withBinding(checks, jwt.payload, token, options), jwt.payload)
}

/** Non-standard fields some servers add to an inactive answer to say why. */
function serverReason(response: Claims): string | undefined {
  const reasons = ['error', 'error_description', 'reason'].map((field) => response[field]).filter((value) => typeof value === 'string' && value !== '')
  return reasons.length > 0 ? reasons.join(': ') : undefined
}

const AFTER_ACTIVE: CheckName[] = ['signature', 'iss', 'aud', 'exp', 'nbf', 'scp', 'roles']

function introspectionChecks(response: Claims, host: string, metadata: ServerMetadata, options: VerifyOptions): Check[] {
  if (response.active !== true) {
    const reason = serverReason(response)
    const why = reason ? `: ${reason}` : " (RFC 7662 does not say why: expired, revoked, unknown, or not this client's to ask about)"
    return [failed('active', `the server at ${host} says the token is not active${why}`), ...AFTER_ACTIVE.map((name) => skipped(name, 'the token is not active'))]
  }

  const claims = claimChecks(response, {...options, now: nowInSeconds()}).map((check) =>
    check.name === 'exp' && response.exp === undefined ? skipped('exp', 'the introspection response gives no exp') : check,
  )
  return [
    passed('active', `the server at ${host} says the token is active`),
    skipped('signature', 'not checked here: the introspection endpoint answered for the token'),
    response.iss === undefined ? skipped('iss', 'the introspection response names no issuer') : checkIssuer(response, metadata.issuer),
    ...claims,
  ]
}

/** RFC 7662 with the connection's client credentials: for opaque tokens, which only their issuer can read. */
export async function introspectToken(token: string, connection: Connection, options: VerifyOptions, runtime: Runtime): Promise<VerifyResult> {
  if (!connection.issuer) {
    throw new ConfigError('--introspect needs the issuer: its discovery document names the introspection endpoint', 'missing_configuration', {
      suggestions: ['pass --issuer URL'],
    })
  }

  const http = httpContext({caFile: connection.caFile, timeoutSeconds: connection.timeoutSeconds}, runtime.hooks)
  const metadata = await serverMetadata(connection.issuer, http)
  if (typeof metadata.introspection_endpoint !== 'string') {
    throw new ConfigError(`the issuer ${metadata.issuer} advertises no introspection endpoint (RFC 7662; Microsoft Entra has none)`, 'config_error', {
      suggestions: ["verify a JWT without --introspect: its signature is checked with the issuer's keys"],
    })
  }

  const endpoint = secureUrl(metadata.introspection_endpoint, 'the discovered introspection_endpoint')
  const credential = await resolveCredential(connection, runtime.openStore)
  const config = await openConfiguration(connection, metadata, credential, http)
  const {tokenIntrospection} = await import('openid-client')
  const context = {grant: 'introspection' as const, host: endpoint.host, timeoutSeconds: http.timeoutSeconds}
  http.hooks.progress?.({message: `asking ${endpoint.host} about the token`, state: 'request'})
  let response: Claims
  try {
    response = {
      ...(await http.retrying(async () => {
        try {
          return await tokenIntrospection(config, token)
        } catch (error) {
          throw await translateOAuthError(error, context)
        }
      })),
    }
  } catch (error) {
    if (error instanceof AuthorizationError && error.code === 'unsupported_token_type') {
      throw new AuthorizationError(error.message, error.code, {
        cause: error,
        details: error.details,
        suggestions: ['this server introspects only opaque tokens: verify a JWT without --introspect'],
      })
    }

    throw error
  } finally {
    http.hooks.progress?.({state: 'done'})
  }

  const checks = introspectionChecks(response, endpoint.host, metadata, options)
  return resultOf(response.active === true ? await withBinding(checks, response, token, options) : checks, response)
}
