/**
 * The DPoP nonces servers hand out (`DPoP-Nonce`), remembered across runs: a server that wants a
 * nonce in every proof answers a proof without one with `use_dpop_nonce`, so a run that starts with
 * the last nonce it was given makes one request where it would make two. Nonces are not secrets (a
 * server sends them in clear to anyone who asks); they live in TOKENCTL_HOME/dpop-nonces.json, per
 * role and origin: an authorization server and an API on one origin hand out nonces of their own.
 *
 * Written whole (private-files.ts), without a lock: two runs noting nonces at once may lose one of
 * them, which costs the next run one `use_dpop_nonce` round trip and nothing else.
 */
import {readFileSync} from 'node:fs'

import {homePath, tokenctlHome} from '../paths.js'
import {writePrivateFile} from '../private-files.js'

/** Whose nonce: the authorization server's (token requests) or an API's (`call`, `--format header --url`). */
export type NonceRole = 'api' | 'token'

interface Remembered {
  /** When it was received, epoch seconds. */
  at: number
  nonce: string
}

/** An older nonce is not sent: servers rotate them in minutes, and one that expired costs a round trip all the same. */
export const NONCE_MAX_AGE_SECONDS = 3600
/** The file stays small whatever the number of servers: the most recently noted ones are kept. */
export const MAX_REMEMBERED = 64
/** RFC 9449 §8: a nonce is a token68-like string; anything else (a control character, a megabyte) is not kept. */
const NONCE = /^[\w\-.~+/]{1,1024}=*$/

export interface NonceBook {
  /** The last nonce this role's server at url's origin gave, if it is recent. */
  get(role: NonceRole, url: string | URL): string | undefined
  /** Remembers a nonce a server just sent (an answer's DPoP-Nonce header). */
  note(role: NonceRole, url: string | URL, nonce: string | null | undefined): Promise<void>
}

const keyOf = (role: NonceRole, url: string | URL): string => `${role} ${new URL(url).origin}`

function readBook(file: string): Record<string, Remembered> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, Remembered>
  } catch {
    // none yet, or unreadable: the next nonce noted writes a good one
  }

  return {}
}

export function nonceBookFile(): string {
  return `${tokenctlHome()}/dpop-nonces.json`
}

/** The nonce book of TOKENCTL_HOME, read on first use. */
export function dpopNonceBook(now: () => number = () => Math.floor(Date.now() / 1000)): NonceBook {
  let entries: Record<string, Remembered> | undefined
  const load = () => {
    entries ??= readBook(nonceBookFile())
    return entries
  }

  return {
    get(role, url) {
      const entry = Object.hasOwn(load(), keyOf(role, url)) ? load()[keyOf(role, url)] : undefined
      if (typeof entry?.nonce !== 'string' || typeof entry.at !== 'number' || !NONCE.test(entry.nonce)) return undefined
      const age = now() - entry.at
      return age >= 0 && age <= NONCE_MAX_AGE_SECONDS ? entry.nonce : undefined
    },
    async note(role, url, nonce) {
      if (typeof nonce !== 'string' || !NONCE.test(nonce)) return
      const key = keyOf(role, url)
      const book = load()
      if (book[key]?.nonce === nonce) return
      const kept = Object.entries(book)
        .filter(([name, entry]) => name !== key && typeof entry?.at === 'number')
        .sort(([, a], [, b]) => b.at - a.at)
        .slice(0, MAX_REMEMBERED - 1)
      entries = Object.fromEntries([[key, {at: now(), nonce}], ...kept])
      // A hint for the next run: a home that cannot take it fails nothing of this one.
      await Promise.resolve()
        .then(() => writePrivateFile(homePath('dpop-nonces.json'), `${JSON.stringify(entries, undefined, 1)}\n`))
        .catch(() => {})
    },
  }
}
