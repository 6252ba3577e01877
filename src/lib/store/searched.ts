/**
 * Where something that was not found was looked for: the store, and for a local store the
 * TOKENCTL_HOME it belongs to. A cron job runs with its own environment (another HOME, no
 * TOKENCTL_HOME, no TOKENCTL_STORE), so "unknown session" alone sends its author looking in the wrong
 * place: the message says which home and store were searched, and how to point at the right ones.
 */
import {userInfo} from 'node:os'

import {homeText} from '../paths.js'
import type {SecretStore} from './types.js'

/** The user whose keychain was asked: another user (root's cron) has another keychain. */
function userName(): string {
  try {
    return userInfo().username
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`
  }
}

/** "the file store of TOKENCTL_HOME=/srv/x", "the Secret Service, service "tokenctl", of user ci"… */
export function storeSearched(store: Pick<SecretStore, 'backend' | 'location'>, env: NodeJS.ProcessEnv = process.env): string {
  switch (store.backend) {
    case 'file': {
      return `the file store of ${homeText(env)}`
    }

    case 'keychain': {
      return `the ${store.location}, of user ${userName()}`
    }

    case 'redis': {
      return store.location
    }
  }
}

/** What the command needs to find what was started elsewhere: the same settings as the shell that started it. */
export function sameStoreAdvice(store: Pick<SecretStore, 'backend'>): string {
  const settings = store.backend === 'redis' ? 'TOKENCTL_REDIS_URL and TOKENCTL_REDIS_PREFIX' : store.backend === 'keychain' ? 'user and TOKENCTL_KEYCHAIN_SERVICE' : 'TOKENCTL_HOME and TOKENCTL_STORE'
  return `run this with the ${settings} of the shell the session was started in (a crontab line sets them itself: cron reads no shell profile)`
}
