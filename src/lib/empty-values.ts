/**
 * An empty value is a usage error (exit 2), never "not given". `--client-secret-file="$FILE"` with FILE
 * unset must not fall back to TOKENCTL_CLIENT_SECRET or a named client's secret, nor `--ca-file=` to
 * the default trust, nor `tokenctl token client "$CLIENT"` run without a named client: what the
 * command line names, it gets (README, "Environment"). One rule for every flag and argument of every
 * command, checked once oclif has read the command line (BaseCommand.parse); the fast path of
 * bin/run.js hands any command line with an empty value to oclif (src/fast-path/argv.ts), so this is
 * the only place that decides. A flag whose empty value is data says so with emptyValueAllowed.
 */
import {UsageError} from './errors.js'

/** What oclif's parser records of each word it read (its ParsingToken). */
export type ReadToken = {arg?: string; input: string; type: 'arg'} | {flag: string; input: string; type: 'flag'}

/** The part of a flag's definition this rule reads. */
export interface FlagShape {
  emptyValueAllowed?: boolean
  type: string
}

/** A flag whose empty value means something (`call -d ''`: an empty body, as curl sends). */
export function emptyValueAllowed<T extends object>(flag: T): T & {emptyValueAllowed: true} {
  return {...flag, emptyValueAllowed: true}
}

/** The first empty value among the words read, as a usage error naming the flag as typed; undefined when there is none. */
export function emptyValueError(tokens: ReadToken[], flags: Record<string, FlagShape | undefined>, spelling: (flag: string) => string = (flag) => `--${flag}`): UsageError | undefined {
  for (const token of tokens) {
    if (token.input !== '') continue
    if (token.type === 'arg') {
      return new UsageError(token.arg === undefined ? 'an argument is empty' : `the argument ${token.arg.toUpperCase()} is empty`, 'usage_error', {
        suggestions: ['give it a value, or leave it out'],
      })
    }

    const flag = flags[token.flag]
    // A boolean flag's word is the flag itself, never empty; only a value can be.
    if (flag?.type !== 'option' || flag.emptyValueAllowed) continue
    return new UsageError(`${spelling(token.flag)} is empty`, 'usage_error', {
      suggestions: ['give it a value, or leave it out'],
    })
  }

  return undefined
}
