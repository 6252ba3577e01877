/**
 * The environment that preloads ./hostile-resolver.mjs into the CLI: chosen names resolve to chosen
 * addresses (a hosts-file entry, a DNS server on the path), without touching /etc/hosts.
 */
import {readFileSync} from 'node:fs'
import {pathToFileURL} from 'node:url'

const PRELOAD = pathToFileURL(new URL('hostile-resolver.mjs', import.meta.url).pathname).href

/**
 * `answers[name]` is the list of answers to successive lookups of the name (the last one repeats):
 * `{'evil.localhost': [['192.0.2.2']]}`, or `{'flip.localhost': [['127.0.0.1'], ['192.0.2.2']]}`.
 * With `log`, each lookup of a listed name is appended to that file (see lookupsIn).
 */
export function resolverEnv(answers: Record<string, string[][]>, log?: string): Record<string, string> {
  return {
    NODE_OPTIONS: `--import=${PRELOAD}`,
    TOKENCTL_TEST_RESOLVER_HOSTS: JSON.stringify(answers),
    ...(log ? {TOKENCTL_TEST_RESOLVER_LOG: log} : {}),
  }
}

/** The names looked up, one per lookup, from a resolverEnv log file. */
export function lookupsIn(log: string): string[] {
  try {
    return readFileSync(log, 'utf8').split('\n').filter(Boolean)
  } catch {
    return []
  }
}
