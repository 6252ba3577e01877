import {BaseCommand} from '../../lib/base-command.js'
import * as commandLine from '../../lib/operations/session-refresh.flags.js'
import {sessionRefresh} from '../../lib/operations/session-refresh.js'
import type {TokenJson} from '../../lib/output.js'

export default class SessionRefresh extends BaseCommand {
  static override description = `The cron job's command: the session's access token while it is valid (token_source: cache), else a refresh-token grant (identity_provider).
Overlapping runs serialize on the session's lock and never present one refresh token twice; a rotated refresh token is stored before the command returns.
The session keeps its credential (or follows its named client's), so a cron line needs only --session-key; credential flags given here override it for this run.
Exit 5: the user must sign in again (the session is kept, marked needs_reauthentication). Exit 6: network or server trouble; the session is unchanged.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --session-key nightly-report',
    '*/10 * * * * TOKENCTL_STORE=file TOKENCTL_STORE_PASSPHRASE_FILE=/etc/tokenctl/pass <%= config.bin %> <%= command.id %> --session-key nightly-report --format header --output /run/report/auth-header',
  ]

  static override flags = commandLine.flags

  static override summary = 'Get an access token for a session'

  async run(): Promise<TokenJson> {
    return sessionRefresh(await this.parse(SessionRefresh), this.shell)
  }
}
