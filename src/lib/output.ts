/**
 * How results and errors look. Pure formatting: the base command decides where each piece goes
 * (data on stdout, everything for people on stderr).
 */
import type {TokenctlError} from './errors.js'
import {execCredential, execCredentialVersion} from './exec-credential.js'
import {type HttpExchange, stripUrlCredentials} from './http/trace.js'
import {type AccessToken, secondsLeft, type TokenResult} from './oauth/token.js'
import {escapeControls} from './terminal-text.js'

export const TOKEN_FORMATS = ['token', 'header', 'env', 'exec-credential'] as const
export type TokenFormat = (typeof TOKEN_FORMATS)[number]

/** What a --format needs from the environment, checked before any request: kubectl's KUBERNETES_EXEC_INFO for exec-credential. */
export function checkTokenFormat(format: string, env: NodeJS.ProcessEnv = process.env): void {
  if (format === 'exec-credential') execCredentialVersion(env)
}

export function formatToken(token: AccessToken, format: TokenFormat, env: NodeJS.ProcessEnv = process.env): string {
  switch (format) {
    case 'env': {
      return `ACCESS_TOKEN=${token.access_token}`
    }

    case 'exec-credential': {
      return execCredential(token, execCredentialVersion(env))
    }

    case 'header': {
      return `Authorization: ${token.token_type === 'DPoP' ? 'DPoP' : 'Bearer'} ${token.access_token}`
    }

    case 'token': {
      return token.access_token
    }
  }
}

export interface TokenJson {
  [extra: string]: unknown
  access_token: string
  expires_at: null | string
  expires_in: null | number
  scope: null | string
  token_source: string
  token_type: string
}

/** The JSON of a command that prints a token (`--json`); callers add `client`, `flavor`, `session_key`… */
export function tokenJson(result: TokenResult, extra: Record<string, unknown> = {}): TokenJson {
  const {token} = result
  return {
    access_token: token.access_token,
    token_type: token.token_type,
    expires_at: token.expires_at === undefined ? null : new Date(token.expires_at).toISOString(),
    expires_in: secondsLeft(token) ?? null,
    scope: token.scope ?? null,
    token_source: result.source,
    // A DPoP-bound token: the thumbprint of the key it is bound to (README, "Sender-constrained tokens").
    ...(token.dpop_jkt === undefined ? {} : {dpop_jkt: token.dpop_jkt}),
    ...extra,
  }
}

/** An error's message and hint never repeat a URL's user name or password (fetch's errors quote the URL). */
export function errorJson(error: TokenctlError): Record<string, unknown> {
  const json: Record<string, unknown> = {code: error.code, exit_code: error.exitCode, message: stripUrlCredentials(error.message)}
  for (const [name, value] of Object.entries(error.details)) if (value !== undefined) json[name] = value
  if (error.suggestions.length > 0) json.hint = stripUrlCredentials(error.suggestions.join('; '))
  return json
}

/**
 * One line: what happened and, where one exists, what to do next. Messages quote servers (their
 * `error`, `error_description`, a claims challenge): everything but our own line break is escaped.
 */
export function errorLine(error: TokenctlError): string {
  const hint = error.suggestions.length > 0 ? ` — ${error.suggestions.join('; ')}` : ''
  const claims = error.details.claims ? `\nclaims challenge: ${escapeControls(error.details.claims)}` : ''
  return `${escapeControls(stripUrlCredentials(error.message + hint))}${claims}`
}

export function traceLines(exchange: HttpExchange): string[] {
  const outcome = exchange.error ? `failed: ${exchange.error}` : `${exchange.status}`
  const lines = [`${exchange.method} ${exchange.url} → ${outcome} in ${exchange.ms} ms`]
  const fields = (values: Record<string, string>) =>
    Object.entries(values)
      .map(([name, value]) => `${name}=${value}`)
      .join(' ')
  for (const [name, value] of Object.entries(exchange.requestHeaders ?? {})) lines.push(`  > ${name}: ${value}`)
  if (exchange.request && Object.keys(exchange.request).length > 0) lines.push(`  request:  ${fields(exchange.request)}`)
  for (const [name, value] of Object.entries(exchange.responseHeaders ?? {})) lines.push(`  < ${name}: ${value}`)
  if (exchange.response) lines.push(`  response: ${fields(exchange.response)}`)
  // URLs, headers and JSON fields are the server's words: each line escaped as a whole.
  return lines.map((line) => escapeControls(stripUrlCredentials(line)))
}

/** "in 53m", "2h ago": the human side of a timestamp. */
export function relativeTime(epochMs: number, now = Date.now()): string {
  const seconds = Math.round((epochMs - now) / 1000)
  // A token decoded the second it was issued: "now", not "in 0s".
  if (seconds === 0) return 'now'
  const magnitude = Math.abs(seconds)
  let text: string
  if (magnitude < 60) text = `${magnitude}s`
  else if (magnitude < 3600) text = `${Math.floor(magnitude / 60)}m`
  else if (magnitude < 86_400) text = `${Math.floor(magnitude / 3600)}h${magnitude % 3600 >= 60 ? ` ${Math.floor((magnitude % 3600) / 60)}m` : ''}`
  else text = `${Math.floor(magnitude / 86_400)}d`
  return seconds >= 0 ? `in ${text}` : `${text} ago`
}

type Scalar = boolean | null | number | string | undefined

/** "field: value" lines of a record for people: lists joined, objects as JSON, empty values as "-". */
export function fieldLines(record: object): string[] {
  return Object.entries(record as Record<string, Scalar | object>).map(([field, value]) => {
    const shown = Array.isArray(value) ? value.join(' ') : value !== null && typeof value === 'object' ? JSON.stringify(value) : value
    return escapeControls(`${field}: ${shown === null || shown === undefined || shown === '' || shown === '{}' ? '-' : shown}`)
  })
}

export interface TableOptions {
  /** On a terminal: aligned columns under a header. Else (piped): tab-separated rows, no header, for cut and awk. */
  terminal: boolean
  /** Colours the header on a terminal (bold); the cells come coloured or not from the caller. */
  header?: (text: string) => string
}

/** Characters that would break a row or a column apart: a cell is always one field of one line. */
const CELL_BREAKS = /[\t\n\r\v\f]/g
// eslint-disable-next-line no-control-regex -- ESC starts the colour sequences this pattern removes
const ANSI = /\u001B\[[\d;]*m/g

/** Rows as a table: `gh`'s convention, a header and aligned columns for people, plain rows for scripts. */
export function formatTable(headers: string[], rows: string[][], options: TableOptions): string[] {
  const cleaned = rows.map((row) => row.map((cell) => cell.replaceAll(CELL_BREAKS, ' ')))
  if (!options.terminal) return cleaned.map((row) => row.map((cell) => cell.replaceAll(ANSI, '')).join('\t'))
  const width = (text: string) => text.replaceAll(ANSI, '').length
  const widths = headers.map((header, column) => Math.max(header.length, ...cleaned.map((row) => width(row[column] ?? ''))))
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell + ' '.repeat(widths[column] - width(cell))))
      .join('  ')
      .trimEnd()
  const header = line(headers)
  return [options.header ? options.header(header) : header, ...cleaned.map((row) => line(row))]
}

/** An ISO time and, beside it, how far it is from now: "2025-06-01T10:00:00.000Z (in 54m)". */
export function timeCell(iso: null | string | undefined, now = Date.now()): string {
  if (!iso) return '-'
  const epochMs = Date.parse(iso)
  return Number.isNaN(epochMs) ? iso : `${iso} (${relativeTime(epochMs, now)})`
}
