import {Args} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {type ClientView, showClient} from '../../lib/config/named-clients.js'
import {fieldLines} from '../../lib/output.js'

export default class ClientShow extends BaseCommand {
  static override args = {name: Args.string({ignoreStdin: true, description: 'client name', required: true})}
  static override description = 'Shows a named client\'s settings. The secret is never shown: only whether one is stored.'
  static override examples = ['<%= config.bin %> <%= command.id %> ci', '<%= config.bin %> <%= command.id %> ci --json']
  static override summary = 'Show a named client'

  async run(): Promise<ClientView> {
    const {args} = await this.parse(ClientShow)
    const client = showClient(args.name)
    for (const line of fieldLines(client)) this.log(line)

    return client
  }
}
