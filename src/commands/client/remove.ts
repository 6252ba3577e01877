import {BaseCommand} from '../../lib/base-command.js'
import * as commandLine from '../../lib/operations/client-remove.flags.js'
import {clientRemove} from '../../lib/operations/clients.js'

export default class ClientRemove extends BaseCommand {
  static override args = commandLine.args
  static override description = 'Removes a named client: its settings and its secret in the secure store.'
  static override examples = ['<%= config.bin %> <%= command.id %> ci']
  static override summary = 'Remove a named client'

  async run(): Promise<{name: string; secret_removed: boolean}> {
    return clientRemove(await this.parse(ClientRemove), this.shell)
  }
}
