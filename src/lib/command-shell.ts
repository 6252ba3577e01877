/**
 * What every command does around its work, whichever way it was started: by oclif (BaseCommand), or
 * by the fast path of bin/run.js, which serves a cache hit without loading oclif (src/fast-path/).
 * Both run a command through lifecycle() and call these methods, so there is one implementation of
 * each rule: the order of a command's steps, data on stdout or into the `--output` file (committed
 * only on success), JSON (escaped), the one failure line or JSON error with the exit code (README,
 * "Exit codes"), progress on a terminal, the secure store opened at most once, open connections
 * closed at the end. Nothing here imports oclif: the fast path must not load it.
 */
import type {ChalkInstance} from 'chalk'

import {ExitCode, InternalError, isTokenctlError, type TokenctlError} from './errors.js'
import {closeConnections} from './http/connections.js'
import type {Hooks, Progress} from './http/context.js'
import {stripUrlCredentials} from './http/trace.js'
import {errorJson, errorLine, traceLines} from './output.js'
import type {OutputFile} from './output-file.js'
import type {Runtime} from './runtime.js'
import {openStore} from './store/index.js'
import type {SecretStore} from './store/types.js'
import {escapeControls, escapeJsonText, escapeLines} from './terminal-text.js'

/** A spinner on stderr (oclif's ux.action), loaded only when a terminal is there to show it. */
export interface Spinner {
  readonly running: boolean
  start(message: string): void
  status(message: string): void
  stop(): void
}

export interface ShellOptions {
  /** `--json` (or oclif's TOKENCTL_CONTENT_TYPE=json): the result as JSON on stdout, lines for people silenced. */
  json: boolean
  /** How stdout shows a JSON document; oclif colours it with the user's theme. Default: indented by two. */
  renderJson?: (json: unknown) => string
  /** The spinner of progress messages on a terminal; loaded on the first message. */
  spinner?: () => Promise<Spinner>
  verbose: boolean
}

/** chalk for stderr, honouring NO_COLOR (chalk itself only knows FORCE_COLOR); loaded only when needed. */
export async function stderrColors(): Promise<ChalkInstance> {
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

/** oclif's spinner (ux.action), loaded on the first progress message on a terminal. */
export async function oclifSpinner(): Promise<Spinner> {
  const {ux} = await import('@oclif/core/ux')
  return {
    get running() {
      return ux.action.running
    },
    start: (message) => ux.action.start(message),
    status(message) {
      ux.action.status = message
    },
    stop: () => ux.action.stop(),
  }
}

/** A write to a closed pipe (`tokenctl … | head -c 10`) is not a failure of the command: as oclif does. */
export function ignoreClosedStdout(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error?.code === 'EPIPE') return
    throw error
  })
}

/**
 * The steps of one run, in the shape of oclif's Command: BaseCommand passes its own methods (which
 * oclif's hooks and subclasses extend), the fast path the shell's. Parsing is part of `run` (oclif
 * parses inside a command's run()); whoever parses calls openOutput() as soon as the flags are known.
 */
export interface CommandSteps<T> {
  /** Any failure of init or run: told (fail) or, for oclif's own exits, passed on. */
  catch(error: unknown): Promise<void>
  /** After run or catch, whatever happened: connections closed. */
  finally(error: unknown): Promise<void>
  init(): Promise<void>
  /** A success's result under --json. */
  json(result: T): void
  run(): Promise<T>
}

export class CommandShell {
  /** Colours for stderr, loaded by init() with --verbose and by fail() otherwise. */
  colors: ChalkInstance | undefined
  failed = false
  /** `--output PATH` of the commands that have it: stdout goes there, committed only on success. */
  private outputFile: OutputFile | undefined
  private progressShown: Exclude<Progress, {state: 'done'}> | undefined
  private spinner: Promise<Spinner> | undefined
  private storePromise: Promise<SecretStore> | undefined

  constructor(private readonly options: ShellOptions) {}

  get json(): boolean {
    return this.options.json
  }

  get verbose(): boolean {
    return this.options.verbose
  }

  async init(): Promise<void> {
    if (this.verbose) this.colors = await stderrColors()
  }

  /**
   * One run of a command, in the order both entry points follow: init; run (which parses and opens
   * `--output`); on failure, the one line or JSON error and its exit code; close what is open; the
   * result as JSON; then commit `--output`, or leave its target as it was when anything failed (a
   * failure to print the JSON, or an exit that oclif's catch passes on, included).
   */
  async lifecycle<T>(steps: CommandSteps<T>): Promise<T | undefined> {
    try {
      let result: T | undefined
      let failure: unknown
      try {
        await steps.init()
        result = await steps.run()
      } catch (error) {
        failure = error
        await steps.catch(error)
      } finally {
        await steps.finally(failure)
      }

      if (result && this.json) steps.json(result)
      return result
    } catch (error) {
      this.failed = true
      throw error
    } finally {
      await this.finishOutput()
    }
  }

  /** The steps of a run that no framework extends (the fast path): the shell's own. */
  steps<T>(run: () => Promise<T>): CommandSteps<T> {
    return {
      catch: (error) => this.fail(error),
      finally: () => this.close(),
      init: () => this.init(),
      json: (result) => this.logJson(result),
      run,
    }
  }

