import {Command, Flags, type Interfaces, ux} from '@oclif/core'
import type {ChalkInstance} from 'chalk'

import {InternalError, isTokenctlError, type TokenctlError, UsageError} from './errors.js'
import {closeConnections} from './http/connections.js'
import type {Hooks, Progress} from './http/context.js'
import {stripUrlCredentials} from './http/trace.js'
import type {Runtime} from './runtime.js'
import {errorJson, errorLine, traceLines} from './output.js'
import {OutputFile} from './output-file.js'
import {secretFlagRefusal} from './secret-flags.js'
import {openStore} from './store/index.js'
import {escapeControls, escapeJsonText, escapeLines} from './terminal-text.js'
import type {SecretStore} from './store/types.js'

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

/** The parts of a command class the messages below read. */
interface CommandShape {
  examples?: Array<string | {command: string}>
  flags: Record<string, unknown>
  id?: string
}

/** The first of the command's examples that uses `word`, as a user would type it. */
function exampleWith(word: string, command: CommandShape, bin: string): string | undefined {
  const id = (command.id ?? '').replaceAll(':', ' ')
  for (const example of command.examples ?? []) {
    const text = (typeof example === 'string' ? example : example.command).replaceAll('<%= config.bin %>', bin).replaceAll('<%= command.id %>', id)
    if (text.includes(word)) return text
  }

  return undefined
}

/** oclif's "The following error occurred: Missing required flag key" as one line with an example. */
function missingFlagError(error: OclifError, command: CommandShape, bin: string): UsageError | undefined {
  const missing = [...error.message.matchAll(/Missing required flag ([\w-]+)/g)].map((match) => `--${match[1]}`)
  if (missing.length === 0) return undefined
  const example = exampleWith(`${missing[0]} `, command, bin)
  return new UsageError(`missing required flag${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, 'usage_error', {
    suggestions: [example ? `e.g. ${example}` : 'see --help'],
  })
}

/** oclif's "Missing 1 required arg: name  client name" as one line with an example. */
function missingArgumentError(error: OclifError, command: CommandShape, bin: string): UsageError | undefined {
  const match = /^Missing \d+ required args?:\s*\n\s*(\w+)/.exec(error.message)
  if (!match) return undefined
  const example = exampleWith(`${(command.id ?? '').replaceAll(':', ' ')} `, command, bin)
  return new UsageError(`missing the argument ${match[1].toUpperCase()}`, 'usage_error', {
    suggestions: [example ? `e.g. ${example}` : 'see --help'],
  })
}

/** A command-line mistake as a usage error (exit 2) that never repeats a secret the user typed. */
function usageErrorFrom(error: OclifError, command: CommandShape, bin: string): UsageError {
  if (error.constructor.name === 'NonExistentFlagsError' && Array.isArray(error.flags)) {
    const names = error.flags.map((flag) => flag.split('=', 1)[0])
    const refusal = secretFlagRefusal(names, command)
    if (refusal) return refusal

    return new UsageError(`unknown flag${names.length > 1 ? 's' : ''}: ${names.join(', ')}`, 'usage_error', {
      suggestions: ['see --help'],
    })
  }

  return (
    missingFlagError(error, command, bin) ??
    missingArgumentError(error, command, bin) ??
    new UsageError(oneLine(error.message), 'usage_error', {suggestions: ['see --help']})
  )
}

/** chalk for stderr, honouring NO_COLOR (chalk itself only knows FORCE_COLOR); loaded only when needed. */
async function stderrColors(): Promise<ChalkInstance> {
  const {Chalk, chalkStderr} = await import('chalk')
  return process.env.NO_COLOR && !process.env.FORCE_COLOR ? new Chalk({level: 0}) : chalkStderr
}

/** chalk for stdout, honouring NO_COLOR; colour only on a terminal (chalk's own detection). */
export async function stdoutColors(): Promise<ChalkInstance> {
  const {Chalk, default: chalk} = await import('chalk')
  return process.env.NO_COLOR && !process.env.FORCE_COLOR ? new Chalk({level: 0}) : chalk
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
  private failed = false
  /** `--output PATH` of the commands that have it: stdout goes there, committed only on success. */
  private outputFile: OutputFile | undefined
  private storePromise: Promise<SecretStore> | undefined

  protected get verbose(): boolean {
    return this.argv.includes('--verbose')
  }

  override async catch(error: Error): Promise<void> {
    this.failed = true
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

  /** Data for stdout, or for the `--output` file when the command was given one. */
  override log(message = '', ...args: unknown[]): void {
    if (this.outputFile && !this.jsonEnabled()) this.outputFile.stream.write(`${message}\n`)
    else super.log(message, ...args)
  }

  /**
   * A success's JSON goes where stdout goes; an error's JSON always to stdout (the output file is left
   * alone). What JSON.stringify leaves raw (C1, DEL, bidi controls) is escaped too: the same JSON, terminal-safe.
   */
  protected override logJson(json: unknown): void {
    if (this.outputFile && !this.failed) this.outputFile.stream.write(`${escapeJsonText(JSON.stringify(json, undefined, 2))}\n`)
    else ux.stdout(escapeJsonText(ux.colorizeJson(json, {pretty: true, theme: this.config.theme?.json})))
  }

  /** Where a command streams its data (`call`'s body): the `--output` file, or stdout. */
  protected dataStream(): NodeJS.WritableStream {
    return this.outputFile?.stream ?? process.stdout
  }

  /** The `--output` file replaces its target only once the whole command has succeeded, JSON included. */
  protected override async _run<T>(): Promise<T> {
    try {
      return await super._run<T>()
    } catch (error) {
      this.failed = true
      throw error
    } finally {
      if (this.outputFile) await this.finishOutput()
    }
  }

  override async init(): Promise<void> {
    await super.init()
    if (this.verbose) this.colors = await stderrColors()
  }

  protected override async parse<F extends ParsedValues, B extends ParsedValues, A extends ParsedValues>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    let parsed: Interfaces.ParserOutput<F, B, A>
    try {
      parsed = await super.parse(options, argv)
    } catch (error) {
      if (isTokenctlError(error)) throw error
      throw usageErrorFrom(error as OclifError, this.ctor as unknown as CommandShape, this.config.bin)
    }

    const output: unknown = parsed.flags.output
    // `-o -` is stdout, as for curl.
    if (typeof output === 'string' && output !== '-' && this.outputFile === undefined) this.outputFile = await OutputFile.open(output)
    return parsed
  }

  /** Commits, or on any failure (the commit's own included) leaves the target as it was. */
  private async finishOutput(): Promise<void> {
    const file = this.outputFile!
    this.outputFile = undefined
    if (this.failed || (process.exitCode !== undefined && process.exitCode !== 0)) {
      await file.abort()
      return
    }

    try {
      await file.commit()
    } catch (error) {
      await this.catch(error as Error)
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
