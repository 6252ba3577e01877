import {BaseCommand} from '../lib/base-command.js'
import {demo} from '../lib/operations/demo.js'

export default class Demo extends BaseCommand {
  static override description = `Starts the embedded authorization server (tokenctl dev idp) on a free port and walks both reference flows, each step a real tokenctl command:
IdentityModel's worker (client add, token client twice — identity provider, then cache — and call), then Microsoft.Identity.Web's long-running OBO in a web API (a user signs in with the device flow, token obo, session start, session refresh twice — cache, then identity provider after expiry — call with the session, session end).
The walk is the command's output, on stdout (tokenctl demo | less). It uses a temporary TOKENCTL_HOME and store of its own, never yours. Exit 0 only when every step worked.`

  static override enableJsonFlag = false
  static override examples = ['<%= config.bin %> <%= command.id %>']
  static override summary = "Walk IdentityModel's worker and Microsoft.Identity.Web's long-running OBO against a local authorization server"

  async run(): Promise<void> {
    await this.parse(Demo)
    return demo({tokenctl: [process.execPath, process.argv[1]]}, this.shell)
  }
}
