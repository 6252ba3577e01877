/**
 * The command line of `session show` (src/commands/session/show.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Flags} from '@oclif/core'

import {sessionKey} from '../flags.js'

export const flags = {'session-key': Flags.string({...sessionKey('key', 'the session'), required: true})}
