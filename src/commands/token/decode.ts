import {Args} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {readStdin} from '../../lib/config/secrets.js'
import {UsageError} from '../../lib/errors.js'
import {decodeJwt} from '../../lib/jwt.js'
import {isTimeInRange} from '../../lib/oauth/token.js'
import {relativeTime} from '../../lib/output.js'
import {escapeControls, escapeJsonText} from '../../lib/terminal-text.js'

const TIME_CLAIMS = ['exp', 'iat', 'nbf', 'auth_time']

export default class TokenDecode extends BaseCommand {
  static override args = {
    token: Args.string({ignoreStdin: true, description: 'the JWT, or - (the default) to read it from stdin'}),
  }

  static override description = `Prints a JWT's header and claims, with exp/iat/nbf as dates and as "expires in 53m" / "expired 2h ago", and what a cnf claim binds the token to (a DPoP key, a client certificate).
The signature is NOT verified: whoever accepts the token must verify it.`

  static override examples = [
    '<%= config.bin %> token client ci | <%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> eyJhbGciOi… --json',
  ]

  static override summary = 'Show what is inside a JWT (signature not verified)'

  async run(): Promise<{claims: Record<string, unknown>; header: Record<string, unknown>; signature_verified: false}> {
    const {args} = await this.parse(TokenDecode)
    const input = args.token === undefined || args.token === '-' ? await readStdin('token decode') : args.token
    const jwt = decodeJwt(input)
    if (!jwt) throw new UsageError('not a JWT: expected three base64url segments with a JSON header and payload', 'invalid_jwt')
    // Whoever made the token chose its strings: JSON-escaped, C1 and bidi controls included.
    this.log(`header: ${escapeJsonText(JSON.stringify(jwt.header, undefined, 2))}`)
    this.log(`claims: ${escapeJsonText(JSON.stringify(jwt.payload, undefined, 2))}`)
    for (const claim of TIME_CLAIMS) {
      const value = jwt.payload[claim]
      if (typeof value !== 'number') continue
      // A time no date can state (1e20, negative) is shown as it is, not as a crash.
      if (isTimeInRange(value * 1000)) this.log(`${claim}: ${new Date(value * 1000).toISOString()} (${describeTime(claim, value * 1000)})`)
      else this.log(`${claim}: ${value} (out of range)`)
    }

    const binding = bindingText(jwt.payload.cnf)
    if (binding) this.log(`cnf: ${escapeControls(binding)}`)
    this.log('signature not verified')
    return {claims: jwt.payload, header: jwt.header, signature_verified: false}
  }
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

function describeTime(claim: string, epochMs: number): string {
  const relative = relativeTime(epochMs)
  if (claim !== 'exp') return relative
  return epochMs > Date.now() ? `expires ${relative}` : `expired ${relative}`
}
