import {Args} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {clientRemove} from '../../lib/operations/clients.js'

export default class ClientRemove extends BaseCommand {
  static override args = {name: Args.string({ignoreStdin: true, description: 'client name', required: true})}
  static override description = 'Removes a named client: its settings and its secret in the secure store.'
  static override examples = ['<%= config.bin %> <%= command.id %> ci']
  static override summary = 'Remove a named client'

  async run(): Promise<{name: string; secret_removed: boolean}> {
    return clientRemove(await this.parse(ClientRemove), this.shell)
  }
}
