import {type Command, Errors, Help, type Interfaces, toStandardizedId} from '@oclif/core'
import {getHelpFlagAdditions} from '@oclif/core/help'

import {visibleCommands} from './hooks/command-not-found.js'
import {ExitCode} from './lib/errors.js'
import {unknownCommandLine} from './lib/suggest.js'

/**
 * `tokenctl help` and `tokenctl --help` list every command, `token client` and `session refresh`
 * included, not only the topics: there are few, and the list is what a newcomer looks for. Hidden
 * commands stay hidden (oclif's `all` would show them). Help for a command that does not exist
 * (`tokenctl help token clinet`, `tokenctl token clinet --help`) is told as the unknown command itself
 * is: exit 127, naming the closest ones.
 */
export default class TokenctlHelp extends Help {
  constructor(config: Interfaces.Config, options: Partial<Interfaces.HelpOptions> = {}) {
    super(config, {...options, all: true})
  }

  protected override get sortedCommands(): Command.Loadable[] {
    return super.sortedCommands.filter((command) => !command.hidden)
  }

  protected override get sortedTopics(): Interfaces.Topic[] {
    return super.sortedTopics.filter((topic) => !topic.hidden)
  }

  override async showHelp(argv: string[]): Promise<void> {
    const helpFlags = getHelpFlagAdditions(this.config)
    const rest = argv.filter((word) => !helpFlags.includes(word))
    const end = rest.findIndex((word) => word.startsWith('-'))
    const words = end === -1 ? rest : rest.slice(0, end)
    if (words.length > 0 && !this.names(words)) {
      process.stderr.write(`${unknownCommandLine(words, [], visibleCommands(this.config), this.config.bin)}\n`)
      Errors.exit(ExitCode.commandNotFound)
    }

    return super.showHelp(argv)
  }

  /** Whether the words name a command or a topic, or begin with a command's name (the rest its arguments). */
  private names(words: string[]): boolean {
    const known = visibleCommands(this.config)
    if (known.includes(words.join(' '))) return true
    return words.some((_, at) => this.config.findCommand(toStandardizedId(words.slice(0, at + 1).join(':'), this.config)) !== undefined)
  }
}
