/**
 * A user signing in, to get the token a web API would receive (the future OBO assertion):
 * the device authorization grant (RFC 8628) or the authorization code with S256 PKCE through a
 * loopback redirect on 127.0.0.1 and a random port (RFC 7636, RFC 8252). Optionally the refresh
 * token is kept as a session, so that `session refresh` serves user sessions too.
 */
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'

import type {Connection} from '../config/connection.js'
import {storedSourceVariables} from '../config/stored-variables.js'
import {CancelledError, ReauthenticationRequiredError} from '../errors.js'
import {closeServer, listenOnLoopback} from '../http/loopback.js'
import type {Runtime} from '../runtime.js'
import {environmentWithoutSecrets} from '../secret-variables.js'
import {openBrowser} from './browser.js'
import {oauthErrorFromBody} from './errors.js'
import type {AuthorizationRequest, GrantResult, OpenedClient} from './grants.js'
import {assertSessionKey, assertSessionKeyFree, keepSession} from './sessions.js'
import type {TokenResult} from './token.js'

export type SignInMethod = 'browser' | 'device'

/** What the person must be told: the command prints it on stderr. */
export type SignInPrompt = {expiresIn: number; kind: 'device'; userCode: string; verificationUri: string; verificationUriComplete?: string} | {kind: 'browser'; opened: boolean; url: string}

export interface SignInOptions {
  method: SignInMethod
  /** Open the system browser (browser sign-in); otherwise only the URL is shown. */
  open: boolean
  prompt: (prompt: SignInPrompt) => void
  replace?: boolean
  /** Keep the refresh token as a session under this key. */
  sessionKey?: string
  /** Aborted when the person gives up (Ctrl-C). */
  signal: AbortSignal
  /** How long to wait for the person, at most. */
  waitSeconds: number
}

export interface SignInResult {
  result: TokenResult
  sessionKey?: string
}

export async function signIn(connection: Connection, options: SignInOptions, runtime: Runtime): Promise<SignInResult> {
  const {sessionKey} = options
  if (sessionKey !== undefined) {
    assertSessionKey(sessionKey)
    await assertSessionKeyFree(await runtime.openStore(), sessionKey, options.replace === true) // before anyone signs in
  }

  const scopes = sessionKey !== undefined && !connection.scopes.includes('offline_access') ? [...connection.scopes, 'offline_access'] : connection.scopes
  const grants = await import('./grants.js')
  const opened = await grants.openClient(connection, runtime)
  const granted = options.method === 'device' ? await deviceSignIn(opened, scopes, options, runtime) : await browserSignIn(opened, scopes, options, runtime)
  if (sessionKey === undefined) return {result: {source: 'identity_provider', token: granted.token}}
  const kept = await keepSession(connection, granted, {flavor: 'sign-in', key: sessionKey, mayReplace: options.replace === true, scopes}, runtime)
  return {result: kept.result, sessionKey}
}

async function deviceSignIn(opened: OpenedClient, scopes: string[], options: SignInOptions, runtime: Runtime): Promise<GrantResult> {
  const {pollDeviceToken, requestDeviceAuthorization} = await import('./grants.js')
  const authorization = await requestDeviceAuthorization(opened, scopes)
  options.prompt({
    expiresIn: authorization.expires_in,
    kind: 'device',
    userCode: authorization.user_code,
    verificationUri: authorization.verification_uri,
    verificationUriComplete: authorization.verification_uri_complete,
  })
  const expiry = AbortSignal.timeout(Math.min(authorization.expires_in, options.waitSeconds) * 1000)
  runtime.hooks.progress?.({message: 'waiting for the sign-in to be approved', state: 'waiting'})
  try {
    return await pollDeviceToken(opened, authorization, scopes, AbortSignal.any([options.signal, expiry]))
  } catch (error) {
    if (options.signal.aborted) throw new CancelledError('sign-in cancelled')
    if (expiry.aborted) {
      // Whichever ran out first: our --wait, or the lifetime the server gave the device code.
      const waited = options.waitSeconds <= authorization.expires_in
      throw new ReauthenticationRequiredError(
        waited ? `nobody approved the sign-in within ${options.waitSeconds} s (--wait)` : `the device code expired after ${authorization.expires_in} s without an approval`,
        'expired_token',
        {
          suggestions: [waited ? 'run it again and approve it sooner, or give the person more time with --wait SECONDS' : 'run it again and approve it within the time the server allows'],
        },
      )
    }

    throw error
  } finally {
    runtime.hooks.progress?.({state: 'done'})
  }
}

