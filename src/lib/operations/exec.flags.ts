/**
 * The command line of `exec` (src/commands/exec.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Args, Flags} from '@oclif/core'

import {cacheFlags, connectionFlags, sessionKey} from '../flags.js'
import {environmentVariableName} from '../secret-variables.js'

const SOURCE = 'TOKEN SOURCE'

export const args = {
  name: Args.string({description: 'named client (tokenctl client add): client credentials, cached; as --client', ignoreStdin: true}),
}

export const flags = {
  ...connectionFlags,
  ...cacheFlags,
  client: Flags.string({description: 'named client: client credentials, cached (as NAME)', helpGroup: SOURCE, helpValue: 'NAME'}),
  // environmentVariableFlag's parser, with a default: the fast path recognises it too (scripts/fast-path-table.mjs).
  env: Flags.string({default: 'ACCESS_TOKEN', description: "the variable of COMMAND's environment that holds the token", helpValue: 'VAR', parse: environmentVariableName}),
  'session-key': Flags.string({...sessionKey('session', "a session: its access token, by session refresh's rules"), exclusive: ['client'], helpGroup: SOURCE}),
}
