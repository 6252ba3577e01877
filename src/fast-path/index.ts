/**
 * The fast path of bin/run.js: the commands CI jobs, cron and kubectl run again and again (`token
 * client`, `session refresh`, `call`, `exec`), served without loading oclif, whose start-up alone
 * costs more than a whole cache hit. It is a dispatcher, not a second implementation:
 *  - the command line is read from the commands' own flag definitions (the build's table), and any
 *    command line it does not read exactly as oclif would goes to oclif (argv.ts), as do --help,
 *    --verbose, and the oclif settings that change output (TOKENCTL_CONTENT_TYPE, DEBUG…);
 *  - the work is the operation the oclif command runs (src/lib/operations/), and everything around it
 *    (output, --output, JSON, errors and exit codes, progress, the store) is the CommandShell that
 *    BaseCommand uses too.
 * TOKENCTL_NO_FAST_PATH=1 sends every command line to oclif (the tests compare both ways).
 */
import {readFileSync} from 'node:fs'

import {type CommandSpec, parseArgv, type ParsedArgv} from './argv.js'
import {FAST_COMMANDS} from './commands.js'

/** Settings under which oclif prints or decides something the fast path does not: debug output, JSON by environment. */
const OCLIF_SETTINGS = ['TOKENCTL_NO_FAST_PATH', 'TOKENCTL_CONTENT_TYPE', 'TOKENCTL_DEBUG', 'TOKENCTL_REDIRECTED', 'DEBUG', 'CLI_FLAGS_DEBUG']

/** oclif shows help for these anywhere before a `--` (package.json: oclif.additionalHelpFlags). */
const HELP_FLAGS = ['--help', '-h']

let table: Record<string, CommandSpec> | undefined

/** The build's flag table (scripts/fast-path-table.mjs); none (a tree compiled by tsc alone): everything goes to oclif. */
function commandTable(): Record<string, CommandSpec> {
  try {
    table ??= JSON.parse(readFileSync(new URL('table.json', import.meta.url), 'utf8')) as Record<string, CommandSpec>
  } catch {
    table = {}
  }

  return table
}

/** The command id and the rest of argv, when argv names a fast-path command the way oclif reads it. */
function commandOf(argv: string[]): undefined | {id: string; rest: string[]} {
  for (const id of Object.keys(FAST_COMMANDS)) {
    if (argv[0] === id) return {id, rest: argv.slice(1)}
    const words = id.split(':')
    if (words.length > 1 && words.every((word, index) => argv[index] === word)) return {id, rest: argv.slice(words.length)}
  }

  return undefined
}

/** oclif colours JSON with a user theme where colour is supported: left to it whenever colour could be. */
function colourPossible(): boolean {
  return 'FORCE_COLOR' in process.env || Boolean(process.stdout.isTTY) || Boolean(process.stderr.isTTY)
}

/** What the fast path would run for argv, or undefined when oclif must. */
export async function fastPathCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<undefined | {id: string; parsed: ParsedArgv}> {
  if (OCLIF_SETTINGS.some((name) => env[name])) return undefined
  const command = commandOf(argv)
  if (!command) return undefined
  // A command that runs another (exec): what follows the first -- is that command's, as the oclif command splits it.
  const dashes = FAST_COMMANDS[command.id].runsCommand ? command.rest.indexOf('--') : -1
  const own = dashes === -1 ? command.rest : command.rest.slice(0, dashes)
  if (own.some((word) => HELP_FLAGS.includes(word))) return undefined
  const spec = commandTable()[command.id]
  if (!spec) return undefined
  const parsed = await parseArgv(own, spec)
  if (!parsed || parsed.flags.verbose) return undefined
  if (parsed.flags.json && colourPossible()) return undefined
  return {id: command.id, parsed: dashes === -1 ? parsed : {...parsed, command: command.rest.slice(dashes + 1)}}
}

/**
 * Runs argv on the fast path and answers true, or answers false having done nothing (oclif runs it).
 * The run follows the same lifecycle as oclif's (CommandShell.lifecycle): the command line is already
 * parsed, so the run opens --output first.
 */
export async function runFastPath(argv: string[]): Promise<boolean> {
  const chosen = await fastPathCommand(argv)
  if (!chosen) return false
  const command = FAST_COMMANDS[chosen.id]
  const {flags} = chosen.parsed
  // The slow parts start now and run while the rest loads: the store's (a scrypt derivation on the thread
  // pool, a D-Bus round trip) first, then a certain token request's (loading openid-client and fetch).
  const warm = command.warmUp(flags)
  if (warm.store) await (await import('../lib/store/warm-up.js')).warmUpStore()
  if (warm.request) (await import('../lib/oauth/warm-up.js')).warmUpTokenRequest()
  const {CommandShell, ignoreClosedStdout, oclifSpinner} = await import('../lib/command-shell.js')
  ignoreClosedStdout()
  const shell = new CommandShell({json: flags.json === true, spinner: oclifSpinner, verbose: false})
  await shell.lifecycle(
    shell.steps(async () => {
      await shell.openOutput(flags.output)
      return (await command.operation())(chosen.parsed, shell)
    }),
  )
  return true
}
