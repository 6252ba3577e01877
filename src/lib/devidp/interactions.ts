/**
 * Sign-in and consent for the authorization code and device flows: a login form where any user name
 * is accepted, then a consent form listing what the client asked for. oidc-provider's own
 * `devInteractions` would do the same but warns on every start; these are small enough to own.
 *
 * oidc-provider redirects the browser to INTERACTION_PATH/:uid with a cookie naming the interaction;
 * `interactionDetails` reads it back and `interactionFinished` redirects to where the flow resumes.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import type {OidcProvider} from './oidc.js'
import {type ConsentDetails, consentPage, deviceCodePage, deviceConfirmPage, deviceSuccessPage, errorPage, loginPage} from './pages.js'

export const INTERACTION_PATH = '/interaction'

/** The interaction page of one interaction: oidc-provider's `interactions.url`. */
export function interactionUrl(_ctx: unknown, interaction: {uid: string}): string {
  return `${INTERACTION_PATH}/${interaction.uid}`
}

export function isInteractionRequest(pathname: string): boolean {
  return pathname.startsWith(`${INTERACTION_PATH}/`)
}

interface Interaction {
  uid: string
  params: {client_id: string}
  prompt: {name: string; details: ConsentDetails}
  session?: {accountId?: string}
  grantId?: string
}

const ACCESS_DENIED = {error: 'access_denied', error_description: 'the user refused to sign in or to allow access'}

/** Answers GET (the page) and POST (the form) on INTERACTION_PATH/:uid. */
export async function handleInteraction(provider: OidcProvider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const interaction = (await provider.interactionDetails(req, res)) as Interaction
    if (req.method === 'POST') await submit(provider, interaction, await readForm(req), req, res)
    else if (req.method === 'GET') render(interaction, res)
    else sendHtml(res, 405, errorPage('method not allowed'))
  } catch (error) {
    // A lost or expired interaction cookie (SessionNotFound, 400) lands here; there is nothing to resume.
    const status = Number((error as {statusCode?: number}).statusCode ?? 500)
    const description = (error as {error_description?: string}).error_description ?? (error as Error).message
    sendHtml(res, status, errorPage(description))
  }
}

function render(interaction: Interaction, res: ServerResponse, error?: string): void {
  const action = `${INTERACTION_PATH}/${interaction.uid}`
  const clientId = interaction.params.client_id
  if (interaction.prompt.name === 'login') {
    sendHtml(res, error ? 400 : 200, loginPage({action, clientId, error}))
  } else if (interaction.prompt.name === 'consent') {
    const accountId = interaction.session?.accountId ?? ''
    sendHtml(res, 200, consentPage({action, clientId, accountId, details: interaction.prompt.details}))
  } else {
    sendHtml(res, 501, errorPage(`the ${interaction.prompt.name} prompt is not implemented`))
  }
}

async function submit(provider: OidcProvider, interaction: Interaction, form: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (form.get('decision') === 'deny') {
    await provider.interactionFinished(req, res, ACCESS_DENIED, {mergeWithLastSubmission: false})
    return
  }

  if (interaction.prompt.name === 'login') {
    const login = form.get('login')?.trim() ?? ''
    if (login === '') {
      render(interaction, res, 'Type a user name: any will do.')
      return
    }

    await provider.interactionFinished(req, res, {login: {accountId: login}}, {mergeWithLastSubmission: false})
    return
  }

  if (interaction.prompt.name === 'consent') {
    const grantId = await grantConsent(provider, interaction)
    await provider.interactionFinished(req, res, {consent: {grantId}}, {mergeWithLastSubmission: true})
    return
  }

  render(interaction, res)
}

/** Adds to the grant (a new one, or the session's existing one) everything the prompt says is missing. */
async function grantConsent(provider: OidcProvider, interaction: Interaction): Promise<string> {
  const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined
  const grant = existing ?? new provider.Grant({accountId: interaction.session?.accountId, clientId: interaction.params.client_id})
  const {missingOIDCScope, missingOIDCClaims, missingResourceScopes} = interaction.prompt.details
  if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '))
  if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims)
  for (const [resource, scopes] of Object.entries(missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '))
  return grant.save()
}

/** The page sources of oidc-provider's device flow (`features.deviceFlow`), in the same style. */
export const deviceFlowPages = {
  // `out` is the error as oidc-provider would answer it: {error: 'the code was not found'} for a
  // wrong code, {error: 'access_denied', error_description} when the person denied access.
  async userCodeInputSource(ctx: HtmlContext, form: string, out?: {error?: string; error_description?: string}, error?: Error) {
    ctx.type = 'html'
    if (error) ctx.status = 400
    const message = error?.name === 'AbortedError' ? 'Sign-in cancelled: the device will not be signed in.' : (out?.error_description ?? out?.error ?? error?.message)
    ctx.body = deviceCodePage(form, message)
  },
  async userCodeConfirmSource(ctx: HtmlContext, form: string, client: {clientId: string}, _deviceInfo: unknown, userCode: string) {
    ctx.type = 'html'
    ctx.body = deviceConfirmPage(form, client.clientId, userCode)
  },
  async successSource(ctx: HtmlContext & {oidc: {client: {clientId: string}}}) {
    ctx.type = 'html'
    ctx.body = deviceSuccessPage(ctx.oidc.client.clientId)
  },
}

interface HtmlContext {
  type: string
  status: number
  body: unknown
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store'})
  res.end(html)
}
