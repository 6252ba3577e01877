import {Command, Errors, Flags, type Interfaces, ux} from '@oclif/core'

import {CommandShell, oclifSpinner} from './command-shell.js'
import {emptyValueError} from './empty-values.js'
import {isTokenctlError} from './errors.js'
import {type CommandFacts, type FlagFacts, namingParser, spellingOf, usageErrorFrom} from './parse-errors.js'

/** oclif's FlagOutput / ArgOutput, which its public interfaces do not export. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- oclif's own type for parsed values is any
type ParsedValues = {[name: string]: any}

/** The flag definitions of a parse: the command's, then its base flags, each parser naming its flag on a refusal. */
function namingParsers<T extends object | undefined>(flags: T): T {
  if (!flags) return flags
  return Object.fromEntries(Object.entries(flags).map(([name, flag]) => [name, namingParser(name, flag)])) as T
}

export {stdoutColors, toTokenctlError} from './command-shell.js'

/**
 * The base of every tokenctl command: the global --verbose flag, --json, the stderr side of
 * progress and traces, and the one lifecycle (CommandShell.lifecycle) whose catch turns any failure
 * into its exit code (README, "Exit codes") and either a JSON error on stdout or one line on stderr. Command-line mistakes
 * are said in tokenctl's words (parse-errors.ts).
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

  /** oclif's exit (this.exit(), a hook's) is passed on to oclif; any other failure is told once, by the shell. */
  override async catch(error: Error): Promise<void> {
    if (error instanceof Errors.ExitError) throw error
    await this.shell.fail(error)
  }

  override logToStderr(message = '', ..._args: unknown[]): void {
    this.shell.logToStderr(message)
  }

  override async finally(error: Error | undefined): Promise<void> {
    await this.shell.close()
    await super.finally(error)
  }

  override log(message = ''): void {
    this.shell.log(message)
  }

  protected override logJson(json: unknown): void {
    this.shell.logJson(json)
  }

  /** oclif's run of a command, through the one lifecycle that the fast path follows too (CommandShell.lifecycle). */
  protected override async _run<T>(): Promise<T> {
    const result = await this.shell.lifecycle<T>({
      catch: (error) => this.catch(error as Error),
      finally: (error) => this.finally(error as Error | undefined),
      init: () => this.init(),
      json: (json) => this.logJson(this.toSuccessJson(json)),
      run: () => this.run() as Promise<T>,
    })
    return result as T
  }

  override async init(): Promise<void> {
    await super.init()
    await this.shell.init()
  }

  protected override async parse<F extends ParsedValues, B extends ParsedValues, A extends ParsedValues>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const input = options ?? (this.ctor as unknown as Interfaces.Input<F, B, A>)
    const typed = argv ?? this.argv
    let parsed: Interfaces.ParserOutput<F, B, A>
    try {
      const naming = {'--': input['--'], args: input.args, baseFlags: namingParsers(input.baseFlags), enableJsonFlag: input.enableJsonFlag, flags: namingParsers(input.flags), strict: input.strict}
      parsed = await super.parse(naming, argv)
    } catch (error) {
      if (isTokenctlError(error)) throw error
      throw usageErrorFrom(error, this.commandFacts(input, typed))
    }

    const facts = this.commandFacts(input, typed)
    const empty = emptyValueError(parsed.raw, facts.flags, (name) => spellingOf(name, facts))
    if (empty) throw empty
    await this.shell.openOutput(parsed.flags.output)
    return parsed
  }

  /** A deprecation (a flag's old spelling) and any other warning: one line on stderr, as tokenctl's warnings are. */
  override warn(input: Error | string): Error | string {
    this.shell.logToStderr(`warning: ${typeof input === 'string' ? input : input.message}`)
    return input
  }

  /** What the messages about a command line read of the command. */
  private commandFacts(input: Interfaces.Input<ParsedValues, ParsedValues, ParsedValues>, argv: string[]): CommandFacts {
    const id = (this.id ?? '').replaceAll(':', ' ')
    const examples = (this.ctor.examples ?? []).map((example) =>
      (typeof example === 'string' ? example : example.command).replaceAll('<%= config.bin %>', this.config.bin).replaceAll('<%= command.id %>', id),
    )
    const flags: Record<string, FlagFacts> = {...input.baseFlags, ...input.flags}
    if (input.enableJsonFlag) flags.json = {type: 'boolean'}
    return {args: input.args ?? {}, argv, bin: this.config.bin, examples, flags, id}
  }
}
