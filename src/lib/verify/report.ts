/**
 * How `token verify` shows its result: one line per check for people, JSON (`--json`) for
 * scripts. Details quote claims and server text, which are untrusted: control characters are
 * escaped before they reach a terminal.
 */
import {escapeControls} from '../terminal-text.js'
import {AUDIENCE_NOT_CHECKED, type Check} from './checks.js'
import type {VerifyResult} from './verify.js'

export interface CheckJson {
  detail: string
  name: string
  /** true: passed; false: failed; null: skipped (nothing to compare, or not asked for). */
  ok: boolean | null
  status: Check['status']
}

export interface VerifyJson {
  checks: CheckJson[]
  claims: Record<string, unknown>
  valid: boolean
}

export function verifyJson(result: VerifyResult): VerifyJson {
  return {
    valid: result.valid,
    checks: result.checks.map(({detail, name, status}) => ({name, ok: status === 'skipped' ? null : status === 'passed', status, detail})),
    claims: result.claims,
  }
}

const NAME_WIDTH = 'signature'.length
const STATUS_WIDTH = 'skipped'.length

export function checkLines(result: VerifyResult): string[] {
  return result.checks.map((check) => `${check.name.padEnd(NAME_WIDTH)}  ${check.status.padEnd(STATUS_WIDTH)}  ${escapeControls(check.detail)}`)
}

/** The failed checks' names, for the one line on stderr. */
export function failedNames(result: VerifyResult): string[] {
  return result.checks.filter((check) => check.status === 'failed').map((check) => check.name)
}

/**
 * A verdict that passed without its audience checked says so on stderr: a web API always checks
 * `aud`, so "valid" alone would promise more than was compared. A failed verdict has its own line.
 */
export function uncheckedAudienceWarning(result: VerifyResult): string | undefined {
  const audience = result.checks.find((check) => check.name === 'aud')
  if (!result.valid || audience?.status !== 'skipped' || !audience.detail.startsWith(AUDIENCE_NOT_CHECKED)) return undefined
  return "the audience was not checked: pass --audience with the web API's client id or app ID URI (or name its client), or a token for another API passes too"
}
