/**
 * Opening the sign-in page in the person's browser: `$BROWSER` first, as Python's webbrowser, gh and
 * git read it (WSL sets `BROWSER=wslview`; containers and minimal desktops have no `xdg-open`), then
 * the system's opener (`xdg-open`, `open`, `start`). What the browser inherits: the user's umask and
 * environment, less every secret (browserEnvironment in sign-in.ts).
 */
import {spawn} from 'node:child_process'

import {ExitCode} from '../errors.js'
import {withUserUmask} from '../umask.js'

/** A program and its arguments, never through a shell: the URL is one argument, whatever it holds. */
export type BrowserCommand = [string, string[]]

/**
 * How long a browser command may take to fail before it counts as started: an opener that cannot
 * open (no display, no handler) exits at once with a failure status, a browser itself keeps running.
 */
const FAILURE_GRACE_MS = 1000

/**
 * The commands to try, in order: each entry of `$BROWSER` (separated by `:`, `;` on Windows), its
 * words split at spaces, given the URL in place of `%s` where it says `%s` and as its last argument
 * otherwise; then the system's opener.
 */
export function browserCommands(url: string, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): BrowserCommand[] {
  const fromVariable = (env.BROWSER ?? '')
    .split(platform === 'win32' ? ';' : ':')
    .map((entry) => entry.split(/\s+/).filter(Boolean))
    .filter((words) => words.length > 0)
    .map((words): BrowserCommand => {
      const [program, ...args] = words.some((word) => word.includes('%s')) ? words.map((word) => word.replaceAll('%s', url)) : [...words, url]
      return [program, args]
    })
  return [...fromVariable, systemOpener(url, platform)]
}

function systemOpener(url: string, platform: NodeJS.Platform): BrowserCommand {
  if (platform === 'darwin') return ['open', [url]]
  if (platform === 'win32') return ['cmd', ['/c', 'start', '""', url]]
  return ['xdg-open', [url]]
}

/** Starts one command; true once it runs (or has exited successfully), false when it cannot start or fails at once. */
function started([command, args]: BrowserCommand, env: NodeJS.ProcessEnv): Promise<boolean> {
  return new Promise((resolve) => {
    const child = withUserUmask(() => spawn(command, args, {detached: true, env, stdio: 'ignore'}))
    let timer: NodeJS.Timeout | undefined
    let settled = false
    const settle = (ok: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.unref()
      resolve(ok)
    }

    // Listened to for the child's whole life: an error after the answer must not end tokenctl.
    child.on('error', () => settle(false))
    child.once('exit', (code) => settle(code === ExitCode.ok))
    child.once('spawn', () => {
      timer = setTimeout(() => settle(true), FAILURE_GRACE_MS)
    })
  })
}

/** Tries each command in turn until one starts; false when none did (then the URL on stderr is the way). */
export async function openBrowser(url: URL, env: NodeJS.ProcessEnv): Promise<boolean> {
  for (const command of browserCommands(url.href, env)) {
    if (await started(command, env)) return true
  }

  return false
}
