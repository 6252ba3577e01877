import {type Command, Help, type Interfaces} from '@oclif/core'

/**
 * `tokenctl help` and `tokenctl --help` list every command, `token client` and `session refresh`
 * included, not only the topics: there are few, and the list is what a newcomer looks for. Hidden
 * commands stay hidden (oclif's `all` would show them).
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
}
