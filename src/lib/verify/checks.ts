/**
 * The claim checks a web API makes before it accepts a bearer token, as Microsoft.Identity.Web's
 * JwtBearer validation and `[RequiredScope]` make them: `iss`, `aud`, `exp`/`nbf` with a clock skew,
 * scopes in `scp`, app roles in `roles`. Each check says what it compared; none ever holds the token.
 * Claims are untrusted input: any type is handled, and only text goes into a detail.
 */
import {explainIssuerMismatch, isGraphAudience, otherAppName} from './entra.js'

export type CheckName = 'active' | 'aud' | 'cnf' | 'exp' | 'iss' | 'nbf' | 'roles' | 'scp' | 'signature'
export type CheckStatus = 'failed' | 'passed' | 'skipped'

export interface Check {
  detail: string
  name: CheckName
  status: CheckStatus
}

export type Claims = Record<string, unknown>

export const passed = (name: CheckName, detail: string): Check => ({detail, name, status: 'passed'})
export const failed = (name: CheckName, detail: string): Check => ({detail, name, status: 'failed'})
export const skipped = (name: CheckName, detail: string): Check => ({detail, name, status: 'skipped'})

/** A claim as text for a detail line: strings as they are, anything else as JSON. */
function shown(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

const list = (values: string[]) => values.join(' ')

/** How the aud line starts when no audience was asked for: a web API always checks it. */
export const AUDIENCE_NOT_CHECKED = "not checked, pass --audience (the web API's client id or app ID URI)"

export function checkIssuer(claims: Claims, expected: string): Check {
  const {iss} = claims
  if (iss === undefined) return failed('iss', `no iss claim; expected ${expected}`)
  if (iss === expected) return passed('iss', `${expected}`)
  const got = shown(iss)
  const why = typeof iss === 'string' ? explainIssuerMismatch(iss, expected) : undefined
  return failed('iss', `${got}, expected ${expected}${why ? `: ${why}` : ''}`)
}

/** `aud` as a list: RFC 7519 allows a string or an array of strings. */
function audiencesOf(claims: Claims): string[] | undefined {
  const {aud} = claims
  if (typeof aud === 'string') return [aud]
  if (Array.isArray(aud) && aud.every((value) => typeof value === 'string')) return aud
  return undefined
}

/**
 * `aud` one of the accepted audiences. None accepted (no --audience, no web API's client named): not
 * checked, and the line says so, since every web API checks it. `defaulted` says where accepted
 * audiences that no --audience gave came from.
 */
export function checkAudience(claims: Claims, accepted: string[], defaulted?: string): Check {
  const audiences = audiencesOf(claims)
  const malformed = `aud ${shown(claims.aud)} is not a string or a list of strings`
  if (accepted.length === 0) {
    const has = audiences ? `the token's aud is ${list(audiences)}` : claims.aud === undefined ? 'the token has no aud claim' : `the token's ${malformed}`
    return skipped('aud', `${AUDIENCE_NOT_CHECKED}: ${has}`)
  }

  const from = defaulted ? ` (${defaulted})` : ''
  if (!audiences) return failed('aud', `${claims.aud === undefined ? 'no aud claim' : malformed}; expected ${list(accepted)}${from}`)
  const direct = audiences.find((audience) => accepted.includes(audience))
  if (direct !== undefined) return passed('aud', `${direct}${from}`)
  for (const audience of audiences) {
    const given = accepted.find((value) => otherAppName(value) === audience)
    if (given !== undefined) {
      return passed(
        'aud',
        `${audience} matches --audience ${given}: an Entra app is addressed both by its client id and its app ID URI (${given.startsWith('api://') ? `${audience} and ${given}` : `${given} and ${audience}`})`,
      )
    }
  }

  const graph = audiences.some((audience) => isGraphAudience(audience)) ? ': a token for Microsoft Graph, not for your API' : ''
  return failed('aud', `${list(audiences)}, expected ${accepted.length > 1 ? 'one of ' : ''}${list(accepted)}${from}${graph}`)
}

/** Seconds as people say them: "45 seconds", "12 minutes", "3 hours", "2 days". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  const unit = (count: number, name: string) => `${count} ${name}${count === 1 ? '' : 's'}`
  if (s < 120) return unit(s, 'second')
  if (s < 120 * 60) return unit(Math.floor(s / 60), 'minute')
  if (s < 48 * 3600) return unit(Math.floor(s / 3600), 'hour')
  return unit(Math.floor(s / 86_400), 'day')
}

/** Year 9999: a NumericDate beyond it is no date at all (and Date would throw on it). */
const MAX_NUMERIC_DATE = 253_402_300_799

function numericDate(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= MAX_NUMERIC_DATE ? value : undefined
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString()

export interface TimeContext {
  clockSkewSeconds: number
  /** Now, in seconds since the epoch. */
  now: number
}

export function checkExpiry(claims: Claims, {clockSkewSeconds: skew, now}: TimeContext): Check {
  if (claims.exp === undefined) return failed('exp', 'no exp claim: a web API refuses a token that never expires')
  const exp = numericDate(claims.exp)
  if (exp === undefined) return failed('exp', `exp ${shown(claims.exp)} is not a NumericDate (seconds since 1970)`)
  const skewText = `clock skew ${skew} s`
  if (now > exp + skew) return failed('exp', `expired ${duration(now - exp)} ago (exp ${iso(exp)}; ${skewText})`)
  if (now > exp) return passed('exp', `expired ${duration(now - exp)} ago but within the ${skewText} (exp ${iso(exp)})`)
  return passed('exp', `expires in ${duration(exp - now)} (exp ${iso(exp)}; ${skewText})`)
}

export function checkNotBefore(claims: Claims, {clockSkewSeconds: skew, now}: TimeContext): Check {
  if (claims.nbf === undefined) return skipped('nbf', 'no nbf claim')
  const nbf = numericDate(claims.nbf)
  if (nbf === undefined) return failed('nbf', `nbf ${shown(claims.nbf)} is not a NumericDate (seconds since 1970)`)
  const skewText = `clock skew ${skew} s`
  if (now + skew < nbf) {
    const wait = duration(nbf - skew - now).replace(' ', ' more ')
    return failed('nbf', `not valid for ${wait} (nbf ${iso(nbf)}; ${skewText}): check this machine's clock`)
  }

  return passed('nbf', `valid since ${iso(nbf)} (${skewText})`)
}

/** The token's scopes: Entra's `scp` (space-separated; a list at some servers), else RFC 9068's `scope`. */
function scopesOf(claims: Claims): {claim: 'scope' | 'scp'; scopes: string[]} | undefined {
  for (const claim of ['scp', 'scope'] as const) {
    const value = claims[claim]
    if (typeof value === 'string') return {claim, scopes: value.split(' ').filter(Boolean)}
    if (Array.isArray(value)) return {claim, scopes: value.filter((scope): scope is string => typeof scope === 'string')}
  }

  return undefined
}

function rolesOf(claims: Claims): string[] | undefined {
  const {roles} = claims
  if (Array.isArray(roles)) return roles.filter((role): role is string => typeof role === 'string')
  if (typeof roles === 'string') return [roles]
  return undefined
}

/**
 * A scope asked for as `api://app/access_as_user` appears in Entra's `scp` as `access_as_user`:
 * the resource part names the audience, which the aud check compares.
 */
function hasScope(scopes: string[], wanted: string): boolean {
  if (scopes.includes(wanted)) return true
  const slash = wanted.lastIndexOf('/')
  return slash > 0 && scopes.includes(wanted.slice(slash + 1))
}

export function checkScopes(claims: Claims, required: string[]): Check {
  const found = scopesOf(claims)
  const roles = rolesOf(claims)
  const appOnly = !found && roles !== undefined
  const appOnlyText = `no scp claim but roles (${list(roles ?? [])}): an app-only token (client credentials), where a user token was expected — on-behalf-of needs a user's token`
  if (required.length === 0) {
    const has = found ? `${found.claim}: ${list(found.scopes)}` : appOnly ? appOnlyText : 'no scp claim'
    return skipped('scp', `no --scope given (${has})`)
  }

  if (appOnly) return failed('scp', `${appOnlyText}; expected ${list(required)}`)
  if (!found) return failed('scp', `no scp claim; expected ${list(required)}`)
  const missing = required.filter((scope) => !hasScope(found.scopes, scope))
  if (missing.length > 0) return failed('scp', `missing ${list(missing)} (${found.claim}: ${list(found.scopes) || '(empty)'})`)
  return passed('scp', `${list(required)} (${found.claim}: ${list(found.scopes)})`)
}

export function checkRoles(claims: Claims, required: string[]): Check {
  const roles = rolesOf(claims)
  if (required.length === 0) return skipped('roles', `no --role given (${roles ? `roles: ${list(roles)}` : 'no roles claim'})`)
  if (!roles) {
    return failed('roles', `no roles claim; expected ${list(required)}: app roles are assigned to the calling app or user in the web API's app registration`)
  }

  const missing = required.filter((role) => !roles.includes(role))
  if (missing.length > 0) return failed('roles', `missing ${list(missing)} (roles: ${list(roles) || '(empty)'})`)
  return passed('roles', `${list(required)} (roles: ${list(roles)})`)
}

export interface ClaimCheckOptions extends TimeContext {
  audiences: string[]
  /** Where `audiences` came from when no --audience gave them (a named web API client's defaults). */
  audienceDefault?: string
  roles: string[]
  scopes: string[]
}

/** The checks after `iss`, in the order a web API makes them. */
export function claimChecks(claims: Claims, options: ClaimCheckOptions): Check[] {
  return [
    checkAudience(claims, options.audiences, options.audienceDefault),
    checkExpiry(claims, options),
    checkNotBefore(claims, options),
    checkScopes(claims, options.scopes),
    checkRoles(claims, options.roles),
  ]
}
