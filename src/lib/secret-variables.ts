/**
 * Environment variables that carry secrets, so that no program tokenctl starts (a browser) inherits
 * them: tokenctl's own TOKENCTL_* variables (the store passphrase, the client secret, the Redis
 * password…), every variable a `--*-env VAR` flag of this command named, the GitHub Actions
 * runner's OIDC request token, and those the caller names (the variables that named clients and
 * sessions read their credentials from: config/stored-variables.ts).
 */
const named = new Set<string>()

/** Well-known variables that hold a credential: the GitHub Actions runner's OIDC request token. */
const WELL_KNOWN = new Set(['ACTIONS_ID_TOKEN_REQUEST_TOKEN'])

/** Called by every `--*-env VAR` flag as it is parsed. */
export function noteSecretVariable(name: string): void {
  named.add(name)
}

/** The environment minus every secret-carrying variable, and minus `also`. */
export function environmentWithoutSecrets(env: NodeJS.ProcessEnv = process.env, also: Iterable<string> = []): NodeJS.ProcessEnv {
  const more = new Set(also)
  const kept: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(env)) {
    if (!/^TOKENCTL_/i.test(name) && !named.has(name) && !WELL_KNOWN.has(name) && !more.has(name)) kept[name] = value
  }

  return kept
}

const ENV_NAME = /^[A-Z_a-z]\w*$/

/** The parser of every `--*-env VAR` flag: refuses anything that looks like the secret itself, notes the name. */
export async function environmentVariableName(input: string): Promise<string> {
  if (!ENV_NAME.test(input)) throw new Error(`takes the NAME of an environment variable, not a secret`)
  noteSecretVariable(input)
  return input
}
