/**
 * The commands the fast path serves: the ones CI jobs and cron run again and again, whose common
 * case is a cache hit. Each runs the very operation its oclif command runs (src/lib/operations/).
 * The build reads the flag definitions of exactly these commands into the table (scripts/fast-path-table.mjs).
 */
import type {CommandShell} from '../lib/command-shell.js'
import type {ParsedArgv} from './argv.js'

/** What a run will certainly or probably need, so that its slow part can start before the rest loads. */
export interface WarmUp {
  /** A token request (--no-cache, --force): openid-client and Node's fetch. */
  request?: boolean
  /** The secure store: its key derivation, or the keychain's probe. */
  store?: boolean
}

export interface FastCommand {
  /** The command runs another, whose command line follows the first `--` (`exec`). */
  runsCommand?: boolean
  run(parsed: ParsedArgv, shell: CommandShell): Promise<unknown>
  warmUp(flags: ParsedArgv['flags']): WarmUp
}

/** A credential given on the command line: then a named client's stored secret is not read. */
const CREDENTIAL_FLAGS = ['client-secret-env', 'client-secret-file', 'client-secret-stdin', 'private-key-file', 'certificate-file']
const credentialGiven = (flags: ParsedArgv['flags']) => CREDENTIAL_FLAGS.some((name) => flags[name] !== undefined)

export const FAST_COMMANDS: Record<string, FastCommand> = {
  exec: {
    runsCommand: true,
    warmUp: (flags) => ({request: Boolean(flags.force || flags['no-cache']), store: Boolean(flags.session) || !flags['no-cache'] || !credentialGiven(flags)}),
    async run({args, command, flags}, shell) {
      const {execWithToken} = await import('../lib/operations/exec.js')
      // As the oclif command does: the library answers the exit code, the command sets it.
      process.exitCode = await execWithToken(args, flags as Parameters<typeof execWithToken>[1], command, shell)
    },
  },
  call: {
    warmUp: (flags) => ({store: Boolean(flags.client || flags.session)}),
    async run({args, flags}, shell) {
      const {call} = await import('../lib/operations/call.js')
      return call(args as {url: string}, flags as Parameters<typeof call>[1], shell)
    },
  },
  'session:refresh': {
    warmUp: (flags) => ({request: flags.force === true, store: true}),
    async run({flags}, shell) {
      const {sessionRefresh} = await import('../lib/operations/session-refresh.js')
      return sessionRefresh(flags as Parameters<typeof sessionRefresh>[0], shell)
    },
  },
  'token:client': {
    warmUp: (flags) => ({request: Boolean(flags.force || flags['no-cache']), store: !flags['no-cache'] || !credentialGiven(flags)}),
    async run({args, flags}, shell) {
      const {tokenClient} = await import('../lib/operations/token-client.js')
      return tokenClient(args, flags as Parameters<typeof tokenClient>[1], shell)
    },
  },
}
