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

/** A path under TOKENCTL_HOME whose parent directory exists (mode 0700: it holds locks and secrets). */
export function homePath(...parts: string[]): string {
  const full = path.join(tokenctlHome(), ...parts)
  mkdirSync(path.dirname(full), {mode: 0o700, recursive: true})
  return full
}
