import {BaseCommand} from '../../lib/base-command.js'
import {storeStatus} from '../../lib/operations/store-status.js'
import type {StoreStatus} from '../../lib/store/status.js'

export default class StoreStatusCommand extends BaseCommand {
  static override description = `Which secure store is in use (keychain, file or redis), why it was chosen (TOKENCTL_STORE), where it lives (for Redis: the server, the master Sentinel names or a Cluster's masters, never the password), and whether it answers now. Never shows a secret.
Exits 7 when the store does not answer.`

  static override examples = ['<%= config.bin %> <%= command.id %>', 'TOKENCTL_STORE=file <%= config.bin %> <%= command.id %> --json']
  static override summary = 'Show the secure store in use'

  async run(): Promise<StoreStatus> {
    return storeStatus(await this.parse(StoreStatusCommand), this.shell)
  }
}
