/**
 * `session refresh`: what the command does once its flags are parsed, shared by the oclif command and
 * the fast path of bin/run.js (one implementation; see ../command-shell.ts).
 */
import type {CommandShell} from '../command-shell.js'
import {sessionOverridesOf} from '../config/settings.js'
import {refreshSession} from '../oauth/sessions.js'
import {presentToken, proofRequestOf} from '../oauth/token-header.js'
import {checkTokenFormat, type TokenFormat, tokenJson, type TokenJson} from '../output.js'
import type {CommandInput} from './input.js'
import type * as SessionRefresh from './session-refresh.flags.js'

export async function sessionRefresh({flags}: CommandInput<typeof SessionRefresh>, shell: CommandShell): Promise<TokenJson> {
  checkTokenFormat(flags.format)
  const proofRequest = proofRequestOf(flags)
  const options = {...sessionOverridesOf(flags), force: flags.force, minTtlSeconds: flags['min-ttl']}
  const {proofs, result, summary} = await refreshSession(flags['session-key'], options, shell.runtime())
  const noKey = async (): Promise<never> => {
    throw new Error(`session ${flags['session-key']} has a DPoP-bound token but no key`)
  }

  shell.log(await presentToken(result.token, flags.format as TokenFormat, proofRequest, proofs ?? noKey, {session: flags['session-key']}))
  return {session_key: summary.session_key, ...tokenJson(result, {client: summary.client})}
}
