/**
 * The command line of `session start` (src/commands/session/start.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Args, Flags} from '@oclif/core'

import {assertionFlags, connectionFlags, outputFlag, sessionKey} from '../flags.js'

export const args = {
  name: Args.string({description: 'named client: the web API that keeps working for the user', ignoreStdin: true}),
}

export const flags = {
  ...connectionFlags,
  ...assertionFlags,
  ...outputFlag,
  replace: Flags.boolean({description: 'replace an existing session with this --session-key'}),
  'session-key': Flags.string(sessionKey('key', "the session's key: 1–128 characters of A-Z a-z 0-9 . _ : - (default: from the assertion)")),
}
