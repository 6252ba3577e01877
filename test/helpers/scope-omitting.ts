/**
 * A token endpoint that leaves `scope` out of its answers where RFC 6749 §5.1 lets it ("OPTIONAL, if
 * identical to the scope requested by the client"), as Lemonldap::NG 2.16 does for client
 * credentials and every refresh. On the test server's provider (oidc-provider, which always names
 * the scope), at its `grant.success` event, before the answer is sent: `scope` goes from a
 * successful answer of those grants when it is the scope asked for, or when a refresh asked for
 * none (then it is the original grant's). What it removed is counted, so that a test knows the
 * server said nothing.
 */
import type {OidcProvider} from './auth-server.js'

/** The token endpoint's context as oidc-provider hands it to `grant.success`, before the answer is sent. */
interface GrantContext {
  body?: {scope?: unknown}
  oidc: {params?: {grant_type?: unknown; scope?: unknown}}
}

const sameScopes = (a: string, b: string) => a.split(' ').filter(Boolean).sort().join(' ') === b.split(' ').filter(Boolean).sort().join(' ')

export function omitGrantedScope(provider: OidcProvider): {readonly omitted: number} {
  let omitted = 0
  provider.on('grant.success', (ctx: GrantContext) => {
    const {body} = ctx
    const grant = ctx.oidc.params?.grant_type
    if (typeof body?.scope !== 'string' || (grant !== 'client_credentials' && grant !== 'refresh_token')) return
    const asked = ctx.oidc.params?.scope
    if (typeof asked === 'string' ? sameScopes(asked, body.scope) : grant === 'refresh_token') {
      delete body.scope
      omitted++
    }
  })
  return {
    get omitted() {
      return omitted
    },
  }
}
