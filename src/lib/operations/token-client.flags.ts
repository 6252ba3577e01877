/**
 * The command line of `token client` (src/commands/token/client.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Args} from '@oclif/core'

import {cacheFlags, connectionFlags, formatFlag, outputFlag} from '../flags.js'

export const args = {
  name: Args.string({ignoreStdin: true, description: 'named client (tokenctl client add); without one, flags and environment only'}),
}

export const flags = {...connectionFlags, ...cacheFlags, ...formatFlag, ...outputFlag}
