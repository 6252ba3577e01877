import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {MAX_TIMEOUT_SECONDS} from '../../lib/config/timeouts.js'
import {connectionFlags, formatFlag, outputFlag} from '../../lib/flags.js'
import {tokenUser} from '../../lib/operations/token-user.js'
import type {TokenJson} from '../../lib/output.js'

export default class TokenUser extends BaseCommand {
  static override args = {
    name: Args.string({description: 'named client: usually a public client (no secret)', ignoreStdin: true}),
  }

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

  static override flags = {
    ...connectionFlags,
    ...formatFlag,
    ...outputFlag,
    browser: Flags.boolean({description: 'sign in through the browser (authorization code + PKCE)', exclusive: ['device']}),
    device: Flags.boolean({description: 'sign in with a code on another device (RFC 8628)', exclusive: ['browser']}),
    'no-open': Flags.boolean({description: 'do not open the browser ($BROWSER, else the system browser): only print the URL to visit'}),
    // The positive twin of --no-open, from when it was --[no-]open: the default, so it changes nothing.
    open: Flags.boolean({
      deprecated: {message: '--open is deprecated and goes in the next release: the browser opens by default (--no-open only prints the URL)'},
      exclusive: ['no-open'],
      hidden: true,
    }),
    replace: Flags.boolean({description: 'replace an existing session with this --session-key'}),
    'session-key': Flags.string({description: 'keep the refresh token as a session under this key', helpValue: 'KEY'}),
    wait: Flags.integer({default: 300, description: `seconds to wait for the person to sign in, at most ${MAX_TIMEOUT_SECONDS}`, max: MAX_TIMEOUT_SECONDS, min: 1}),
  }

  static override summary = 'Sign a user in and get their access token'

  async run(): Promise<TokenJson> {
    const parsed = await this.parse(TokenUser)
    return tokenUser({...parsed, argv: this.argv, bin: this.config.bin}, this.shell)
  }
}
