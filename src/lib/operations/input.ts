/**
 * What a command's operation is given: the args and flags its command line parsed to, typed from the
 * command's own definitions (oclif's InferredArgs / InferredFlags), so that no hand-kept interface can
 * drift from the flags a user types. Types only: the fast path loads operations without oclif.
 */
import type {Interfaces} from '@oclif/core'

import type {CommandShell} from '../command-shell.js'

/** The part of a command class that says what its command line holds. */
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
