/**
 * A fake GitHub Actions runner's OIDC token service, on a port of its own (the real one is another
 * host than the authorization server): an issuer with a discovery document and a JWKS, and the
 * request URL a job finds in ACTIONS_ID_TOKEN_REQUEST_URL, which checks the bearer request token
 * (ACTIONS_ID_TOKEN_REQUEST_TOKEN) and answers `{"value": "<JWT>"}` for the audience asked for, as
 * GitHub documents it ("Configuring OpenID Connect in cloud providers"). The tokens are those of
 * src/lib/devidp/workload-issuer.ts, shaped like GitHub's. Every call to the request URL is recorded
 * (its raw URL, its audience, whether the request token fitted, the token answered), so that tests
 * can prove how often tokenctl asked and which token it then sent.
 */
import {createServer} from 'node:http'

import type {JWTPayload} from 'jose'

import {createWorkloadIssuer, type WorkloadIssuer} from '../../src/lib/devidp/workload-issuer.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'

export const REQUEST_TOKEN = 'fake-runner-request-token'

export interface RunnerCall {
  /** The request's path and query, as sent (the audience URL-encoded). */
  url: string
  /** The audience parameter, decoded; undefined when none was sent. */
  audience?: string
  /** The bearer request token was the right one. */
  authorized: boolean
  /** The JWT answered (`value`), if one was. */
  token?: string
}

export interface FakeGithubActions {
  issuer: string
  requestUrl: string
  subject: string
  /** What the runner gives a job with `permissions: id-token: write`. */
  env: {ACTIONS_ID_TOKEN_REQUEST_TOKEN: string; ACTIONS_ID_TOKEN_REQUEST_URL: string}
  /** Calls to the request URL since the start or `resetCounters()`. */
  calls: RunnerCall[]
  /** Claims that the tokens answered from now on carry instead (another `sub`, an `exp` in the past…); `undefined` for none. */
  setClaims(claims: JWTPayload | undefined): void
  /** The next requests answer with these statuses, one each (503 for an outage), before the token service answers again. */
  failNext(...statuses: number[]): void
  /** A token of this issuer, as the request URL would answer it: for a file or a variable. */
  mint(audience: string, claims?: JWTPayload): Promise<string>
  resetCounters(): void
  stop(): Promise<void>
}

export async function startFakeGithubActions(options: {subject?: string} = {}): Promise<FakeGithubActions> {
  const calls: RunnerCall[] = []
  const failures: number[] = []
  let claims: JWTPayload | undefined
  let issuer: WorkloadIssuer | undefined
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (url.pathname === '/idtoken') {
      const call: RunnerCall = {
        audience: url.searchParams.get('audience') ?? undefined,
        authorized: req.headers.authorization === `bearer ${REQUEST_TOKEN}`,
        url: req.url ?? '',
      }
      calls.push(call)
      const failure = failures.shift()
      if (failure !== undefined) {
        res.writeHead(failure, {'content-type': 'application/json'}).end(JSON.stringify({message: 'unavailable'}))
        return
      }

      // The answer is kept as it leaves: the token a test expects tokenctl to send next.
      const end = res.end.bind(res) as (chunk?: unknown) => typeof res
      res.end = ((chunk?: unknown) => {
        try {
          call.token = (JSON.parse(String(chunk)) as {value?: string}).value
        } catch {
          // an error page, not a token: nothing to remember
        }
        return end(chunk)
      }) as typeof res.end
    }

    if (!issuer?.handle(req, res)) res.writeHead(404).end()
  })
  const port = await listenOnLoopback(server)
  issuer = await createWorkloadIssuer({
    claimsFor: () => claims,
    issuer: `http://127.0.0.1:${port}`,
    requestToken: REQUEST_TOKEN,
    subject: options.subject,
  })
  return {
    issuer: issuer.issuer,
    requestUrl: issuer.requestUrl,
    subject: issuer.subject,
    env: {ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN, ACTIONS_ID_TOKEN_REQUEST_URL: issuer.requestUrl},
    calls,
    setClaims(next) {
      claims = next
    },
    failNext(...statuses) {
      failures.push(...statuses)
    },
    mint: (audience, extra) => issuer.mint(audience, extra),
    resetCounters() {
      calls.length = 0
      failures.length = 0
      claims = undefined
    },
    stop: () => closeServer(server),
  }
}
