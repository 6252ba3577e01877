import {BaseCommand} from '../../lib/base-command.js'
import * as commandLine from '../../lib/operations/token-user.flags.js'
import {tokenUser} from '../../lib/operations/token-user.js'
import type {TokenJson} from '../../lib/output.js'

export default class TokenUser extends BaseCommand {
  static override args = commandLine.args

  static override description = `Signs a user in and prints the access token a web API would receive (the on-behalf-of assertion).
--device: the device authorization grant (RFC 8628); the code and the URL to visit on stderr.
--browser (the default when stderr is a terminal): authorization code with S256 PKCE through a loopback redirect on 127.0.0.1,
the page opened with $BROWSER (a :-separated list; %s is the URL; WSL: BROWSER=wslview), else xdg-open, open or start.
--session-key keeps the refresh token as a session, so that tokenctl session refresh serves the user's own token too.
Ctrl-C cancels (exit 130); a sign-in the person refused, or that expired, is exit 5.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> cli --scope access_as_user --device',
    '<%= config.bin %> <%= command.id %> web --scope api://api/access_as_user --device | <%= config.bin %> token obo api --assertion-stdin --scope downstream.read',
    '<%= config.bin %> <%= command.id %> cli --scope access_as_user --session-key me',
  ]

  static override flags = commandLine.flags

  static override summary = 'Sign a user in and get their access token'

  async run(): Promise<TokenJson> {
    const parsed = await this.parse(TokenUser)
    return tokenUser({...parsed, argv: this.argv, bin: this.config.bin}, this.shell)
  }
}
