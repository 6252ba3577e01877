/**
 * Servers' documents kept in TOKENCTL_HOME between runs — discovery metadata, key sets — under one
 * rule: a file per URL, written whole through the private-file writer (0600, never through a link),
 * fresh for 24 h after it was fetched (the README: `--issuer` "cached 24 h", and `token verify`).
 */
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'

import {createParent, homeFile} from './paths.js'
import {writePrivateFile} from './private-files.js'

export const DOCUMENT_TTL_MS = 24 * 60 * 60 * 1000

/** Every entry says when its document was fetched (ms since the epoch). */
export interface CachedDocument {
  [field: string]: unknown
  fetchedAt: number
}

/**
 * Fetched less than 24 h ago. A fetchedAt in the future (a clock set back since, a file copied from
 * another machine or planted) proves nothing about the document's age: stale, fetched again.
 */
export function isFresh(fetchedAt: number, now = Date.now()): boolean {
  const age = now - fetchedAt
  return age >= 0 && age < DOCUMENT_TTL_MS
}

/** The file of the document at `url` in a folder of TOKENCTL_HOME's cache (created by the first write). */
export function documentPath(folder: 'jwks' | 'metadata', url: string): string {
  const digest = createHash('sha256').update(url).digest('hex').slice(0, 32)
  return homeFile('cache', folder, `${digest}.json`)
}

/** The entry in `file`, whatever its age; undefined when it is missing or not one of ours. */
export async function readDocument(file: string): Promise<CachedDocument | undefined> {
  try {
    const entry = JSON.parse(await readFile(file, 'utf8')) as unknown
    if (typeof entry === 'object' && entry !== null && Number.isFinite((entry as CachedDocument).fetchedAt)) return entry as CachedDocument
  } catch {
    // missing or unreadable: fetched again
  }

  return undefined
}

/** A document fetched in this run: the cache (and the home) is created only once there is something to keep. */
export async function writeDocument(file: string, entry: CachedDocument): Promise<void> {
  createParent(file)
  await writePrivateFile(file, JSON.stringify(entry))
}
