/** `token decode`: a JWT's header and claims, times as dates; never a verdict on its signature. */
import type {CommandShell} from '../command-shell.js'
import {readStdin} from '../config/secrets.js'
import {UsageError} from '../errors.js'
import {decodeJwt} from '../jwt.js'
import {isTimeInRange} from '../oauth/token.js'
import {relativeTime} from '../output.js'
import {escapeControls, escapeJsonText} from '../terminal-text.js'
import type {CommandInput} from './input.js'
import type * as TokenDecode from './token-decode.flags.js'

const TIME_CLAIMS = ['exp', 'iat', 'nbf', 'auth_time']

export interface DecodedJson {
  claims: Record<string, unknown>
  header: Record<string, unknown>
  signature_verified: false
}

export async function tokenDecode({args}: CommandInput<typeof TokenDecode>, shell: CommandShell): Promise<DecodedJson> {
  const jwt = decodeJwt(await tokenInput(args.token))
  if (!jwt) throw new UsageError('not a JWT: expected three base64url segments with a JSON header and payload', 'invalid_jwt')
  // Whoever made the token chose its strings: JSON-escaped, C1 and bidi controls included.
  shell.log(`header: ${escapeJsonText(JSON.stringify(jwt.header, undefined, 2))}`)
  shell.log(`claims: ${escapeJsonText(JSON.stringify(jwt.payload, undefined, 2))}`)
  for (const claim of TIME_CLAIMS) {
    const value = jwt.payload[claim]
    if (typeof value !== 'number') continue
    // A time no date can state (1e20, negative) is shown as it is, not as a crash.
    if (isTimeInRange(value * 1000)) shell.log(`${claim}: ${new Date(value * 1000).toISOString()} (${describeTime(claim, value * 1000)})`)
    else shell.log(`${claim}: ${value} (out of range)`)
  }

  const binding = bindingText(jwt.payload.cnf)
  if (binding) shell.log(`cnf: ${escapeControls(binding)}`)
  shell.log('signature not verified')
  return {claims: jwt.payload, header: jwt.header, signature_verified: false}
}

/** What a `cnf` claim binds the token to (README, "Sender-constrained tokens"), for a person. */
function bindingText(cnf: unknown): string | undefined {
  if (cnf === undefined) return undefined
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return `${JSON.stringify(cnf)} (not an object: no binding an API could check)`
  const {jkt, 'x5t#S256': x5t} = cnf as Record<string, unknown>
  const parts: string[] = []
  if (typeof jkt === 'string') parts.push(`bound to a DPoP key (jkt ${jkt}): an API wants Authorization: DPoP and a proof signed with that key`)
  if (typeof x5t === 'string') parts.push(`bound to a client certificate (x5t#S256 ${x5t}): an API wants it presented in the TLS handshake`)
  return parts.length > 0 ? parts.join('; ') : `${JSON.stringify(cnf)} (no binding tokenctl knows: jkt, x5t#S256)`
}

/** The TOKEN argument, or stdin when it is `-` or not given; a terminal there is nobody piping one in. */
async function tokenInput(token: string | undefined, stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (token !== undefined && token !== '-') return token
  if (token === undefined && stdin.isTTY) {
    throw new UsageError('token decode: no TOKEN', 'usage_error', {
      suggestions: ['give the token as the argument (tokenctl token decode eyJhbGciOi…), or pipe it in (tokenctl token client ci | tokenctl token decode)'],
    })
  }

  return readStdin('token decode', 'tokenctl token client ci | tokenctl token decode', stdin)
}

function describeTime(claim: string, epochMs: number): string {
  const relative = relativeTime(epochMs)
  if (claim !== 'exp') return relative
  return epochMs > Date.now() ? `expires ${relative}` : `expired ${relative}`
}
