import {BaseCommand, stdoutColors} from '../../lib/base-command.js'
import {type ClientView, listClientViews} from '../../lib/config/named-clients.js'
import {formatTable} from '../../lib/output.js'

export default class ClientList extends BaseCommand {
  static override description = `Lists the named clients of TOKENCTL_HOME/config.json. Secrets are never shown: only whether one is stored.
On a terminal: a table with a header; piped: the same rows, tab-separated, without header or colour. --json for scripts.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override summary = 'List named clients'

  async run(): Promise<ClientView[]> {
    await this.parse(ClientList)
    const clients = listClientViews()
    if (clients.length === 0) {
      this.logToStderr('no clients yet: tokenctl client add NAME …')
      return clients
    }

    const colors = await stdoutColors()
    const rows = clients.map((client) => [
      client.name,
      client.client_id,
      client.token_endpoint ?? client.issuer ?? '-',
      client.auth_method,
      client.secret,
      client.scopes.join(' ') || '-',
    ])
    const headers = ['NAME', 'CLIENT ID', 'ISSUER / TOKEN ENDPOINT', 'AUTH', 'SECRET', 'SCOPES']
    for (const line of formatTable(headers, rows, {header: colors.bold, terminal: Boolean(process.stdout.isTTY)})) this.log(line)
    return clients
  }
}
