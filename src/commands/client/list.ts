import {BaseCommand} from '../../lib/base-command.js'
import {type ClientView, listClientViews} from '../../lib/config/named-clients.js'

export default class ClientList extends BaseCommand {
  static override description = 'Lists the named clients of TOKENCTL_HOME/config.json. Secrets are never shown: only whether one is stored.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override summary = 'List named clients'

  async run(): Promise<ClientView[]> {
    await this.parse(ClientList)
    const clients = listClientViews()
    if (clients.length === 0) this.logToStderr('no clients yet: tokenctl client add NAME …')
    for (const client of clients) {
      this.log([client.name, client.client_id, client.token_endpoint ?? client.issuer, client.auth_method, `secret:${client.secret}`].join('\t'))
    }

    return clients
  }
}
