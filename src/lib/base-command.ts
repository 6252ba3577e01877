import {Command, Flags, type Interfaces, ux} from '@oclif/core'

import {CommandShell, oclifSpinner} from './command-shell.js'
import {emptyValueError, type FlagShape} from './empty-values.js'
import {isTokenctlError, UsageError} from './errors.js'
import type {Hooks} from './http/context.js'
import type {Runtime} from './runtime.js'
import {secretFlagRefusal} from './secret-flags.js'
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

export {stdoutColors, toTokenctlError} from './command-shell.js'

/**
 * The base of every tokenctl command: the global --verbose flag, --json, the stderr side of
 * progress and traces, the secure store opened at most once, and the one catch that turns any
 * failure into its exit code (README, "Exit codes") and either a JSON error on stdout or one line on stderr.
 */
export abstract class BaseCommand extends Command {
  static override baseFlags = {
    verbose: Flags.boolean({description: 'trace HTTP exchanges on stderr (secrets masked); a stack trace on an internal error (a bug)', helpGroup: 'GLOBAL'}),
  }

  static override enableJsonFlag = true

  #shell: CommandShell | undefined

  protected get verbose(): boolean {
    return this.argv.includes('--verbose')
  }

  /** Everything around the work (output, JSON, errors, progress, the store), shared with the fast path of bin/run.js. */
  protected get shell(): CommandShell {
    this.#shell ??= new CommandShell({
      json: this.jsonEnabled(),
      renderJson: (json) => ux.colorizeJson(json, {pretty: true, theme: this.config.theme?.json}),
      spinner: oclifSpinner,
      verbose: this.verbose,
    })
    return this.#shell
  }

  override async catch(error: Error): Promise<void> {
    if (error.name === 'ExitError') {
      this.shell.failed = true
      throw error
    }

    await this.shell.fail(error)
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override logToStderr(message = '', ..._args: any[]): void {
    this.shell.logToStderr(message)
  }

  override async finally(error: Error | undefined): Promise<void> {
    await this.shell.close()
    return super.finally(error)
  }

  protected hooks(): Hooks {
    return this.shell.hooks()
  }

  override log(message = ''): void {
    this.shell.log(message)
  }

  protected override logJson(json: unknown): void {
    this.shell.logJson(json)
  }

  protected dataStream(): NodeJS.WritableStream {
    return this.shell.dataStream()
  }

  /** The `--output` file replaces its target only once the whole command has succeeded, JSON included. */
  protected override async _run<T>(): Promise<T> {
    try {
      return await super._run<T>()
    } catch (error) {
      this.shell.failed = true
      throw error
    } finally {
      await this.shell.finishOutput()
    }
  }

  override async init(): Promise<void> {
    await super.init()
    await this.shell.init()
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

    const flags = {...this.ctor.baseFlags, ...(options?.flags ?? this.ctor.flags)} as Record<string, FlagShape | undefined>
    const empty = emptyValueError(parsed.raw, flags)
    if (empty) throw empty
    await this.shell.openOutput(parsed.flags.output)
    return parsed
  }

  protected runtime(): Runtime {
    return this.shell.runtime()
  }

  /** The secure store, chosen and opened on first use only: a command that needs no secret never touches it. */
  protected store(): Promise<SecretStore> {
    return this.shell.store()
  }
}
