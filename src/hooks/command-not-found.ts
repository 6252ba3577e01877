import type {Hook} from '@oclif/core'

import {ExitCode} from '../lib/errors.js'
import {unknownCommandLine} from '../lib/suggest.js'

/** The commands and topics a user can type, as typed (`token client`); hidden ones left out. */
export function visibleCommands(config: {commands: Array<{hidden?: boolean; id: string}>; topics: Array<{hidden?: boolean; name: string}>}): string[] {
  // Topics too (`session` for `sesion`): `tokenctl session` lists its commands.
  const names = [...config.commands, ...config.topics].filter((entry) => !entry.hidden).map((entry) => ('id' in entry ? entry.id : entry.name))
  return [...new Set(names)].map((name) => name.replaceAll(':', ' '))
}

/**
 * An unknown command: one line on stderr naming the closest commands, exit 127 (as a shell says
 * "command not found"). It never asks "Did you mean …? (Y/n)" as @oclif/plugin-not-found does on a
 * terminal: a script cannot answer, and running a command the user did not type is a guess.
 * oclif reads the words after a command that takes no arguments as more of its name (`session list
 * extra`): that command was typed, so it runs, and tells its own mistake (one argument too many).
 */
const hook: Hook.CommandNotFound = async function (options) {
  const {config} = options
  const words = options.id.split(':')
  const typed = words.findLastIndex((_, at) => at < words.length - 1 && config.findCommand(words.slice(0, at + 1).join(':')) !== undefined)
  if (typed !== -1) {
    await config.runCommand(words.slice(0, typed + 1).join(':'), [...words.slice(typed + 1), ...(options.argv ?? [])])
    return
  }

  process.stderr.write(`${unknownCommandLine(words, options.argv ?? [], visibleCommands(config), config.bin)}\n`)
  this.exit(ExitCode.commandNotFound)
}

export default hook
