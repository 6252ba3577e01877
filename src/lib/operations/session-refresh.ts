/**
 * `session refresh`: what the command does once its flags are parsed, shared by the oclif command and
 * the fast path of bin/run.js (one implementation; see ../command-shell.ts).
 */
import type {CommandShell} from '../command-shell.js'
import {type ConnectionFlags, sessionOverridesOf} from '../config/settings.js'
import {refreshSession} from '../oauth/sessions.js'
import {checkTokenFormat, formatToken, type TokenFormat, tokenJson, type TokenJson} from '../output.js'

export interface SessionRefreshFlags extends ConnectionFlags {
  force?: boolean
  format: string
  key: string
  'min-ttl'?: number
}

export async function sessionRefresh(flags: SessionRefreshFlags, shell: CommandShell): Promise<TokenJson> {
  checkTokenFormat(flags.format)
  const options = {...sessionOverridesOf(flags), force: flags.force, minTtlSeconds: flags['min-ttl']}
  const {result, summary} = await refreshSession(flags.key, options, shell.runtime())
  shell.log(formatToken(result.token, flags.format as TokenFormat))
  return {session_key: summary.session_key, ...tokenJson(result, {client: summary.client})}
}
