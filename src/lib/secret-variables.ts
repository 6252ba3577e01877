/**
 * Environment variables that carry secrets, so that no program tokenctl starts (a browser) inherits
 * them: tokenctl's own TOKENCTL_* variables (the store passphrase, the client secret, the Redis
 * password…) and every variable a `--*-env VAR` flag of this command named.
 */
const named = new Set<string>()

/** Called by every `--*-env VAR` flag as it is parsed. */
export function noteSecretVariable(name: string): void {
  named.add(name)
}

/** The environment minus every secret-carrying variable. */
export function environmentWithoutSecrets(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(env)) {
    if (!/^TOKENCTL_/i.test(name) && !named.has(name)) kept[name] = value
  }

  return kept
}
