/**
 * The sign-in robot: plays the person in front of the browser against the dev authorization server,
 * for the demo and the tests. Plain fetch, a tiny cookie jar, redirects followed by hand, and a
 * generic form filler: every page of that server holds at most one form whose first button approves
 * (./pages.ts), so the robot submits the first form it finds, typing the user name and the user code
 * where they are asked for, until the flow leaves the server (the loopback redirect) or ends on a
 * page without a form. A page answered with status >= 400 is a failure, thrown with its text.
 */

export interface RobotOptions {
  /** The user name to sign in with: any will do. */
  login: string
  /** Press Cancel / Deny instead of approving: the flow then ends in access_denied. */
  deny?: boolean
  /** Per request, default 10 s. */
  timeoutMs?: number
}

export interface DeviceApprovalOptions extends RobotOptions {
  /** The user code, typed in at the verification URI; not needed with `verification_uri_complete`. */
  userCode?: string
}

/** Pages the robot will walk through at most: a sign-in takes about six. */
const MAX_STEPS = 20

/**
 * Follows an authorization URL through sign-in and consent, and returns the URL the server finally
 * redirects to (the client's redirect_uri with `code` and `state`, or `error`) without calling it.
 */
export async function completeAuthorization(authorizationUrl: string | URL, options: RobotOptions): Promise<URL> {
  const start = new URL(authorizationUrl)
  const end = await walk(start, options, {login: options.login})
  if (end.kind === 'left') return end.url
  throw new Error(`the sign-in ended on ${end.url.pathname} without redirecting back to the client: ${pageText(end.html)}`)
}

/**
 * Approves a device-flow sign-in at the verification URI (with the user code in it, or typed in from
 * `userCode`): confirms the code, signs in and consents. Resolves once the server says it is done;
 * with `deny`, once it has refused the sign-in (the device's next poll then gets access_denied).
 */
export async function approveDevice(verificationUri: string | URL, options: DeviceApprovalOptions): Promise<void> {
  const fields: Record<string, string> = {login: options.login, ...(options.userCode === undefined ? {} : {user_code: options.userCode})}
  const end = await walk(new URL(verificationUri), options, fields)
  if (end.kind === 'left') throw new Error(`the device sign-in unexpectedly redirected to ${end.url.origin}${end.url.pathname}`)
}

type WalkEnd = {kind: 'left'; url: URL} | {kind: 'page'; url: URL; html: string}

async function walk(start: URL, options: RobotOptions, fields: Record<string, string>): Promise<WalkEnd> {
  const jar = new Map<string, string>()
  let request: {url: URL; method: string; body?: URLSearchParams} = {url: start, method: 'GET'}
  let denied = false
  for (let step = 0; step < MAX_STEPS; step++) {
    const response = await fetch(request.url, {
      method: request.method,
      body: request.body,
      headers: jar.size > 0 ? {cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; ')} : {},
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    })
    keepCookies(jar, response)
    const location = response.headers.get('location')
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel()
      const next = new URL(location, request.url)
      // The redirect back to the client (its loopback redirect_uri): the browser's job ends here.
      if (next.origin !== start.origin) return {kind: 'left', url: next}
      request = {url: next, method: 'GET'}
      continue
    }

    const html = await response.text()
    // Denied on purpose: the server's refusal page is where that ends.
    if (response.status >= 400 && denied) return {kind: 'page', url: request.url, html}
    if (response.status >= 400) throw new Error(`${request.url.pathname} answered ${response.status}: ${pageText(html)}`)
    const form = firstForm(html)
    if (form === undefined) return {kind: 'page', url: request.url, html}
    request = submission(form, request.url, fields, options.deny === true)
    denied ||= request.body?.get('decision') === 'deny'
  }

  throw new Error(`the sign-in took more than ${MAX_STEPS} pages`)
}

interface Form {
  attributes: Record<string, string>
  controls: Array<{tag: string; attributes: Record<string, string>}>
}

/** The request a person makes by filling the form and pressing its first button (or its Deny button). */
function submission(form: Form, pageUrl: URL, fields: Record<string, string>, deny: boolean) {
  const body = new URLSearchParams()
  const buttons = []
  for (const {tag, attributes} of form.controls) {
    const type = (attributes.type ?? (tag === 'button' ? 'submit' : 'text')).toLowerCase()
    if (type === 'submit') {
      buttons.push(attributes)
    } else if (attributes.name !== undefined && type !== 'button' && type !== 'reset') {
      const value = type === 'hidden' ? attributes.value : (fields[attributes.name] ?? attributes.value)
      if (value === undefined) throw new Error(`the robot does not know what to type into "${attributes.name}"`)
      body.append(attributes.name, value)
    }
  }

  // Denying: pages without a Deny button (the device code pages) are passed through to one that has it.
  const button = (deny ? buttons.find((candidate) => candidate.value === 'deny') : undefined) ?? buttons[0]
  if (button?.name !== undefined) body.append(button.name, button.value ?? '')
  const url = new URL(form.attributes.action ?? '', pageUrl)
  if ((form.attributes.method ?? 'get').toLowerCase() === 'post') return {url, method: 'POST', body}
  url.search = body.toString()
  return {url, method: 'GET'}
}

function firstForm(html: string): Form | undefined {
  const match = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html)
  if (!match) return undefined
  const controls = [...match[2].matchAll(/<(input|button)\b([^>]*)>/gi)].map(([, tag, attributes]) => ({
    tag: tag.toLowerCase(),
    attributes: parseAttributes(attributes),
  }))
  return {attributes: parseAttributes(match[1]), controls}
}

function parseAttributes(text: string): Record<string, string> {
  const attributes: Record<string, string> = {}
  for (const [, name, double, single, bare] of text.matchAll(/([^\s"'=<>/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    attributes[name.toLowerCase()] = decodeEntities(double ?? single ?? bare ?? '')
  }

  return attributes
}

const NAMED_ENTITIES: Record<string, string> = {amp: '&', lt: '<', gt: '>', quot: '"', apos: "'"}

function decodeEntities(text: string): string {
  return text.replaceAll(/&(#x[\da-f]+|#\d+|[a-z]+);/gi, (entity, code: string) => {
    if (code[0] !== '#') return NAMED_ENTITIES[code.toLowerCase()] ?? entity
    return String.fromCodePoint(code[1].toLowerCase() === 'x' ? Number.parseInt(code.slice(2), 16) : Number(code.slice(1)))
  })
}

/** Cookies by name: one server, one flow; paths and expiry dates do not matter here, deletions do. */
function keepCookies(jar: Map<string, string>, response: Response): void {
  for (const header of response.headers.getSetCookie()) {
    const [pair, ...attributes] = header.split(';')
    const separator = pair.indexOf('=')
    if (separator <= 0) continue
    const name = pair.slice(0, separator).trim()
    const deleted = attributes.some((attribute) => {
      const [key, value = ''] = attribute.trim().split('=')
      const lower = key.toLowerCase()
      return (lower === 'max-age' && Number(value) <= 0) || (lower === 'expires' && Date.parse(value) < Date.now())
    })
    if (deleted) jar.delete(name)
    else jar.set(name, pair.slice(separator + 1).trim())
  }
}

/** A page's words without its markup, for error messages. */
function pageText(html: string): string {
  const text = html.replaceAll(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ').replaceAll(/<[^>]+>/g, ' ')
  return decodeEntities(text).replaceAll(/\s+/g, ' ').trim().slice(0, 300)
}
