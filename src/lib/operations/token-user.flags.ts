/**
 * The command line of `token user` (src/commands/token/user.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Args, Flags} from '@oclif/core'

import {MAX_TIMEOUT_SECONDS} from '../config/timeouts.js'
import {connectionFlags, formatFlag, outputFlag} from '../flags.js'

export const args = {
  name: Args.string({description: 'named client: usually a public client (no secret)', ignoreStdin: true}),
}

export const flags = {
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
