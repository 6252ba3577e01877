import {BaseCommand} from '../lib/base-command.js'
import {runDemo} from '../lib/demo.js'

export default class Demo extends BaseCommand {
  static override description = `Starts the embedded authorization server (tokenctl dev idp) on a free port and walks both reference flows, each step a real tokenctl command:
IdentityModel's worker (client add, token client twice — identity provider, then cache — and call), then Microsoft.Identity.Web's long-running OBO in a web API (a user signs in with the device flow, token obo, session start, session refresh twice — cache, then identity provider after expiry — call with the session, session end).
The walk is the command's output, on stdout (tokenctl demo | less). It uses a temporary TOKENCTL_HOME and store of its own, never yours. Exit 0 only when every step worked.`

  static override enableJsonFlag = false
  static override examples = ['<%= config.bin %> <%= command.id %>']
  static override summary = "Walk IdentityModel's worker and Microsoft.Identity.Web's long-running OBO against a local authorization server"

  async run(): Promise<void> {
    await this.parse(Demo)
    // The walk is what this command is for, so it is its output: `demo | less` shows it. A reader who
    // quits early closes the pipe; the steps still run to the end and clean up after themselves.
    process.stdout.on('error', () => {})
    const say = (text: string) => process.stdout.write(`${text}\n`)
    let section = ''
    const reporter = {
      command: (line: string) => say(`    $ ${line}`),
      outcome: (text: string) => say(`    → ${text}`),
      step(number: number, title: string, stepSection: string) {
        if (stepSection !== section) say(`\n${(section = stepSection)}`)
        say(`\n  ${number}. ${title}`)
      },
    }
    await runDemo(reporter, {tokenctl: [process.execPath, process.argv[1]]})
    say('\nEvery step worked.')
  }
}
