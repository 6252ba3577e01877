import {BaseCommand} from '../../lib/base-command.js'
import type {ClientView} from '../../lib/config/named-clients.js'
import * as commandLine from '../../lib/operations/client-add.flags.js'
import {clientAdd} from '../../lib/operations/clients.js'

export default class ClientAdd extends BaseCommand {
  static override args = commandLine.args

  static override description = `Like IdentityModel's options.Client.Clients.Add("identityserver", …): the non-secret settings go to TOKENCTL_HOME/config.json, the credential (a secret, a private key or a certificate, if one is given) to the secure store.
A federated token source (--federated-token-file, --federated-token-env, --federated-token-github) is kept in config.json as where to read the token for every request, never the token.`

  static override examples = [
    'printf %s "$CI_SECRET" | <%= config.bin %> <%= command.id %> ci --issuer https://idp.example.com --client-id ci --scope api --client-secret-stdin',
    '<%= config.bin %> <%= command.id %> signer --token-endpoint https://idp.example.com/token --client-id signer --private-key-file key.pem',
    '<%= config.bin %> <%= command.id %> api --issuer https://login.microsoftonline.com/$TENANT/v2.0 --client-id $APP_ID --certificate-file api.pfx --certificate-password-env PFX_PASSWORD',
    '<%= config.bin %> <%= command.id %> nightly --issuer https://login.microsoftonline.com/$TENANT/v2.0 --client-id $APP_ID --federated-token-file "$AZURE_FEDERATED_TOKEN_FILE"',
  ]

  // A client keeps what these flags give, never TOKENCTL_* variables (read where a client is used):
  // its id and its server are required here.
  static override flags = commandLine.flags

  static override summary = 'Add a named client'

  async run(): Promise<ClientView> {
    return clientAdd(await this.parse(ClientAdd), this.shell)
  }
}
