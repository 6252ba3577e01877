/**
 * `offline_access` as Entra, Keycloak and most OAuth servers read it: asking for it is enough to get a
 * refresh token. oidc-provider follows OpenID Connect Core §11 to the letter and silently drops
 * `offline_access` from an authorization request unless `prompt` includes `consent`, so a plain
 * `scope=… offline_access` sign-in would end without a refresh token. Such a request gets `consent`
 * added to its `prompt` here: the person then sees the consent page, which is what §11 wants.
 */
import type {OidcProvider} from './oidc.js'

interface QueryContext {
  method: string
  path: string
  query: Record<string, string | string[] | undefined>
}

export function consentForOfflineAccess(provider: OidcProvider, authorizationPath: string): void {
  provider.use(async (ctx: QueryContext, next) => {
    if (ctx.method === 'GET' && ctx.path === authorizationPath) {
      const {scope, prompt} = ctx.query
      const scopes = typeof scope === 'string' ? scope.split(' ') : []
      const prompts = typeof prompt === 'string' ? prompt.split(' ').filter(Boolean) : []
      // prompt=none cannot show a consent page: oidc-provider's own rule stands then.
      if (scopes.includes('offline_access') && !prompts.includes('consent') && !prompts.includes('none')) {
        ctx.query = {...ctx.query, prompt: [...prompts, 'consent'].join(' ')}
      }
    }

    await next()
  })
}
