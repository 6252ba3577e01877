import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {MAX_TIMEOUT_SECONDS, resolveConnection} from '../../lib/config/connection.js'
import {noSignInReason, signInNeedsTerminal} from '../../lib/exec-credential.js'
import {connectionFlags, formatFlag, outputFlag} from '../../lib/flags.js'
import {dpopOwnerOf} from '../../lib/oauth/client-credentials.js'
import {signIn, type SignInPrompt} from '../../lib/oauth/sign-in.js'
import {assertSessionKey} from '../../lib/oauth/sessions.js'
import {assertProofRequestFor, presentToken, proofRequestOf} from '../../lib/oauth/token-header.js'
import {checkTokenFormat, type TokenFormat, tokenJson, type TokenJson} from '../../lib/output.js'
import {escapeControls} from '../../lib/terminal-text.js'

export default class TokenUser extends BaseCommand {
  static override args = {
    name: Args.string({description: 'named client: usually a public client (no secret)', ignoreStdin: true}),
  }

  static override description = `Signs a user in and prints the access token a web API would receive (the on-behalf-of assertion).
--device: the device authorization grant (RFC 8628); the code and the URL to visit on stderr.
--browser (the default when stderr is a terminal): authorization code with S256 PKCE through a loopback redirect on 127.0.0.1,
the page opened with $BROWSER (a :-separated list; %s is the URL; WSL: BROWSER=wslview), else xdg-open, open or start.
--session-key keeps the refresh token as a session, so that tokenctl session refresh serves the user's own token too.
Ctrl-C cancels (exit 130); a sign-in the person refused, or that expired, is exit 5.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> cli --scope access_as_user --device',
    '<%= config.bin %> <%= command.id %> web --scope api://api/access_as_user --device | <%= config.bin %> token obo api --assertion-stdin --scope downstream.read',
    '<%= config.bin %> <%= command.id %> cli --scope access_as_user --session-key me',
  ]

  static override flags = {
    ...connectionFlags,
    ...formatFlag,
    ...outputFlag,
    browser: Flags.boolean({description: 'sign in through the browser (authorization code + PKCE)', exclusive: ['device']}),
    device: Flags.boolean({description: 'sign in with a code on another device (RFC 8628)', exclusive: ['browser']}),
    open: Flags.boolean({allowNo: true, default: true, description: 'open the browser: $BROWSER, else the system\'s (--no-open: only print the URL)'}),
    replace: Flags.boolean({description: 'replace an existing session with this --session-key'}),
    'session-key': Flags.string({description: 'keep the refresh token as a session under this key'}),
    wait: Flags.integer({default: 300, description: `seconds to wait for the person to sign in, at most ${MAX_TIMEOUT_SECONDS}`, max: MAX_TIMEOUT_SECONDS, min: 1}),
  }

  static override summary = 'Sign a user in and get their access token'

  async run(): Promise<TokenJson> {
    const {args, flags} = await this.parse(TokenUser)
    if (flags['session-key'] !== undefined) assertSessionKey(flags['session-key']) // before any configuration error
    const connection = resolveConnection(args.name, flags, process.env, {publicByDefault: true})
    checkTokenFormat(flags.format)
    const proofRequest = proofRequestOf(flags)
    if (connection.dpop) assertProofRequestFor(flags.format, proofRequest)
    // Run by kubectl: a prompt only where someone can answer it (exit 5 at once otherwise).
    const noSignIn = noSignInReason()
    if (noSignIn !== undefined) throw signInNeedsTerminal(noSignIn, this.config.bin, this.argv)
    const method = flags.device ? 'device' : flags.browser || process.stderr.isTTY ? 'browser' : 'device'
    const cancel = new AbortController()
    const onInterrupt = () => cancel.abort()
    process.once('SIGINT', onInterrupt)
    try {
      const options = {
        method,
        open: flags.open,
        // Always on stderr, --json or not: without it nobody can sign in.
        prompt: (prompt: SignInPrompt) => process.stderr.write(`${promptText(prompt)}\n`),
        replace: flags.replace,
        sessionKey: flags['session-key'],
        signal: cancel.signal,
        waitSeconds: flags.wait,
      } as const
      const runtime = this.runtime()
      const {result, sessionKey} = await signIn(connection, options, runtime)
      const prover = async () => (await import('../../lib/oauth/dpop-keys.js')).resourceProverFor(dpopOwnerOf(connection), runtime.openStore)
      this.log(await presentToken(result.token, flags.format as TokenFormat, proofRequest, prover))
      return tokenJson(result, {client: args.name ?? null, ...(sessionKey ? {session_key: sessionKey} : {})})
    } finally {
      process.off('SIGINT', onInterrupt)
    }
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
