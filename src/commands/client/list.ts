import {BaseCommand} from '../../lib/base-command.js'
import type {ClientView} from '../../lib/config/named-clients.js'
import {clientList} from '../../lib/operations/clients.js'

export default class ClientList extends BaseCommand {
  static override description = `Lists the named clients of TOKENCTL_HOME/config.json. Secrets are never shown: only whether one is stored.
On a terminal: a table with a header; piped: the same rows, tab-separated, without header or colour. --json for scripts.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override summary = 'List named clients'

  async run(): Promise<ClientView[]> {
    return clientList(await this.parse(ClientList), this.shell)
  }
}
