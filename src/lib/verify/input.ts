/**
 * The token to verify, from the argument or stdin. A bearer token is a few KB (an Entra token with
 * many groups ~10 KB), so stdin is read up to a bound and no further: a wrong pipe (a log file, a
 * binary) ends as a usage error, not as a process holding gigabytes.
 */
import {UsageError} from '../errors.js'

export const MAX_TOKEN_BYTES = 64 * 1024

/** RFC 6750 §2.1 b64token: what an Authorization header (and so a bearer token) can carry. */
const BEARER_TOKEN = /^[\w.~+/-]+=*$/

export async function readTokenFromStdin(stdin: NodeJS.ReadStream = process.stdin, limit = MAX_TOKEN_BYTES): Promise<string> {
  if (stdin.isTTY) {
    throw new UsageError('token verify: stdin is a terminal; pipe the token in (tokenctl token user … | tokenctl token verify …) or pass it as the argument')
  }

  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stdin) {
    size += (chunk as Buffer).length
    if (size > limit) {
      stdin.destroy()
      throw new UsageError(`token verify: stdin holds more than ${limit / 1024} KiB, which no token is: pipe in the token alone`)
    }

    chunks.push(chunk as Buffer)
  }

  const text = Buffer.concat(chunks).toString('utf8').trim()
  if (text === '') throw new UsageError('token verify: stdin was empty')
  return text
}

/** The token as typed or piped, surrounding blanks removed; a token no header could carry is refused. */
export function checkTokenSyntax(token: string): string {
  const trimmed = token.trim()
  if (trimmed === '') throw new UsageError('token verify: the token is empty')
  if (trimmed.length > MAX_TOKEN_BYTES) throw new UsageError(`token verify: more than ${MAX_TOKEN_BYTES / 1024} KiB is no token`)
  if (!BEARER_TOKEN.test(trimmed)) {
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
