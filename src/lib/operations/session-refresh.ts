/**
 * `session refresh`: what the command does once its flags are parsed, shared by the oclif command and
 * the fast path of bin/run.js (one implementation; see ../command-shell.ts).
 */
import type {CommandShell} from '../command-shell.js'
import {sessionOverridesOf} from '../config/settings.js'
import {refreshSession} from '../oauth/sessions.js'
import {checkTokenFormat, formatToken, type TokenFormat, tokenJson, type TokenJson} from '../output.js'
import type {CommandInput} from './input.js'
import type * as SessionRefresh from './session-refresh.flags.js'

export async function sessionRefresh({flags}: CommandInput<typeof SessionRefresh>, shell: CommandShell): Promise<TokenJson> {
  checkTokenFormat(flags.format)
  const options = {...sessionOverridesOf(flags), force: flags.force, minTtlSeconds: flags['min-ttl']}
  const {result, summary} = await refreshSession(flags['session-key'], options, shell.runtime())
  shell.log(formatToken(result.token, flags.format as TokenFormat))
  return {session_key: summary.session_key, ...tokenJson(result, {client: summary.client})}
}
