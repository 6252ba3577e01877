/**
 * The commands the fast path serves: the ones CI jobs, cron and kubectl run again and again, whose
 * common case is a cache hit. This table is all there is to serving a command here: each entry names
 * the operation its oclif command runs (src/lib/operations/), and the build reads the flag definitions
 * of exactly these commands into the argv table (scripts/fast-path-table.mjs).
 */
import type {CommandShell} from '../lib/command-shell.js'
import {credentialGiven} from '../lib/credential-flags.js'
import type {Operation} from '../lib/operations/input.js'
import type {ParsedArgv} from './argv.js'

/** What a run will certainly or probably need, so that its slow part can start before the rest loads. */
export interface WarmUp {
  /** A token request (--no-cache, --force): openid-client (src/lib/oauth/warm-up.ts). */
  request?: boolean
  /** The secure store: its key derivation, or the keychain's probe. */
  store?: boolean
}

export interface FastCommand {
  /** The command's operation, loaded when it runs. */
  operation(): Promise<(input: ParsedArgv, shell: CommandShell) => Promise<unknown>>
  /** The command runs another, whose command line follows the first `--` (`exec`). */
  runsCommand?: boolean
  warmUp(flags: ParsedArgv['flags']): WarmUp
}

/**
 * An operation, typed for its command's parsed input, given what the fast path parsed: the same flags
 * and args, read off the same definitions (scripts/fast-path-table.mjs).
 */
const parsedBy = <I>(load: () => Promise<Operation<I, unknown>>) => load as unknown as FastCommand['operation']

export const FAST_COMMANDS: Record<string, FastCommand> = {
  exec: {
    operation: parsedBy(async () => (await import('../lib/operations/exec.js')).exec),
    runsCommand: true,
    warmUp: (flags) => ({request: Boolean(flags.force || flags['no-cache']), store: Boolean(flags['session-key']) || !flags['no-cache'] || !credentialGiven(flags)}),
  },
  call: {
    operation: parsedBy(async () => (await import('../lib/operations/call.js')).call),
    warmUp: (flags) => ({store: Boolean(flags.client || flags['session-key'])}),
  },
  'session:refresh': {
    operation: parsedBy(async () => (await import('../lib/operations/session-refresh.js')).sessionRefresh),
    warmUp: (flags) => ({request: flags.force === true, store: true}),
  },
  'token:client': {
    operation: parsedBy(async () => (await import('../lib/operations/token-client.js')).tokenClient),
    warmUp: (flags) => ({request: Boolean(flags.force || flags['no-cache']), store: !flags['no-cache'] || !credentialGiven(flags)}),
  },
}
