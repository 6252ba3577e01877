/**
 * What a command's operation is given: the args and flags its command line parsed to, typed from the
 * definitions oclif parses (oclif's InferredArgs / InferredFlags), so that no hand-kept interface can
 * drift from the flags a user types. The definitions are in `<command>.flags.ts` beside the operations
 * (`token-client.flags.ts` for `token client`), which the command and its operation both import: the
 * operation as a type only, so that the fast path loads operations without oclif, and the library
 * never imports a command.
 */
import type {Interfaces} from '@oclif/core'

import type {CommandShell} from '../command-shell.js'

/** What a command line holds: a `<command>.flags.ts` module (`typeof` its namespace import), or a command class. */
interface Definitions {
  args?: unknown
  flags?: unknown
}

export interface CommandInput<C extends Definitions> {
  args: Interfaces.InferredArgs<C['args']>
  /** What follows the first `--` of a command that runs another (`exec`), untouched. */
  command?: string[]
  flags: Interfaces.InferredFlags<C['flags']>
}

/** A command's work once its command line is parsed; the same function whichever path runs it. */
export type Operation<I, R> = (input: I, shell: CommandShell) => Promise<R>
