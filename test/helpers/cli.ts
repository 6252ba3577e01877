/**
 * Spawn helpers for end-to-end tests: run the built CLI (`node bin/run.js`) the way a script or cron
 * job would, in a clean environment of its own.
 */
import {spawn} from 'node:child_process'
import type {ChildProcess, ChildProcessWithoutNullStreams} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {staleBuild} from '../../scripts/build-stamp.mjs'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = join(ROOT, 'bin', 'run.js')
const DEFAULT_TIMEOUT_MS = 20_000

/**
 * Variables a developer's shell may carry that would change what the CLI does. The session bus is
 * dropped too, so no test touches a developer's real keyring: keychain tests pass their own.
 */
const INHERITED_VARIABLES_TO_DROP = [/^TOKENCTL_/i, /^DBUS_SESSION_BUS_ADDRESS$/, /^XDG_RUNTIME_DIR$/, /^(HTTPS?|ALL|NO)_PROXY$/i, /^NODE_EXTRA_CA_CERTS$/, /^BROWSER$/, /^(FORCE_COLOR|NO_COLOR)$/]

export interface CliOptions {
  /** Added to the clean environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>
  /** TOKENCTL_HOME; a fresh temporary directory when absent (and not set in `env`). */
  home?: string
  /** Written to stdin, which is then closed. Without it stdin is closed at once. */
  input?: string
  /** The child is killed (SIGKILL) after this long, started ones too; default 20 s, `Infinity` for never. */
  timeoutMs?: number
  cwd?: string
  /** Run under this umask (through `sh -c 'umask …; exec node …'`), e.g. 0 to prove modes do not depend on it. */
  umask?: number
}

export interface CliResult {
  /** Exit code, or null when the process died of a signal. */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  durationMs: number
  timedOut: boolean
  /** The TOKENCTL_HOME the command ran with, to reuse in the next command. */
  home: string
}

/** The running child, with its home and a promise of its result (output is collected from the start). */
export type StartedCli = ChildProcessWithoutNullStreams & {home: string; result: Promise<CliResult>}

const tempDirectories = new Set<string>()

/** A new temporary directory, removed when the test process exits (or by `removeTempHomes`). */
export function tempHome(): string {
  const directory = mkdtempSync(join(tmpdir(), 'tokenctl-test-'))
  if (tempDirectories.size === 0) process.once('exit', removeTempHomes)
  tempDirectories.add(directory)
  return directory
}

export function removeTempHomes(): void {
  for (const directory of tempDirectories) rmSync(directory, {recursive: true, force: true})
  tempDirectories.clear()
}

/** Runs `tokenctl ARGS…` from the build in dist/ (run `npm run build` first). */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  assertBuilt()
  return runNode([BIN, ...args], options)
}

/**
 * Starts `tokenctl ARGS…` and hands back the child, for concurrency and kill tests; its `result`
 * resolves once it has exited.
 */
export function startCli(args: string[], options: CliOptions = {}): StartedCli {
  assertBuilt()
  return startNode([BIN, ...args], options)
}

/**
 * Commands sharing one TOKENCTL_HOME (and default options), as the steps of one test do:
 * `const cli = cliWithHome(); await cli.run(['client', 'add', …]); await cli.run(['token', …])`.
 */
export function cliWithHome(defaults: CliOptions = {}) {
  const home = defaults.home ?? tempHome()
  const merge = (options: CliOptions): CliOptions => ({
    ...defaults,
    ...options,
    home,
    env: {...defaults.env, ...options.env},
  })
  return {
    home,
    run: (args: string[], options: CliOptions = {}) => runCli(args, merge(options)),
    start: (args: string[], options: CliOptions = {}) => startCli(args, merge(options)),
  }
}

/** `node ARGS…` with the same clean environment; the building block of runCli, usable on its own. */
export async function runNode(nodeArgs: string[], options: CliOptions = {}): Promise<CliResult> {
  return startNode(nodeArgs, options).result
}

export function startNode(nodeArgs: string[], options: CliOptions = {}): StartedCli {
  const home = options.home ?? options.env?.TOKENCTL_HOME ?? tempHome()
  // stdio stays at its default, three pipes: nothing is inherited from the test process.
  const [command, args] =
    options.umask === undefined ? [process.execPath, nodeArgs] : ['/bin/sh', ['-c', `umask ${options.umask.toString(8).padStart(3, '0')} && exec "$0" "$@"`, process.execPath, ...nodeArgs]]
  const child = spawn(command, args, {cwd: options.cwd ?? ROOT, env: cleanEnvironment(home, options.env)})
  // A child that exits without reading its stdin must not fail the test with EPIPE.
  child.stdin.on('error', () => {})
  child.stdin.end(options.input)
  const result = collectResult(child, home, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
  // Whoever wants the result awaits it; a spawn failure nobody awaited must not crash the run.
  result.catch(() => {})
  return Object.assign(child, {home, result})
}

async function collectResult(child: ChildProcess, home: string, timeoutMs: number): Promise<CliResult> {
  const started = Date.now()
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk))

  let timedOut = false
  const timer = Number.isFinite(timeoutMs)
    ? setTimeout(() => {
        timedOut = true
        child.kill('SIGKILL')
      }, timeoutMs)
    : undefined

  try {
    const [code, signal] = await closed(child)
    return {
      code,
      signal,
      stdout: Buffer.concat(stdout).toString('utf8'),
      stderr: Buffer.concat(stderr).toString('utf8'),
      durationMs: Date.now() - started,
      timedOut,
      home,
    }
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves with the first match of pattern on the running command's stderr (a prompt, a URL to open). */
export function stderrMatch(child: StartedCli, pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = ''
    const timer = setTimeout(() => reject(new Error(`no ${pattern} on stderr within ${timeoutMs} ms:\n${text}`)), timeoutMs)
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8')
      const match = pattern.exec(text)
      if (match) {
        clearTimeout(timer)
        resolve(match)
      }
    })
  })
}

export function cleanEnvironment(home: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!INHERITED_VARIABLES_TO_DROP.some((pattern) => pattern.test(name))) env[name] = value
  }
  Object.assign(env, {TOKENCTL_HOME: home, TOKENCTL_KEYCHAIN_SERVICE: 'tokenctl-test', NO_COLOR: '1'}, extra)
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name]
  return env
}

async function closed(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    // 'close', not 'exit': stdout and stderr are complete only then.
    child.once('close', (code, signal) => resolve([code, signal]))
  })
}

let builtFromSources = false

/** dist/ exists and was built from src/ as it is now: an end-to-end test never runs old code. */
function assertBuilt(): void {
  if (builtFromSources) return
  if (!existsSync(BIN) || !existsSync(join(ROOT, 'dist'))) {
    throw new Error(`the CLI is not built (${BIN} or dist/ missing): run \`npm run build\` first`)
  }

  const stale = staleBuild(ROOT)
  if (stale) throw new Error(`dist/ is stale (${stale}): run \`npm run build\`, then the tests again`)
  builtFromSources = true
}
