import {BaseCommand} from '../../lib/base-command.js'
import * as commandLine from '../../lib/operations/token-client.flags.js'
import {tokenClient} from '../../lib/operations/token-client.js'
import type {TokenJson} from '../../lib/output.js'

export default class TokenClient extends BaseCommand {
  static override args = commandLine.args

  static override description = `Client credentials grant (RFC 6749 §4.4), cached in the secure store.
A cached token is returned while it has more than max(--min-ttl, 60) seconds left; concurrent runs for the same cache key make one token request.`

  static override examples = [
    'TOKEN=$(<%= config.bin %> <%= command.id %> ci)',
    '<%= config.bin %> <%= command.id %> ci --scope api --format header',
    '<%= config.bin %> <%= command.id %> --token-endpoint https://idp.example.com/token --client-id worker --client-secret-env WORKER_SECRET --no-cache',
    '<%= config.bin %> <%= command.id %> --issuer https://login.microsoftonline.com/$TENANT_ID/v2.0 --client-id $CLIENT_ID --federated-token-github --scope api://my-api/.default --no-cache   # GitHub Actions, permissions: id-token: write',
  ]

  static override flags = commandLine.flags

  static override summary = 'Get a client-credentials access token'

  async run(): Promise<TokenJson> {
    return tokenClient(await this.parse(TokenClient), this.shell)
  }
}