  /** After parsing, before any work: a folder that cannot take the output fails before a request is made. */
  async openOutput(output: unknown): Promise<void> {
    // `-o -` is stdout, as for curl.
    if (typeof output !== 'string' || output === '-' || this.outputFile !== undefined) return
    const {OutputFile} = await import('./output-file.js') // loaded only for -o: a hit to stdout does without it
    this.outputFile = await OutputFile.open(output)
  }

  /** Data for stdout, or for the `--output` file; silent under --json (the JSON is the output). */
  log(message = ''): void {
    if (this.json) return
    if (this.outputFile) this.outputFile.stream.write(`${message}\n`)
    else console.log(message)
  }

  /**
   * A success's JSON goes where stdout goes; an error's JSON always to stdout (the output file is left
   * alone). What JSON.stringify leaves raw (C1, DEL, bidi controls) is escaped too: the same JSON, terminal-safe.
   */
  logJson(json: unknown): void {
    if (this.outputFile && !this.failed) this.outputFile.stream.write(`${escapeJsonText(JSON.stringify(json, undefined, 2))}\n`)
    else console.log(escapeJsonText(this.options.renderJson ? this.options.renderJson(json) : JSON.stringify(json, undefined, 2)))
  }

  /** Lines for people on stderr may quote a server (a failed revocation's reason): escaped. */
  logToStderr(message = ''): void {
    if (!this.json) console.error(escapeControls(message))
  }

  /** Where a command streams its data (`call`'s body): the `--output` file, or stdout. */
  dataStream(): NodeJS.WritableStream {
    return this.outputFile?.stream ?? process.stdout
  }

  /** Hooks for the library: traces with --verbose, a spinner only when stderr is a terminal. */
  hooks(): Hooks {
    const hooks: Hooks = {progress: (progress) => this.showProgress(progress), warning: (message) => this.warn(message)}
    if (this.verbose) {
      hooks.trace = (exchange) => {
        for (const line of traceLines(exchange)) process.stderr.write(`${this.colors?.dim('*') ?? '*'} ${line}\n`)
      }
    }

    return hooks
  }

  runtime(): Runtime {
    return {hooks: this.hooks(), openStore: () => this.store()}
  }

  /** The secure store, chosen and opened on first use only: a command that needs no secret never touches it. */
  store(): Promise<SecretStore> {
    this.storePromise ??= openStore(process.env, {warn: this.hooks().warning}).then((choice) => choice.store)
    return this.storePromise
  }

  /**
   * A warning on stderr, --json or not: stdout stays data, and a warning about what the command did
   * (a write that a failover could lose) must reach a script's log too.
   */
  warn(message: string): void {
    process.stderr.write(`warning: ${escapeControls(message)}\n`)
  }

  /**
   * Any failure as its exit code (README, "Exit codes"), and a JSON error on stdout or one line on stderr. With
   * --verbose an internal error (exit 1, a bug) adds its stack trace; an expected outcome (a refusal,
   * a failed check, an unknown session…) is said in its one line, never as a crash.
   */
  async fail(error: unknown): Promise<void> {
    this.failed = true
    await this.stopProgress()
    const failure = toTokenctlError(error)
    process.exitCode = failure.exitCode
    if (this.json) {
      this.logJson({error: errorJson(failure)})
    } else {
      const colors = this.colors ?? (await stderrColors())
      process.stderr.write(`${colors.red('Error:')} ${errorLine(failure)}\n`)
    }

    if (this.verbose && failure.exitCode === ExitCode.internal) {
      const cause = failure.cause instanceof Error ? failure.cause : failure
      process.stderr.write(`${escapeLines(stripUrlCredentials(cause.stack ?? cause.message))}\n`)
    }
  }

  /** Open connections (a proxy that never answered, a request given up on) must not keep the process alive. */
  async close(): Promise<void> {
    await closeConnections()
  }

  /** Commits the `--output` file, or on any failure (the commit's own included) leaves the target as it was. */
  private async finishOutput(): Promise<void> {
    const file = this.outputFile
    if (!file) return
    this.outputFile = undefined
    if (this.failed || (process.exitCode !== undefined && process.exitCode !== ExitCode.ok)) {
      await file.abort()
      return
    }

    try {
      await file.commit()
    } catch (error) {
      await this.fail(error)
    }
  }

  private showProgress(progress: Progress): void {
    if (!process.stderr.isTTY || this.json || !this.options.spinner) return
    this.progressShown = progress.state === 'done' ? undefined : progress
    this.spinner ??= this.options.spinner()
    this.spinner.then(
      (spinner) => this.drawProgress(spinner),
      () => {},
    )
  }

  /** The latest message wins: a spinner still loading shows only what is current once it is there. */
  private drawProgress(spinner: Spinner): void {
    const progress = this.progressShown
    if (!progress) {
      if (spinner.running) spinner.stop()
      return
    }

    if (spinner.running) spinner.status(progress.message)
    else spinner.start(progress.message)
  }

  private async stopProgress(): Promise<void> {
    this.progressShown = undefined
    if (!this.spinner) return
    const spinner = await this.spinner.catch(() => undefined)
    if (spinner?.running) spinner.stop()
  }
}
