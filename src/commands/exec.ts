import {BaseCommand} from '../lib/base-command.js'
import {UsageError} from '../lib/errors.js'
import * as commandLine from '../lib/operations/exec.flags.js'
import {exec, EXEC_EXAMPLE} from '../lib/operations/exec.js'
import {UnexpectedArgumentsError} from '../lib/parse-errors.js'

export default class Exec extends BaseCommand {
  static override args = commandLine.args

  static override description = `Runs COMMAND with an access token in its environment (ACCESS_TOKEN, or --env VAR), never in its arguments, as aws-vault exec and op run do.
The token comes as token client gets it (NAME, --client NAME or connection flags; cached) or as session refresh does (--session-key KEY), before COMMAND starts: when there is none, COMMAND does not run and the exit code is tokenctl's.
COMMAND's stdin, stdout and stderr are its own; SIGINT, SIGTERM and SIGHUP are passed on to it; its exit code is tokenctl's (128 + the signal's number when a signal ended it; 127 when there is no such command, 126 when it cannot run, as a shell says).
COMMAND's environment is tokenctl's without tokenctl's secrets: no TOKENCTL_* variable, and none that a --…-env flag named.
The token is not renewed while COMMAND runs: --min-ttl SECONDS asks for one that lives at least that long.
A DPoP-bound token (--dpop) is refused (exit 2): COMMAND could only send it as a bearer token, which the API refuses; tokenctl call sends it with a proof per request.`

  static override enableJsonFlag = false

  static override examples = [
    '<%= config.bin %> <%= command.id %> ci -- sh -c \'printf "Authorization: Bearer %s\\n" "$ACCESS_TOKEN" | curl -sf -H @- https://api.example.com/things\'',
    '<%= config.bin %> <%= command.id %> --session-key nightly-report --env GRAPH_TOKEN -- ./report.py',
    '<%= config.bin %> <%= command.id %> ci --min-ttl 1800 -- ./deploy.sh production',
  ]

  static override flags = commandLine.flags

  static override summary = 'Run a command with an access token in its environment'

  static override usage = '<%= command.id %> [NAME | --client NAME | --session-key KEY | connection flags] [--env VAR] -- COMMAND [ARG…]'

  async run(): Promise<void> {
    // Everything after the first -- is COMMAND's, read by nobody here; the fast path splits it the same way.
    const dashes = this.argv.indexOf('--')
    const own = dashes === -1 ? this.argv : this.argv.slice(0, dashes)
    // Taken before parsing, which replaces this.argv with what it parsed.
    const command = dashes === -1 ? undefined : this.argv.slice(dashes + 1)
    const {args, flags} = await this.parse(Exec, own).catch((error: unknown) => {
      if (dashes === -1 && error instanceof UnexpectedArgumentsError) {
        throw new UsageError(`a command without --: the command to run goes after --, as in ${EXEC_EXAMPLE}`)
      }

      throw error
    })
    await exec({args, command, flags}, this.shell)
  }
}
