import {Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {sessionOverridesOf} from '../../lib/config/settings.js'
import {sessionClientFlags} from '../../lib/flags.js'
import {type EndResult, endSession} from '../../lib/oauth/sessions.js'

export default class SessionEnd extends BaseCommand {
  static override description = `Ends a session: revokes its refresh token at the server's revocation_endpoint (RFC 7009, token_type_hint=refresh_token) when there is one, then removes it.
A failed revocation is a warning: the local session is removed all the same.`

  static override examples = ['<%= config.bin %> <%= command.id %> --key nightly-report', '<%= config.bin %> <%= command.id %> --key nightly-report --no-revoke']
  static override flags = {
    ...sessionClientFlags,
    key: Flags.string({description: 'session key', required: true}),
    'no-revoke': Flags.boolean({description: 'remove the session without revoking its refresh token'}),
  }

  static override summary = 'End a session'

  async run(): Promise<EndResult> {
    const {flags} = await this.parse(SessionEnd)
    const result = await endSession(flags.key, {...sessionOverridesOf(flags), revoke: !flags['no-revoke']}, this.runtime())
    if (result.warning) this.logToStderr(`warning: the refresh token was not revoked: ${result.warning}`)
    const revocation = {failed: 'not revoked', not_supported: 'the server has no revocation endpoint', revoked: 'refresh token revoked', skipped: 'not revoked (--no-revoke)'}
    this.logToStderr(`ended session ${result.session_key} (${revocation[result.revocation]})`)
    return result
  }
}
