/**
 * The command line of `session refresh` (src/commands/session/refresh.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Flags} from '@oclif/core'

import {cacheFlags, formatFlag, outputFlag, sessionClientFlags, sessionKey} from '../flags.js'

export const flags = {
  ...sessionClientFlags,
  force: cacheFlags.force,
  format: formatFlag.format,
  'session-key': Flags.string({...sessionKey('key', 'the session'), required: true}),
  method: formatFlag.method,
  url: formatFlag.url,
  'min-ttl': cacheFlags['min-ttl'],
  ...outputFlag,
}
