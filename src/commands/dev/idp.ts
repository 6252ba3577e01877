import {BaseCommand} from '../../lib/base-command.js'
import * as commandLine from '../../lib/operations/dev-idp.flags.js'
import {devIdp} from '../../lib/operations/dev-idp.js'

export default class DevIdp extends BaseCommand {
  static override description = `Runs a local authorization server (oidc-provider) to try every flow on, without a cloud tenant.
Client credentials, on-behalf-of (jwt-bearer and RFC 8693 token exchange), refresh tokens with rotation and reuse detection, the device flow, authorization code with PKCE through a loopback redirect (any user name signs in), revocation, JWT access tokens and a JWKS.
It listens on 127.0.0.1 only and answers only requests addressed to localhost, 127.0.0.1 or [::1] (a web page cannot reach it by DNS rebinding) and, from a browser, only its own pages; it keeps everything in memory, and prints its issuer, its clients with their fixed development secrets, its resources and commands to try; --json prints the same as one JSON line once it listens.
DPoP (RFC 9449): tokens are bound to the key of a client that sends a proof (the dpop client must), a nonce is asked for first, and the API checks proofs with a nonce of its own.
--tls: https with a CA of its own (its file printed; pass it to --ca-file), and a second port that asks for client certificates: the mtls_endpoint_aliases, an mtls client registered by its certificate (written beside the CA), certificate-bound tokens and the API that checks them.
Ctrl-C stops it.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --port 9000',
    '<%= config.bin %> <%= command.id %> --port 0 --json > idp.json &   # then: jq -r .issuer idp.json',
    '<%= config.bin %> <%= command.id %> --tls',
  ]

  static override flags = commandLine.flags

  static override summary = 'Run a local authorization server for development'

  async run(): Promise<void> {
    const parsed = await this.parse(DevIdp)
    return devIdp({...parsed, bin: this.config.bin}, this.shell)
  }
}
