/**
 * `exec`: runs a command with a token in its environment, as `aws-vault exec` and `op run` do, shared
 * by the oclif command and the fast path of bin/run.js (one implementation; see ../command-shell.ts).
 * The token comes the way `token client` or `session refresh` gets it (cached), before the command
 * starts: no token, no command (nor for a DPoP-bound token, which the command could only send as a
 * bearer token). The command's stdin, stdout and stderr are its own, signals sent to
 * tokenctl reach it, and its exit status is what this answers; setting it is the caller's business.
 */
import {spawn} from 'node:child_process'
import {constants} from 'node:os'

import type {CommandShell} from '../command-shell.js'
import {resolveConnection} from '../config/connection.js'
import {sessionOverridesOf} from '../config/settings.js'
import {ExitCode, SIGNALLED_EXIT_BASE, TokenctlError, UsageError} from '../errors.js'
import {closeConnections} from '../http/connections.js'
import {clientCredentialsToken} from '../oauth/client-credentials.js'
import {refreshSession} from '../oauth/sessions.js'
import type {AccessToken} from '../oauth/token.js'
import {boundTokenRefused, type DpopGiven, dpopGivenOf} from '../oauth/token-header.js'
import type {Runtime} from '../runtime.js'
import {environmentWithoutSecrets} from '../secret-variables.js'
import type * as Exec from './exec.flags.js'
import type {CommandInput} from './input.js'
import {orWithoutCache} from './store-advice.js'

type ExecInput = CommandInput<typeof Exec>

/**
 * Flags a session cannot take: it keeps its own client, server and scopes (`session refresh` takes
 * only a credential, --ca-file and --timeout for one run), and its refresh token is its cache.
 */
export const NOT_WITH_SESSION = [
  'alg',
  'assertion-audience',
  'audience',
  'auth-method',
  'client-id',
  'dpop',
  'dpop-key-file',
  'issuer',
  'key-id',
  'no-cache',
  'param',
  'resource',
  'scope',
  'send-x5c',
  'thumbprint',
  'token-endpoint',
] as const

/** What tokenctl passes on to the command while it runs (Ctrl-C, `kill`, a closed terminal). */
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/** How a command line of exec reads, for the messages about it. */
export const EXEC_EXAMPLE = 'tokenctl exec NAME -- COMMAND [ARG…]'

/** The command's run: its exit code is tokenctl's. */
export async function exec(input: ExecInput, shell: CommandShell): Promise<void> {
  process.exitCode = await execWithToken(input, shell)
}

export async function execWithToken({args, command, flags}: ExecInput, shell: CommandShell): Promise<number> {
  if (command === undefined || command.length === 0) {
    throw new UsageError(`no command to run: it goes after --, as in ${EXEC_EXAMPLE}`)
  }

  if (flags['client-secret-stdin']) {
    throw new UsageError("--client-secret-stdin: stdin is the command's", 'usage_error', {suggestions: ['pass the secret with --client-secret-env VAR or --client-secret-file PATH']})
  }

  const runtime = shell.runtime()
  const token = await tokenOf({args, flags}, runtime)
  runtime.hooks.progress?.({state: 'done'})
  // No connection to the identity provider stays open while the command runs, for however long it runs.
  await closeConnections()
  // The token and nothing else of tokenctl's secrets: no TOKENCTL_* variable, none a --…-env flag named.
  return runCommand(command, {...environmentWithoutSecrets(), [flags.env]: token})
}

/** The access token from `--session-key KEY` (the session refresh rules) or from a client (`token client`'s cache). */
async function tokenOf({args, flags}: ExecInput, runtime: Runtime): Promise<string> {
  if (args.name !== undefined && flags.client !== undefined) {
    throw new UsageError(`a client twice: NAME (${args.name}) and --client ${flags.client}`, 'usage_error', {suggestions: ['give one of them']})
  }

  const options = {force: flags.force, minTtlSeconds: flags['min-ttl']}
  const key = flags['session-key']
  if (key !== undefined) {
    const other = args.name === undefined ? undefined : `NAME (${args.name})`
    const flag = NOT_WITH_SESSION.find((name) => flags[name] !== undefined)
    if (other !== undefined || flag !== undefined) {
      throw new UsageError(`a session goes without ${other ?? `--${flag}`}: it keeps its own client, server and scopes`, 'usage_error', {
        suggestions: [`tokenctl session show --session-key ${key} says which; a credential flag, --ca-file or --timeout may be given for this run`],
      })
    }

    const {result} = await refreshSession(key, {...sessionOverridesOf(flags), ...options}, runtime)
    return bearerToken(result.token, {session: key})
  }

  const connection = resolveConnection(args.name ?? flags.client, flags)
  const given = dpopGivenOf(flags, connection)
  // Said before any request: a connection with --dpop gets a bound token.
  if (connection.dpop) throw boundTokenRefused('exec', given)
  const result = await clientCredentialsToken(connection, {...options, noCache: flags['no-cache']}, runtime).catch(orWithoutCache(connection, flags['no-cache']))
  return bearerToken(result.token, given)
}

/** The command can only send the token as a bearer token: a DPoP-bound one (a session's) is refused, the command not run. */
function bearerToken(token: AccessToken, given: DpopGiven): string {
  if (token.token_type === 'DPoP') throw boundTokenRefused('exec', given)
  return token.access_token
}

/** A command that cannot start, as a shell reports it: 127 when there is no such command, 126 when it cannot run. */
function startFailure(name: string, error: NodeJS.ErrnoException): TokenctlError {
  if (error.code === 'ENOENT') {
    return new TokenctlError(`${name === '' ? '""' : name}: command not found`, 'command_not_found', ExitCode.commandNotFound, {
      suggestions: [name.includes('/') ? 'check the path' : 'check its name, or give its path (it is looked up in PATH)'],
    })
  }

  return new TokenctlError(`${name}: cannot run it (${error.code ?? error.message})`, 'command_not_executable', ExitCode.commandNotExecutable, {
    suggestions: [error.code === 'EACCES' ? 'it must be a file you may execute (chmod +x)' : 'check that it is a program for this machine'],
  })
}

/**
 * Runs the command with this environment and tokenctl's own stdin, stdout and stderr; answers its
 * exit code, or 128 + the signal's number when a signal ended it (as shells do). While it runs,
 * SIGINT, SIGTERM and SIGHUP are passed on to it rather than ending tokenctl, so that tokenctl ends
 * when the command does, with its status.
 */
export function runCommand(command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [name, ...args] = command
  // An empty name is no command (spawn would throw); a shell says the same of "".
  if (name === '') return Promise.reject(startFailure(name, Object.assign(new Error('empty'), {code: 'ENOENT'})))
  return new Promise((resolve, reject) => {
    let settled = false
    const settle = (finish: () => void) => {
      if (settled) return
      settled = true
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward)
      finish()
    }

    // Listening before the child exists: a signal that comes meanwhile waits for it rather than ending tokenctl.
    const forward = (signal: NodeJS.Signals) => child.kill(signal)
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward)
    const child = spawn(name, args, {env, stdio: 'inherit'})
    // Only a child that never started has no pid; any other error (a signal that could not be sent) is not its end.
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) settle(() => reject(startFailure(name, error)))
    })
    child.once('exit', (code, signal) => settle(() => resolve(code ?? SIGNALLED_EXIT_BASE + (signal ? constants.signals[signal] : 0))))
  })
}
