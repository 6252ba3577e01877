import envPaths from 'env-paths'
import {mkdirSync} from 'node:fs'
import path from 'node:path'

import {assertPrivateHome} from './private-files.js'

/**
 * TOKENCTL_HOME holds every piece of local state: config, discovery cache, locks, the file store.
 * Default: the OS config directory, as conf would choose it. An existing home that other users can
 * write is refused (exit 3).
 */
export function tokenctlHome(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.TOKENCTL_HOME
  const home = given && given.trim() !== '' ? path.resolve(given) : envPaths('tokenctl', {suffix: ''}).config
  assertPrivateHome(home)
  return home
}

/**
 * The home in a message about something not found in it: `TOKENCTL_HOME=/srv/x`, or the default it
 * fell back to. A cron job has another HOME and no TOKENCTL_HOME of the shell that set things up.
 */
export function homeText(env: NodeJS.ProcessEnv = process.env): string {
  const home = tokenctlHome(env)
  return env.TOKENCTL_HOME?.trim() ? `TOKENCTL_HOME=${home}` : `the default home ${home} (TOKENCTL_HOME is not set)`
}

/**
 * A path under TOKENCTL_HOME, nothing created: what a command only reads (the file store, a cached
 * document) leaves no home behind — a cron job run with the wrong HOME must not leave an empty one.
 */
export function homeFile(...parts: string[]): string {
  return path.join(tokenctlHome(), ...parts)
}

/** The folder of a file about to be written, created 0700 (with TOKENCTL_HOME itself) when missing. */
export function createParent(file: string): void {
  mkdirSync(path.dirname(file), {mode: 0o700, recursive: true})
}

/** A path under TOKENCTL_HOME whose parent directory exists (mode 0700: it holds locks and secrets), for a write. */
export function homePath(...parts: string[]): string {
  const full = homeFile(...parts)
  createParent(full)
  return full
}
