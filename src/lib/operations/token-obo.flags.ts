/**
 * The command line of `token obo` (src/commands/token/obo.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Args, Flags} from '@oclif/core'

import {assertionFlags, cacheFlags, connectionFlags, formatFlag, outputFlag} from '../flags.js'

export const args = {
  name: Args.string({description: "named client: the web API that exchanges the user's token", ignoreStdin: true}),
}

export const flags = {
  ...connectionFlags,
  ...assertionFlags,
  ...cacheFlags,
  ...formatFlag,
  ...outputFlag,
  'requested-token-type': Flags.string({description: "rfc8693: requested_token_type (default: the server's choice)", helpValue: 'URI'}),
}
