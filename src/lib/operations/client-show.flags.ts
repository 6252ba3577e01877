/**
 * The command line of `client show` (src/commands/client/show.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Args} from '@oclif/core'

export const args = {name: Args.string({ignoreStdin: true, description: 'client name', required: true})}
