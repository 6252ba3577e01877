import {BaseCommand} from '../../lib/base-command.js'
import type {ClientView} from '../../lib/config/named-clients.js'
import * as commandLine from '../../lib/operations/client-show.flags.js'
import {clientShow} from '../../lib/operations/clients.js'

export default class ClientShow extends BaseCommand {
  static override args = commandLine.args
  static override description = `Shows a named client's settings and where its credential is kept (keychain, file store, shared store, a federated token's file, variable or runner). The credential is never shown.
For a certificate: its SHA-256 thumbprint (as openssl x509 -fingerprint -sha256 prints it) and expiry, with a warning on stderr within 30 days of it.`
  static override examples = ['<%= config.bin %> <%= command.id %> ci', '<%= config.bin %> <%= command.id %> ci --json']
  static override summary = 'Show a named client'

  async run(): Promise<ClientView> {
    return clientShow(await this.parse(ClientShow), this.shell)
  }
}
