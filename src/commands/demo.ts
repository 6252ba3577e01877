import {BaseCommand} from '../lib/base-command.js'
import {runDemo} from '../lib/demo.js'

export default class Demo extends BaseCommand {
  static override description = `Starts the embedded authorization server (tokenctl dev idp) on a free port and walks both seed flows, each step a real tokenctl command:
the worker (client add, token client twice — identity provider, then cache — and call), then the web API (a user signs in with the device flow, token obo, session start, session refresh twice — cache, then identity provider after expiry — call with the session, session end).
It uses a temporary TOKENCTL_HOME and store of its own, never yours. Exit 0 only when every step worked.`

  static override enableJsonFlag = false
  static override examples = ['<%= config.bin %> <%= command.id %>']
  static override summary = 'Walk both seed flows against a local authorization server'

  async run(): Promise<void> {
    await this.parse(Demo)
    const say = (text: string) => process.stderr.write(`${text}\n`)
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
