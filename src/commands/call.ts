import {BaseCommand} from '../lib/base-command.js'
import * as commandLine from '../lib/operations/call.flags.js'
import {call, type CallJson} from '../lib/operations/call.js'

export default class Call extends BaseCommand {
  static override args = commandLine.args

  static override description = `Calls an HTTP API with a managed token attached, as IdentityModel's ClientAccessTokenHandler does.
The body streams to stdout (or -o PATH), binary-safe. Retries (default 3): connection errors, 429, 502, 503, 504, for idempotent methods (all with --retry-all), exponential backoff with jitter, Retry-After honoured.
A 401 with --client or --session-key renews the token once and retries once, saying so on stderr. Status >= 400 after retries: exit 8, the body still printed (unless --no-fail).
A DPoP-bound token goes as Authorization: DPoP with a fresh proof per request (the API's nonce challenge is answered once, not counted as the renewal); a certificate-bound one over a connection presenting the client's certificate.
A body without -H 'Content-Type: …' is sent as application/json when -d is JSON, application/x-www-form-urlencoded for other -d data, application/octet-stream for --data-file.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> https://api.example.com/things --client ci',
    '<%= config.bin %> <%= command.id %> https://graph.microsoft.com/v1.0/me --session-key nightly-report -i',
    '<%= config.bin %> <%= command.id %> https://api.example.com/upload --token-env TOKEN -X PUT --data-file big.bin',
    '<%= config.bin %> <%= command.id %> https://api.example.com/things --client ci -d \'{"name":"x"}\' --json',
  ]

  static override flags = commandLine.flags

  static override summary = 'Call an API with a managed token'

  async run(): Promise<CallJson | undefined> {
    return call(await this.parse(Call), this.shell)
  }
}
