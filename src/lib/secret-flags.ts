import {UsageError} from './errors.js'

/**
 * The refusal of a secret typed as a flag value (`--client-secret s3cret`, `--token=…`): no such
 * flag exists, and the message says so without repeating the value, with the ways the command at
 * hand does take that secret. base-command.ts asks here first about every flag oclif did not know.
 */

/** Flags that would carry a secret on the command line if they existed. */
const SECRET_FLAG = /^--?(client-secret|secret|assertion|token|password|refresh-token|passphrase)(=|$)/

/** What the refusal reads of the command: the names of its flags (a command with none has no `flags`). */
export interface FlagsOf {
  flags?: Record<string, unknown>
}

/** What the command at hand offers instead of a secret flag, so that the advice fits the flag the user gave. */
function secretAdvice(flag: string, command: FlagsOf): string {
  const name = flag.replace(/^-+/, '')
  // `--secret` and `--password` are spelled longer here: --client-secret-env, --certificate-password-env.
  const family = ({password: 'certificate-password', secret: 'client-secret'} as Record<string, string>)[name] ?? name
  const flags = command.flags ?? {}
  const sources = ['env', 'stdin', 'file'].map((source) => `${family}-${source}`).filter((source) => source in flags)
  const values = {env: ' VAR', file: ' PATH', stdin: ''} as Record<string, string>
  const listed = sources.map((source) => `--${source}${values[source.split('-').at(-1)!]}`)
  if (listed.length > 0) {
    const joined = listed.length === 1 ? listed[0] : `${listed.slice(0, -1).join(', ')} or ${listed.at(-1)}`
    return `use ${joined}${family === 'client-secret' ? ' (or TOKENCTL_CLIENT_SECRET)' : ''}`
  }

  if (name === 'passphrase') return 'set TOKENCTL_STORE_PASSPHRASE, or TOKENCTL_STORE_PASSPHRASE_FILE to a file holding it'
  if (name === 'refresh-token') return 'refresh tokens stay in the secure store: tokenctl session start or tokenctl token user --session-key keeps one'
  return 'secrets come from an environment variable named by a flag, from stdin or from a file: see --help'
}

/** The refusal for the first of these unknown flags (names without their `=value`) that would carry a secret; undefined when none would. */
export function secretFlagRefusal(unknownFlags: string[], command: FlagsOf): UsageError | undefined {
  const secret = unknownFlags.find((name) => SECRET_FLAG.test(name))
  if (!secret) return undefined
  return new UsageError(`secrets are never taken as flag values: ${secret} does not exist`, 'secret_on_command_line', {
    suggestions: [secretAdvice(secret, command)],
  })
}
