/**
 * kubectl's credential plugins (README.md, "kubectl: a cluster's credentials from tokenctl"):
 * kubectl runs the command of a kubeconfig `users[].user.exec` entry before it calls a cluster, tells
 * it how in KUBERNETES_EXEC_INFO (the apiVersion the kubeconfig names and, since kubectl 1.22,
 * whether a person can answer), and reads one ExecCredential from its stdout.
 */
import {isatty} from 'node:tty'

import {ConfigError, ReauthenticationRequiredError} from './errors.js'
import type {AccessToken} from './oauth/token.js'

/** What kubectl reads: v1beta1 (kubectl 1.11 and later, the default) and v1 (1.22 and later). */
export const EXEC_CREDENTIAL_VERSIONS = ['client.authentication.k8s.io/v1beta1', 'client.authentication.k8s.io/v1'] as const
export type ExecCredentialVersion = (typeof EXEC_CREDENTIAL_VERSIONS)[number]

/** KUBERNETES_EXEC_INFO, read but not yet judged. */
interface ExecInfo {
  apiVersion: unknown
  /** `spec.interactive`; undefined where kubectl does not say (1.20 and 1.21 never do). */
  interactive: boolean | undefined
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

function invalidExecInfo(what: string): ConfigError {
  return new ConfigError(`KUBERNETES_EXEC_INFO ${what}`, 'config_error', {
    suggestions: ['kubectl sets it when it runs tokenctl from a kubeconfig; unset it when running tokenctl yourself'],
  })
}

/** undefined when KUBERNETES_EXEC_INFO is not set: tokenctl was not started by kubectl. */
function execInfo(env: NodeJS.ProcessEnv): ExecInfo | undefined {
  const text = env.KUBERNETES_EXEC_INFO
  if (text === undefined || text === '') return undefined
  let info: unknown
  try {
    info = JSON.parse(text)
  } catch {
    throw invalidExecInfo('is not JSON')
  }

  if (!isRecord(info)) throw invalidExecInfo('is not a JSON object')
  const interactive = isRecord(info.spec) ? info.spec.interactive : undefined
  if (interactive !== undefined && typeof interactive !== 'boolean') throw invalidExecInfo('has a spec.interactive that is neither true nor false')
  return {apiVersion: info.apiVersion, interactive}
}

/**
 * The apiVersion of the ExecCredential to print: the one kubectl asks for, else v1beta1 (which every
 * kubectl since 1.11 reads). Checked before any request, so that a kubeconfig naming a version
 * tokenctl does not write costs no token.
 */
export function execCredentialVersion(env: NodeJS.ProcessEnv = process.env): ExecCredentialVersion {
  const info = execInfo(env)
  if (info === undefined) return EXEC_CREDENTIAL_VERSIONS[0]
  const {apiVersion} = info
  if ((EXEC_CREDENTIAL_VERSIONS as readonly unknown[]).includes(apiVersion)) return apiVersion as ExecCredentialVersion
  const named = typeof apiVersion === 'string' ? `apiVersion ${JSON.stringify(apiVersion.slice(0, 100))}` : 'no apiVersion'
  throw new ConfigError(`kubectl asks for an ExecCredential of ${named} (KUBERNETES_EXEC_INFO), which tokenctl does not write`, 'config_error', {
    suggestions: [`set apiVersion: ${EXEC_CREDENTIAL_VERSIONS[1]} (kubectl 1.22 and later) or ${EXEC_CREDENTIAL_VERSIONS[0]} in the kubeconfig's exec entry`],
  })
}

/** RFC 3339 in whole seconds, as Kubernetes writes times: 2026-12-05T11:00:00Z. */
function rfc3339(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z')
}

/**
 * The ExecCredential kubectl reads, on one line. kubectl keeps it in memory until its
 * expirationTimestamp (or a 401); a token of unknown lifetime has none, and kubectl then keeps it
 * for the run.
 */
export function execCredential(token: AccessToken, apiVersion: ExecCredentialVersion): string {
  const expiry = token.expires_at === undefined ? {} : {expirationTimestamp: rfc3339(token.expires_at)}
  return JSON.stringify({apiVersion, kind: 'ExecCredential', status: {token: token.access_token, ...expiry}})
}

/**
 * Why a sign-in may not ask a person, or undefined when it may: it always may, unless kubectl
 * started tokenctl and nobody can answer. kubectl 1.22 and later say so (`spec.interactive`: stdin is
 * a terminal and the kubeconfig's interactiveMode allows it); kubectl 1.20 and 1.21 do not, but hand
 * the plugin their own stdin, so a terminal there is what kubectl's default (IfAvailable) would decide.
 */
export function noSignInReason(env: NodeJS.ProcessEnv = process.env, stdinIsTerminal = () => isatty(0)): string | undefined {
  const info = execInfo(env)
  if (info === undefined || info.interactive === true) return undefined
  if (info.interactive === false) return 'KUBERNETES_EXEC_INFO says it is not interactive'
  return stdinIsTerminal() ? undefined : 'KUBERNETES_EXEC_INFO does not say, and stdin is not a terminal'
}

/** A word as a POSIX shell reads it back: as is when it is plain, else in single quotes. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", String.raw`'\''`)}'`
}

/**
 * `token user` run by kubectl where nobody can answer (exit 5): the command line that signs in from
 * a terminal — the one given, without its --format, keeping a session — and the session refresh
 * that kubectl can run from then on.
 */
export function signInNeedsTerminal(reason: string, bin: string, argv: string[]): ReauthenticationRequiredError {
  const words: string[] = []
  for (let at = 0; at < argv.length; at++) {
    if (argv[at] === '--format') at++
    else if (!argv[at].startsWith('--format=')) words.push(argv[at])
  }

  const keyAt = words.findIndex((word) => word === '--session-key' || word.startsWith('--session-key='))
  const given = keyAt === -1 ? undefined : words[keyAt] === '--session-key' ? words[keyAt + 1] : words[keyAt].slice('--session-key='.length)
  const key = given ?? 'KEY'
  if (keyAt === -1) words.push('--session-key', key)
  const signIn = [bin, 'token', 'user', ...words].map((word) => shellWord(word)).join(' ')
  const refresh = [bin, 'session', 'refresh', '--key', key, '--format', 'exec-credential'].map((word) => shellWord(word)).join(' ')
  return new ReauthenticationRequiredError(`kubectl runs tokenctl where nobody can answer a sign-in (${reason})`, 'interaction_required', {
    suggestions: [`sign in once from a terminal: ${signIn}; then have the kubeconfig run ${refresh}`],
  })
}