const PAGE = (title: string, text: string) =>
  `<!DOCTYPE html><html><head><meta charset="utf-8"><title>tokenctl</title></head><body style="font-family:sans-serif;margin:4em"><h1>${title}</h1><p>${text}</p></body></html>`

function answer(response: ServerResponse, status: number, title: string, text: string): void {
  response.writeHead(status, {'cache-control': 'no-store', 'content-type': 'text/html; charset=utf-8'})
  response.end(PAGE(title, text))
}

/** The first callback on the loopback redirect that settles the sign-in: success, an error, or a wrong state. */
function awaitCallback(request: AuthorizationRequest, onRequest: (handler: (req: IncomingMessage, res: ServerResponse) => void) => void): Promise<URL> {
  return new Promise((resolve, reject) => {
    onRequest((req, res) => {
      const url = new URL(req.url ?? '/', request.redirectUri)
      if (url.pathname !== new URL(request.redirectUri).pathname) {
        answer(res, 404, 'Not found', 'This is tokenctl waiting for a sign-in.')
        return
      }

      if (url.searchParams.get('state') !== request.state) {
        answer(res, 400, 'Sign-in refused', 'The answer does not belong to this sign-in (state mismatch). Start again from tokenctl.')
        reject(
          new ReauthenticationRequiredError('the sign-in answer carried a wrong state (a stale or forged redirect)', 'state_mismatch', {
            suggestions: ['run the sign-in again'],
          }),
        )
        return
      }

      const error = url.searchParams.get('error')
      if (error) {
        answer(res, 400, 'Sign-in failed', `The authorization server said: ${error.replaceAll(/[<>&"]/g, '')}. You can close this window.`)
        // access_denied is the person's refusal (exit 5); anything else the server's (exit 4).
        reject(oauthErrorFromBody({error, error_description: url.searchParams.get('error_description') ?? undefined}, undefined, 'authorization'))
        return
      }

      answer(res, 200, 'Signed in', 'You can close this window and return to the terminal.')
      resolve(url)
    })
  })
}

/**
 * The browser's environment: ours less every secret, the variables that named clients and sessions
 * read their credentials from included. When those cannot be read (a shared store that does not
 * answer), no browser is started: the URL on stderr is the way.
 */
async function browserEnvironment(runtime: Runtime): Promise<NodeJS.ProcessEnv | undefined> {
  try {
    return environmentWithoutSecrets(process.env, await storedSourceVariables(runtime.openStore))
  } catch {
    return undefined
  }
}

async function startBrowser(url: URL, runtime: Runtime): Promise<boolean> {
  const env = await browserEnvironment(runtime)
  return env !== undefined && openBrowser(url, env)
}

async function browserSignIn(opened: OpenedClient, scopes: string[], options: SignInOptions, runtime: Runtime): Promise<GrantResult> {
  const {authorizationRequest, redeemAuthorizationCode} = await import('./grants.js')
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => answer(res, 503, 'Not ready', 'Try again in a moment.')
  const server = createServer((req, res) => handle(req, res))
  const port = await listenOnLoopback(server)
  try {
    const request = await authorizationRequest(opened, scopes, `http://127.0.0.1:${port}/callback`)
    const callback = awaitCallback(request, (handler) => {
      handle = handler
    })
    const expiry = AbortSignal.timeout(options.waitSeconds * 1000)
    const stopped = new Promise<never>((_resolve, reject) => {
      const stop = () =>
        reject(
          options.signal.aborted
            ? new CancelledError('sign-in cancelled')
            : new ReauthenticationRequiredError(`nobody signed in within ${options.waitSeconds} s (--wait)`, 'expired_token', {
                suggestions: ['run it again and sign in sooner, or give the person more time with --wait SECONDS'],
              }),
        )
      if (options.signal.aborted) stop()
      options.signal.addEventListener('abort', stop, {once: true})
      expiry.addEventListener('abort', stop, {once: true})
    })
    // Settled from here on, while the browser starts too: a Ctrl-C or an answer meanwhile is not lost.
    const settled = Promise.race([callback, stopped])
    settled.catch(() => {})
    const browserOpened = options.open ? await startBrowser(request.url, runtime) : false
    options.prompt({kind: 'browser', opened: browserOpened, url: request.url.href})
    runtime.hooks.progress?.({message: 'waiting for the sign-in in the browser', state: 'waiting'})
    const url = await settled
    runtime.hooks.progress?.({state: 'done'})
    return await redeemAuthorizationCode(opened, request, url)
  } finally {
    runtime.hooks.progress?.({state: 'done'})
    await closeServer(server)
  }
}
