/**
 * The command line of `token decode` (src/commands/token/decode.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Args} from '@oclif/core'

export const args = {
  token: Args.string({ignoreStdin: true, description: 'the JWT, or - (the default) to read it from stdin'}),
}
