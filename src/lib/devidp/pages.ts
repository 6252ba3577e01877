/**
 * The few HTML pages a person (or the sign-in robot, ./robot.ts) meets on the dev authorization
 * server. Every page has at most one form, its buttons inside it, the approving button first; the
 * refusing one has `value="deny"`. Failures are answered with status 400 and a `class="error"` line.
 */

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:28em;margin:3em auto;padding:0 1em;line-height:1.5}' +
  'input[type=text]{font-size:1.1em;width:100%;box-sizing:border-box;padding:.4em}button{font-size:1em;margin:.8em .5em 0 0;padding:.4em 1.2em}' +
  '.error{color:#b00020}code{font-size:1.2em}small{color:#666}'

export function escapeHtml(text: string): string {
  return text.replaceAll(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)
}

export function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · tokenctl dev idp</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>
${body}
<p><small>tokenctl dev idp: a local authorization server for development. Any user name signs in; nothing is kept after it stops.</small></p>
</body></html>`
}

const errorLine = (error: string | undefined) => (error ? `<p class="error">${escapeHtml(error)}</p>\n` : '')

export function loginPage(options: {action: string; clientId: string; error?: string}): string {
  return page(
    'Sign in',
    `${errorLine(options.error)}<p><strong>${escapeHtml(options.clientId)}</strong> asks you to sign in. Any user name will do; there are no passwords here.</p>
<form method="post" action="${escapeHtml(options.action)}">
<label>User name <input type="text" name="login" autofocus required autocomplete="username"></label>
<button type="submit" name="decision" value="login">Sign in</button>
<button type="submit" name="decision" value="deny" formnovalidate>Cancel</button>
</form>`,
  )
}

/** What oidc-provider's consent prompt says is missing from the grant (`prompt.details`). */
export interface ConsentDetails {
  missingOIDCScope?: string[]
  missingOIDCClaims?: string[]
  missingResourceScopes?: Record<string, string[]>
}

export function consentPage(options: {action: string; clientId: string; accountId: string; details: ConsentDetails}): string {
  const {missingOIDCScope = [], missingOIDCClaims = [], missingResourceScopes = {}} = options.details
  const items = [
    ...(missingOIDCScope.length > 0 ? [`your identity: ${missingOIDCScope.join(', ')}`] : []),
    ...(missingOIDCClaims.length > 0 ? [`claims: ${missingOIDCClaims.join(', ')}`] : []),
    ...Object.entries(missingResourceScopes).map(([resource, scopes]) => `${resource}: ${scopes.join(', ')}`),
  ]
  return page(
    'Allow access?',
    `<p>Signed in as <strong>${escapeHtml(options.accountId)}</strong>. <strong>${escapeHtml(options.clientId)}</strong> asks for:</p>
<ul>${items.map((item) => `<li>${escapeHtml(item)}</li>`).join('')}</ul>
<form method="post" action="${escapeHtml(options.action)}">
<button type="submit" name="decision" value="allow" autofocus>Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  )
}

/**
 * oidc-provider hands the device pages a ready form (hidden xsrf and user code fields) without a
 * submit button, which sits outside it in its own pages: ours goes inside, where every browser and
 * the robot find it.
 */
function withButtons(form: string, buttons: string): string {
  return form.includes('</form>') ? form.replace('</form>', `${buttons}\n</form>`) : `${form}\n${buttons}`
}

export function deviceCodePage(form: string, error?: string): string {
  return page(
    'Sign in on another device',
    `${errorLine(error)}<p>Enter the code your device shows.</p>
${withButtons(form, '<button type="submit">Continue</button>')}`,
  )
}

export function deviceConfirmPage(form: string, clientId: string, userCode: string): string {
  return page(
    'Confirm the device',
    `<p><strong>${escapeHtml(clientId)}</strong> asks to sign you in on a device showing the code</p>
<p><code>${escapeHtml(userCode)}</code></p>
<p>Continue only if your device shows this code.</p>
${withButtons(form, '<button type="submit" autofocus>Continue</button>')}`,
  )
}

export function deviceSuccessPage(clientId: string): string {
  return page('Signed in', `<p>Your device (<strong>${escapeHtml(clientId)}</strong>) is signed in. You can close this window.</p>`)
}

export function errorPage(message: string): string {
  return page('Something went wrong', errorLine(message))
}
