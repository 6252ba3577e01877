import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import type {ClientView} from '../../lib/config/named-clients.js'
import {connectionFlags} from '../../lib/flags.js'
import {clientAdd} from '../../lib/operations/clients.js'

export default class ClientAdd extends BaseCommand {
  static override args = {
    name: Args.string({ignoreStdin: true, description: 'name to give the client (A-Z a-z 0-9 . _ : -)', required: true}),
  }

  static override description = `Like IdentityModel's options.Client.Clients.Add("identityserver", …): the non-secret settings go to TOKENCTL_HOME/config.json, the credential (a secret, a private key or a certificate, if one is given) to the secure store.
A federated token source (--federated-token-file, --federated-token-env, --federated-token-github) is kept in config.json as where to read the token for every request, never the token.`

  static override examples = [
    'printf %s "$CI_SECRET" | <%= config.bin %> <%= command.id %> ci --issuer https://idp.example.com --client-id ci --scope api --client-secret-stdin',
    '<%= config.bin %> <%= command.id %> signer --token-endpoint https://idp.example.com/token --client-id signer --private-key-file key.pem',
    '<%= config.bin %> <%= command.id %> api --issuer https://login.microsoftonline.com/$TENANT/v2.0 --client-id $APP_ID --certificate-file api.pfx --certificate-password-env PFX_PASSWORD',
    '<%= config.bin %> <%= command.id %> nightly --issuer https://login.microsoftonline.com/$TENANT/v2.0 --client-id $APP_ID --federated-token-file "$AZURE_FEDERATED_TOKEN_FILE"',
  ]

  static override flags = {
    ...connectionFlags,
    replace: Flags.boolean({description: 'replace a client of the same name'}),
  }

  static override summary = 'Add a named client'

  async run(): Promise<ClientView> {
    return clientAdd(await this.parse(ClientAdd), this.shell)
  }

}
