import type {Hook} from '@oclif/core'

import {ExitCode} from '../lib/errors.js'
import {closestCommands} from '../lib/suggest.js'

/**
 * An unknown command: one line on stderr naming the closest commands, exit 127 (as a shell says
 * "command not found"). It never asks "Did you mean …? (Y/n)" as @oclif/plugin-not-found does on a
 * terminal: a script cannot answer, and running a command the user did not type is a guess.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const {config} = options
  const separator = config.topicSeparator
  // Topics too (`session` for `sesion`): `tokenctl session` lists its commands.
  const names = [...config.commands, ...config.topics].filter((entry) => !entry.hidden).map((entry) => ('id' in entry ? entry.id : entry.name))
  const commands = [...new Set(names)].map((name) => name.replaceAll(':', ' '))
  const typed = [...options.id.split(':'), ...(options.argv ?? []).filter((word) => !word.startsWith('-'))]
  const shown = options.id.replaceAll(':', separator)
  const suggestions = closestCommands(typed, commands)
  const mean = suggestions.length > 0 ? ` — did you mean ${suggestions.map((command) => `\`${command}\``).join(' or ')}?` : ''
  process.stderr.write(`Error: ${shown} is not a ${config.bin} command${mean} (\`${config.bin} help\` lists every command)\n`)
  this.exit(ExitCode.commandNotFound)
}

export default hook
