import {Args, loadHelpClass} from '@oclif/core'

import {BaseCommand} from '../lib/base-command.js'

/**
 * `tokenctl help [COMMAND]`: the command list, or one command's help, as --help shows them (src/help.ts,
 * which tells an unknown COMMAND as an unknown command). Its own rather than @oclif/plugin-help's,
 * so that a mistake on its command line is said as any other command's is.
 */
export default class Help extends BaseCommand {
  static override args = {command: Args.string({description: 'the command, its words separated by spaces (token client)', ignoreStdin: true})}
  static override description = 'Shows the list of every command, or the help of one (as COMMAND --help does).'
  static override enableJsonFlag = false
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> token client']
  static override strict = false
  static override summary = 'Show every command, or the help of one'
  static override usage = '<%= command.id %> [COMMAND…]'

  async run(): Promise<void> {
    const {argv} = await this.parse(Help)
    const HelpClass = await loadHelpClass(this.config)
    await new HelpClass(this.config, this.config.pjson.oclif.helpOptions).showHelp(argv as string[])
  }
}
