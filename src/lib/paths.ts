import envPaths from 'env-paths'
import {mkdirSync} from 'node:fs'
import path from 'node:path'

/**
 * TOKENCTL_HOME holds every piece of local state: config, discovery cache, locks, the file store.
 * Default: the OS config directory, as conf would choose it.
 */
export function tokenctlHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.TOKENCTL_HOME
  if (home && home.trim() !== '') return path.resolve(home)
  return envPaths('tokenctl', {suffix: ''}).config
}

/** A path under TOKENCTL_HOME whose parent directory exists (mode 0700: it holds locks and secrets). */
export function homePath(...parts: string[]): string {
  const full = path.join(tokenctlHome(), ...parts)
  mkdirSync(path.dirname(full), {mode: 0o700, recursive: true})
  return full
}
