/**
 * `token user`: signs a user in (device flow or authorization code with PKCE) and prints the access
 * token a web API would receive, the on-behalf-of assertion; `--session-key` keeps the refresh token.
 */
import type {CommandShell} from '../command-shell.js'
import {resolveConnection} from '../config/connection.js'
import {UsageError} from '../errors.js'
import {noSignInReason, signInNeedsTerminal} from '../exec-credential.js'
import {dpopOwnerOf} from '../oauth/client-credentials.js'
import {signIn, type SignInPrompt} from '../oauth/sign-in.js'
import {assertSessionKey} from '../oauth/sessions.js'
import {assertDpopFormat, dpopGivenOf, presentToken, proofRequestOf} from '../oauth/token-header.js'
import {checkTokenFormat, type TokenFormat, tokenJson, type TokenJson} from '../output.js'
import {escapeControls} from '../terminal-text.js'
import type {CommandInput} from './input.js'
import type * as TokenUser from './token-user.flags.js'

export interface TokenUserInput extends CommandInput<typeof TokenUser> {
  /** The command line as typed, for the advice when kubectl runs it where nobody can sign in. */
  argv: string[]
  bin: string
}

/** No scope, no token a web API would take; without one the sign-in would only wait for nothing. */
const noScope = () =>
  new UsageError('token user: no scope to sign in for', 'usage_error', {
    suggestions: ['pass --scope S, the scope of the web API that receives the token (e.g. --scope api://my-api/access_as_user)'],
  })

export async function tokenUser({argv, args, bin, flags}: TokenUserInput, shell: CommandShell): Promise<TokenJson> {
  // Usage errors before any configuration error: a bad key, no scope at all.
  if (flags['session-key'] !== undefined) assertSessionKey(flags['session-key'])
  if (args.name === undefined && flags.scope === undefined) throw noScope()
  const connection = resolveConnection(args.name, flags, process.env, {publicByDefault: true})
  if (connection.scopes.length === 0) throw noScope()
  checkTokenFormat(flags.format)
  const proofRequest = proofRequestOf(flags)
  const dpopGiven = dpopGivenOf(flags, connection)
  if (connection.dpop) assertDpopFormat(flags.format, proofRequest, dpopGiven)
  // Run by kubectl: a prompt only where someone can answer it (exit 5 at once otherwise).
  const noSignIn = noSignInReason()
  if (noSignIn !== undefined) throw signInNeedsTerminal(noSignIn, bin, argv)
  const method = flags.device ? 'device' : flags.browser || process.stderr.isTTY ? 'browser' : 'device'
  const cancel = new AbortController()
  const onInterrupt = () => cancel.abort()
  process.once('SIGINT', onInterrupt)
  try {
    const options = {
      method,
      open: !flags['no-open'],
      // Always on stderr, --json or not: without it nobody can sign in.
      prompt: (prompt: SignInPrompt) => process.stderr.write(`${promptText(prompt)}\n`),
      replace: flags.replace,
      sessionKey: flags['session-key'],
      signal: cancel.signal,
      waitSeconds: flags.wait,
    } as const
    const runtime = shell.runtime()
    const {result, sessionKey} = await signIn(connection, options, runtime)
    const prover = async () => (await import('../oauth/dpop.js')).resourceProverFor(dpopOwnerOf(connection), runtime.openStore)
    shell.log(await presentToken(result.token, flags.format as TokenFormat, proofRequest, prover, dpopGiven))
    if (sessionKey) shell.logToStderr(`kept the sign-in as session ${sessionKey}: tokenctl session refresh --session-key ${sessionKey} gets the user's token from now on`)
    return tokenJson(result, {client: args.name ?? null, ...(sessionKey ? {session_key: sessionKey} : {})})
  } finally {
    process.off('SIGINT', onInterrupt)
  }
}

/** The prompt's URLs and code come from the server: escaped, the line breaks are ours. */
function promptText(prompt: SignInPrompt): string {
  if (prompt.kind === 'device') {
    const complete = prompt.verificationUriComplete ? `\n(or open ${escapeControls(prompt.verificationUriComplete)})` : ''
    const open = `To sign in, open ${escapeControls(prompt.verificationUri)} and enter the code ${escapeControls(prompt.userCode)}`
    return `${open}${complete}\nThe code expires in ${Math.round(prompt.expiresIn / 60)} min.`
  }

  const url = escapeControls(prompt.url)
  return prompt.opened ? `Opened the browser to sign in. If it did not open, visit:\n${url}` : `To sign in, open this URL in a browser:\n${url}`
}
