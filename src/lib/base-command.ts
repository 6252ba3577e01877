import {Command, Flags, type Interfaces, ux} from '@oclif/core'
import type {ChalkInstance} from 'chalk'

import {InternalError, isTokenctlError, type TokenctlError, UsageError} from './errors.js'
import {closeConnections} from './http/connections.js'
import type {Hooks, Progress} from './http/context.js'
import {stripUrlCredentials} from './http/trace.js'
import type {Runtime} from './runtime.js'
import {errorJson, errorLine, traceLines} from './output.js'
import {openStore} from './store/index.js'
import {escapeControls, escapeJsonText, escapeLines} from './terminal-text.js'
import type {SecretStore} from './store/types.js'

/** Flags that would carry a secret on the command line if they existed. */
const SECRET_FLAG = /^--?(client-secret|secret|assertion|token|password|refresh-token|passphrase)(=|$)/

/** oclif's FlagOutput / ArgOutput, which its public interfaces do not export. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ParsedValues = {[name: string]: any}

interface OclifError extends Error {
  flags?: string[]
  oclif?: {exit?: number}
}

/** oclif's parse errors end in "See more help with --help" and may span lines: keep one line. */
function oneLine(message: string): string {
  return message
    .replace(/\s*See more help with --help\s*$/, '')
    .replace(/^Parsing (--[\w-]+)\s+(\1\s+)?/, '$1: ')
    .replaceAll(/\s*\n\s*/g, ' ')
    .trim()
}

/** A command-line mistake as a usage error (exit 2) that never repeats a secret the user typed. */
function usageErrorFrom(error: OclifError): UsageError {
  if (error.constructor.name === 'NonExistentFlagsError' && Array.isArray(error.flags)) {
    const names = error.flags.map((flag) => flag.split('=', 1)[0])
    if (names.some((name) => SECRET_FLAG.test(name))) {
      return new UsageError('secrets are never taken as flag values', 'secret_on_command_line', {
        suggestions: ['use --client-secret-env VAR, --client-secret-stdin or --client-secret-file PATH (or TOKENCTL_CLIENT_SECRET)'],
      })
    }

    return new UsageError(`unknown flag${names.length > 1 ? 's' : ''}: ${names.join(', ')}`, 'usage_error', {
      suggestions: ['see --help'],
    })
  }

  return new UsageError(oneLine(error.message), 'usage_error', {suggestions: ['see --help']})
}

/** chalk for stderr, honouring NO_COLOR (chalk itself only knows FORCE_COLOR); loaded only when needed. */
async function stderrColors(): Promise<ChalkInstance> {
  const {Chalk, chalkStderr} = await import('chalk')
  return process.env.NO_COLOR && !process.env.FORCE_COLOR ? new Chalk({level: 0}) : chalkStderr
}

export function toTokenctlError(error: unknown): TokenctlError {
  if (isTokenctlError(error)) return error
  return new InternalError(`internal error: ${(error as Error)?.message ?? String(error)}`, {cause: error})
}

/**
 * The base of every tokenctl command: the global --verbose flag, --json, the stderr side of
 * progress and traces, the secure store opened at most once, and the one catch that turns any
 * failure into the contract's exit code and either a JSON error on stdout or one line on stderr.
 */
export abstract class BaseCommand extends Command {
  static override baseFlags = {
    verbose: Flags.boolean({description: 'trace HTTP exchanges on stderr (secrets masked); stack traces on errors', helpGroup: 'GLOBAL'}),
  }

  static override enableJsonFlag = true

  private colors: ChalkInstance | undefined
  private storePromise: Promise<SecretStore> | undefined

  protected get verbose(): boolean {
    return this.argv.includes('--verbose')
  }

  override async catch(error: Error): Promise<void> {
    if (error.name === 'ExitError') throw error
    this.stopProgress()
    const failure = toTokenctlError(error)
    process.exitCode = failure.exitCode
    if (this.jsonEnabled()) {
      this.logJson({error: errorJson(failure)})
    } else {
      const colors = this.colors ?? (await stderrColors())
      process.stderr.write(`${colors.red('Error:')} ${errorLine(failure)}\n`)
    }

    if (this.verbose && failure.exitCode !== 2) {
      const cause = failure.cause instanceof Error ? failure.cause : failure
      process.stderr.write(`${escapeLines(stripUrlCredentials(cause.stack ?? cause.message))}\n`)
    }
  }

  /** --json output with what JSON.stringify leaves raw (C1, DEL, bidi controls) escaped too: the same JSON, terminal-safe. */
  protected override logJson(json: unknown): void {
    ux.stdout(escapeJsonText(ux.colorizeJson(json, {pretty: true, theme: this.config.theme?.json})))
  }

  /** Lines for people on stderr may quote a server (a failed revocation's reason): escaped. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override logToStderr(message = '', ...args: any[]): void {
    super.logToStderr(escapeControls(message), ...args)
  }

  /** Open connections (a proxy that never answered, a request given up on) must not keep the process alive. */
  override async finally(error: Error | undefined): Promise<void> {
    await closeConnections()
    return super.finally(error)
  }

  /** Hooks for the library: traces with --verbose, a spinner only when stderr is a terminal. */
  protected hooks(): Hooks {
    const hooks: Hooks = {progress: (progress) => this.showProgress(progress)}
    if (this.verbose) {
      hooks.trace = (exchange) => {
        for (const line of traceLines(exchange)) process.stderr.write(`${this.colors?.dim('*') ?? '*'} ${line}\n`)
      }
    }

    return hooks
  }

  override async init(): Promise<void> {
    await super.init()
    if (this.verbose) this.colors = await stderrColors()
  }

  protected override async parse<F extends ParsedValues, B extends ParsedValues, A extends ParsedValues>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    try {
      return await super.parse(options, argv)
    } catch (error) {
      if (isTokenctlError(error)) throw error
      throw usageErrorFrom(error as OclifError)
    }
  }

  protected runtime(): Runtime {
    return {hooks: this.hooks(), openStore: () => this.store()}
  }

  /** The secure store, chosen and opened on first use only: a command that needs no secret never touches it. */
  protected store(): Promise<SecretStore> {
    this.storePromise ??= openStore().then((choice) => choice.store)
    return this.storePromise
  }

  private showProgress(progress: Progress): void {
    if (!process.stderr.isTTY || this.jsonEnabled()) return
    if (progress.state === 'done') {
      this.stopProgress()
      return
    }

    if (ux.action.running) ux.action.status = progress.message
    else ux.action.start(progress.message)
  }

  private stopProgress(): void {
    if (ux.action.running) ux.action.stop()
  }
}
