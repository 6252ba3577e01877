/**
 * What the command line gives `token verify`: the token, from the argument or stdin, and the
 * audiences to accept. A bearer token is a few KB (an Entra token with many groups ~10 KB), so
 * stdin is read up to a bound and no further: a wrong pipe (a log file, a binary) ends as a usage
 * error, not as a process holding gigabytes.
 */
import {MAX_INPUT_BYTES} from '../bounded-read.js'
import {type ClientSettings, credentialLocationOf} from '../config/clients.js'
import {hasOwnCredential} from '../config/credentials.js'
import {readStdin} from '../config/secrets.js'
import {UsageError} from '../errors.js'
import {isB64Token} from '../oauth/token.js'
import {webApiAudiences} from './entra.js'

export async function readTokenFromStdin(stdin: AsyncIterable<unknown> & {isTTY?: boolean} = process.stdin): Promise<string> {
  return (await readStdin('token verify', 'tokenctl token user … | tokenctl token verify …, or pass the token as the argument', stdin)).trim()
}

/** The token as typed or piped, surrounding blanks removed; a token no header could carry is refused. */
export function checkTokenSyntax(token: string): string {
  const trimmed = token.trim()
  if (trimmed === '') throw new UsageError('token verify: the token is empty')
  if (trimmed.length > MAX_INPUT_BYTES) throw new UsageError(`token verify: more than ${MAX_INPUT_BYTES / 1024} KiB is no token`)
  if (!isB64Token(trimmed)) {
    throw new UsageError('token verify: not a token: it holds characters a bearer token cannot carry (RFC 6750: letters, digits, - . _ ~ + / and trailing =)', 'invalid_jwt')
  }

  return trimmed
}

export interface TokenArguments {
  /** The second positional argument: a named client. */
  name?: string
  /** The first positional argument: the token, or `-` for stdin. */
  token?: string
}

/**
 * `token verify [TOKEN | -] [NAME]`. A lone argument that names a configured client is the client,
 * and the token comes from stdin (`tokenctl token user web | tokenctl token verify web`): a client
 * name is at most 64 characters and a token is not a configured client's name. `token` undefined:
 * read it from stdin.
 */
export function tokenArguments(args: TokenArguments, isClientName: (value: string) => boolean): {clientName?: string; token?: string} {
  const {name, token} = args
  if (name === undefined && token !== undefined && token !== '-' && isClientName(token)) return {clientName: token}
  return {clientName: name, token: token === '-' ? undefined : token}
}

/**
 * A client that authenticates (a secret, a key, a certificate, a federated token, or a method that
 * needs one) is a web API's or a web app's; a public client (`--auth-method none`, or nothing to
 * authenticate with) is not, and no token is addressed to it.
 */
function isConfidential({name, settings}: {name: string; settings: ClientSettings}): boolean {
  if (settings.authMethod !== undefined) return settings.authMethod !== 'none'
  return hasOwnCredential(credentialLocationOf(name, settings))
}

export interface AudienceOptions {
  audiences: string[]
  /** Where the audiences came from when --audience gave none, for the aud line. */
  audienceDefault?: string
}

/**
 * `--audience` as given; without it, a named confidential client's own names, as Microsoft.Identity.Web
 * accepts by default (`clientId` and `api://{clientId}`); else none, and the aud check says it was not made.
 */
export function audienceOptions(given: string[] | undefined, client?: {name: string; settings: ClientSettings}): AudienceOptions {
  if (given !== undefined && given.length > 0) return {audiences: given}
  if (!client || !isConfidential(client)) return {audiences: []}
  return {
    audiences: webApiAudiences(client.settings.clientId),
    audienceDefault: `no --audience: client "${client.name}"'s id and app ID URI, the audiences Microsoft.Identity.Web accepts by default`,
  }
}
