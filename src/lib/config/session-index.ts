import {readFileSync} from 'node:fs'

import {unreadableReason} from '../bounded-read.js'
import {ConfigError} from '../errors.js'
import {homePath, tokenctlHome} from '../paths.js'
import {writePrivateFile} from '../private-files.js'
import {withFileLock} from '../store/file-lock.js'
import {isSharedStore} from '../store/index.js'
import type {SecretStore} from '../store/types.js'

/**
 * The index of sessions: what `session list` shows, kept as sessions are written. The session
 * records themselves (refresh tokens) live in the secure store.
 *
 * With a local store (keychain, file) the index is the non-secret file TOKENCTL_HOME/sessions.json,
 * read without opening the store. With a store shared by several machines (Redis), sessions
 * started on one host are refreshed and listed on others, so the index lives in the store itself:
 * one sealed summary per session, found through the store's own list (never a scan).
 */
export interface SessionSummary {
  access_token_expires_at: null | string
  /** What its tokens are bound to: the DPoP key's thumbprint, or the client certificate's (mutual TLS); never a key. */
  binding?: {dpop_jkt?: string; 'x5t#S256'?: string}
  client: string
  client_id: string
  created_at: string
  /** Where its refresh finds the client's credential: "named client ci", "kept with the session"… */
  credential?: string
  /** The environment variables its credential is read from (a federated token's): names, never values. */
  credential_variables?: string[]
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

function readSessionIndex(): Index {
  let text: string
  try {
    text = readFileSync(indexPath(), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new ConfigError(`cannot read the session index ${indexPath()}: ${unreadableReason(error)}`, 'config_error')
  }

  let index: unknown
  try {
    index = JSON.parse(text)
  } catch {
    index = undefined
  }

  // The index is a list for people, not the sessions: they are in the store, untouched.
  if (typeof index === 'object' && index !== null && !Array.isArray(index)) return index as Index
  throw new ConfigError(`the session index ${indexPath()} is damaged (not the JSON object tokenctl writes)`, 'config_error', {
    suggestions: ['remove the file: the sessions themselves are in the secure store, and the next refresh of each writes its entry again'],
  })
}

async function changeIndex(change: (index: Index) => void): Promise<void> {
  await withFileLock(homePath('locks', 'sessions-index.lock'), async () => {
    const index = readSessionIndex()
    change(index)
    await writePrivateFile(indexPath(), `${JSON.stringify(index, undefined, 2)}\n`)
  })
}

function putSessionSummary(summary: SessionSummary): Promise<void> {
  return changeIndex((index) => {
    // defineProperty: a key named __proto__ is a property like any other, not the prototype.
    Object.defineProperty(index, summary.session_key, {configurable: true, enumerable: true, value: summary, writable: true})
  })
}

function removeSessionSummary(key: string): Promise<void> {
  return changeIndex((index) => {
    delete index[key]
  })
}

export interface SessionIndex {
  /** Every session, by key. */
  list(): Promise<SessionSummary[]>
  put(summary: SessionSummary): Promise<void>
  remove(key: string): Promise<void>
}

const bySessionKey = (a: SessionSummary, b: SessionSummary) => a.session_key.localeCompare(b.session_key)

/** The index file under TOKENCTL_HOME, for the local stores. */
export const fileSessionIndex: SessionIndex = {
  async list() {
    return Object.values(readSessionIndex()).sort(bySessionKey)
  },
  put: putSessionSummary,
  remove: removeSessionSummary,
}

const summaryEntry = (key: string): string => `session-index:${key}`

/** The index inside a shared store: a summary entry per session, listed by the store's maintained entry index. */
export function storeSessionIndex(openStore: () => Promise<SecretStore>): SessionIndex {
  return {
    async list() {
      const store = await openStore()
      const summaries: SessionSummary[] = []
      for (const name of await store.list(summaryEntry(''))) {
        const text = await store.get(name)
        if (text === undefined) continue // ended meanwhile
        try {
          summaries.push(JSON.parse(text) as SessionSummary)
        } catch {
          // An unreadable summary is rewritten by the next refresh of its session; list the others.
        }
      }

      return summaries.sort(bySessionKey)
    },
    async put(summary) {
      await (await openStore()).set(summaryEntry(summary.session_key), JSON.stringify(summary))
    },
    async remove(key) {
      await (await openStore()).delete(summaryEntry(key))
    },
  }
}

/** The index that goes with the store TOKENCTL_STORE names: decided before any store is opened. */
export function sessionIndex(openStore: () => Promise<SecretStore>, env: NodeJS.ProcessEnv = process.env): SessionIndex {
  return isSharedStore(env) ? storeSessionIndex(openStore) : fileSessionIndex
}
