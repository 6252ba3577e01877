/**
 * The command line of `session end` (src/commands/session/end.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Flags} from '@oclif/core'

import {sessionClientFlags, sessionKey} from '../flags.js'

export const flags = {
  ...sessionClientFlags,
  'session-key': Flags.string({...sessionKey('key', 'the session'), required: true}),
  'no-revoke': Flags.boolean({description: 'remove the session without revoking its refresh token'}),
}
