import {randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {rename, writeFile} from 'node:fs/promises'

import {ConfigError} from '../errors.js'
import {homePath, tokenctlHome} from '../paths.js'
import {withFileLock} from '../store/file-lock.js'

/**
 * The non-secret index of sessions, TOKENCTL_HOME/sessions.json: what `session list` shows without
 * opening the secure store. The session records themselves (refresh tokens) live in the store.
 */
export interface SessionSummary {
  access_token_expires_at: null | string
  client: string
  client_id: string
  created_at: string
  flavor: string
  last_refreshed_at: null | string
  reauthentication?: {at: string; description?: string; error: string; error_codes?: number[]}
  refresh_count: number
  scopes: string[]
  session_key: string
  status: 'active' | 'needs_reauthentication'
  token_endpoint: string
}

type Index = Record<string, SessionSummary>

function indexPath(): string {
  return `${tokenctlHome()}/sessions.json`
}

export function readSessionIndex(): Index {
  try {
    return JSON.parse(readFileSync(indexPath(), 'utf8')) as Index
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new ConfigError(`cannot read the session index ${indexPath()}: ${(error as Error).message}`, 'config_error', {
      suggestions: ['remove the file: the next refresh of each session writes its entry again'],
    })
  }
}

async function changeIndex(change: (index: Index) => void): Promise<void> {
  await withFileLock(homePath('locks', 'sessions-index.lock'), async () => {
    const index = readSessionIndex()
    change(index)
    const file = indexPath()
    const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`
    await writeFile(temp, `${JSON.stringify(index, undefined, 2)}\n`, {mode: 0o600})
    await rename(temp, file)
  })
}

export function putSessionSummary(summary: SessionSummary): Promise<void> {
  return changeIndex((index) => {
    index[summary.session_key] = summary
  })
}

export function removeSessionSummary(key: string): Promise<void> {
  return changeIndex((index) => {
    delete index[key]
  })
}
