/** `demo`: both reference flows walked against a local authorization server; the walk is the output, on stdout. */
import type {CommandShell} from '../command-shell.js'

export interface DemoInput {
  /** How to run tokenctl itself for each step: node and this script. */
  tokenctl: [string, string]
}

export async function demo({tokenctl}: DemoInput, _shell: CommandShell): Promise<void> {
  const {runDemo} = await import('../demo.js')
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
  await runDemo(reporter, {tokenctl})
  say('\nEvery step worked.')
}
