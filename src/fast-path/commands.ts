/**
 * The commands the fast path serves: the ones CI jobs and cron run again and again, whose common
 * case is a cache hit. Each runs the very operation its oclif command runs (src/lib/operations/).
 * The build reads the flag definitions of exactly these commands into the table (scripts/fast-path-table.mjs).
 */
import type {CommandShell} from '../lib/command-shell.js'
import type {ParsedArgv} from './argv.js'

export interface FastCommand {
  /** Whether the run will read the secure store, so that opening it can start before the rest loads. */
  readsStore(flags: ParsedArgv['flags']): boolean
  run(parsed: ParsedArgv, shell: CommandShell): Promise<unknown>
}

export const FAST_COMMANDS: Record<string, FastCommand> = {
  call: {
    readsStore: (flags) => Boolean(flags.client || flags.session),
    async run({args, flags}, shell) {
      const {call} = await import('../lib/operations/call.js')
      return call(args as {url: string}, flags as Parameters<typeof call>[1], shell)
    },
  },
  'session:refresh': {
    readsStore: () => true,
    async run({flags}, shell) {
      const {sessionRefresh} = await import('../lib/operations/session-refresh.js')
      return sessionRefresh(flags as Parameters<typeof sessionRefresh>[0], shell)
    },
  },
  'token:client': {
    readsStore: (flags) => !flags['no-cache'],
    async run({args, flags}, shell) {
      const {tokenClient} = await import('../lib/operations/token-client.js')
      return tokenClient(args, flags as Parameters<typeof tokenClient>[1], shell)
    },
  },
}
