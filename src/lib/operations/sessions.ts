/**
 * `session list`, `session show`, `session end`: the sessions kept in the secure store, never a token
 * (`session start` is in on-behalf-of.ts, `session refresh` in session-refresh.ts, served by the fast path).
 */
import {type CommandShell, stdoutColors} from '../command-shell.js'
import {sessionOverridesOf} from '../config/settings.js'
import type {SessionSummary} from '../config/session-index.js'
import {type EndResult, endSession, listSessions, restartAdvice, type SessionFlavor, showSession} from '../oauth/sessions.js'
import {fieldLines, formatTable, timeCell} from '../output.js'
import type {CommandInput} from './input.js'
import type * as SessionEnd from './session-end.flags.js'
import type * as SessionShow from './session-show.flags.js'

export async function sessionList(_input: unknown, shell: CommandShell): Promise<SessionSummary[]> {
  const sessions = await listSessions(shell.runtime())
  if (sessions.length === 0) {
    shell.logToStderr('no sessions: tokenctl session start …')
    return sessions
  }

  const terminal = Boolean(process.stdout.isTTY)
  const colors = await stdoutColors()
  const now = Date.now()
  // A person reads "3×, last … (7s ago)"; a script gets one plain value per column, as gh pipes its
  // tables: key, status, client, scopes, refresh count, last refresh, token expiry (ISO 8601, or -).
  const rows = sessions.map((session) =>
    terminal
      ? [
          session.session_key,
          session.status === 'active' ? colors.green(session.status) : colors.red(session.status),
          session.client,
          session.scopes.join(' '),
          `${session.refresh_count}×${session.last_refreshed_at ? `, last ${timeCell(session.last_refreshed_at, now)}` : ''}`,
          timeCell(session.access_token_expires_at, now),
        ]
      : [session.session_key, session.status, session.client, session.scopes.join(' '), String(session.refresh_count), session.last_refreshed_at ?? '-', session.access_token_expires_at ?? '-'],
  )
  const headers = ['KEY', 'STATUS', 'CLIENT', 'SCOPES', 'REFRESHED', 'TOKEN EXPIRES']
  for (const line of formatTable(headers, rows, {header: colors.bold, terminal})) shell.log(line)
  return sessions
}

/** Why a session needs the user again, in words: what the server said, when, and how the session starts anew. */
export function reauthenticationText(session: Pick<SessionSummary, 'flavor' | 'reauthentication' | 'session_key'>): string | undefined {
  const {reauthentication} = session
  if (!reauthentication) return undefined
  const said = [reauthentication.description, reauthentication.error_codes?.length ? `error codes ${reauthentication.error_codes.join(', ')}` : undefined].filter(Boolean)
  const advice = restartAdvice({flavor: session.flavor as SessionFlavor, key: session.session_key})
  return `the server answered ${reauthentication.error} at ${reauthentication.at}${said.length > 0 ? ` (${said.join('; ')})` : ''}: ${advice}`
}

export async function sessionShow({flags}: CommandInput<typeof SessionShow>, shell: CommandShell): Promise<SessionSummary> {
  const session = await showSession(flags['session-key'], shell.runtime())
  // The same fields as --json, in its order; the one that is a record is said in words.
  const shown = Object.fromEntries(Object.entries(session).map(([field, value]) => [field, field === 'reauthentication' ? reauthenticationText(session) : value]))
  for (const line of fieldLines(shown)) shell.log(line)
  return session
}

const REVOCATION = {failed: 'not revoked', not_supported: 'the server has no revocation endpoint', revoked: 'refresh token revoked', skipped: 'not revoked: --no-revoke'}

export async function sessionEnd({flags}: CommandInput<typeof SessionEnd>, shell: CommandShell): Promise<EndResult> {
  const result = await endSession(flags['session-key'], {...sessionOverridesOf(flags), revoke: !flags['no-revoke']}, shell.runtime())
  if (result.warning) shell.logToStderr(`warning: the refresh token was not revoked: ${result.warning}`)
  shell.logToStderr(`ended session ${result.session_key} (${REVOCATION[result.revocation]})`)
  return result
}
