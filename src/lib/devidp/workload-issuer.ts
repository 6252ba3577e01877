/**
 * An identity provider of the kind CI platforms run for their jobs, whose tokens a federated client
 * presents (workload identity federation): an issuer with a discovery document and a JWKS, and the
 * GitHub Actions runner's token request URL as GitHub documents it ("Configuring OpenID Connect in
 * cloud providers"): `GET <request URL>?api-version=2.0&audience=AUD` with `Authorization: bearer
 * <request token>`, answered `{"value": "<JWT>"}`. Its tokens look like GitHub's: `iss` the issuer,
 * `sub` `repo:OWNER/REPO:ref:refs/heads/main`, `aud` the audience asked for (the repository owner's
 * URL when none is), a `jti`, five minutes of life.
 *
 * `dev idp` serves one beside itself, under /github-actions, so that `--federated-token-github` can be
 * tried locally; the tests run one on a port of their own, as the real runner is another host.
 */
import {randomUUID} from 'node:crypto'
import type {IncomingMessage, ServerResponse} from 'node:http'

import {exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT} from 'jose'

/** GitHub's shape of a workflow's subject: this repository, this branch. */
export const DEFAULT_WORKLOAD_SUBJECT = 'repo:octo-org/octo-repo:ref:refs/heads/main'
/** GitHub's tokens live five minutes. */
const DEFAULT_LIFETIME_SECONDS = 300
const REQUEST_PATH = '/idtoken'

export interface WorkloadIssuerOptions {
  /** The issuer URL, path included (`http://127.0.0.1:8400/github-actions`); discovery is under it. */
  issuer: string
  /** The bearer token the request URL wants (the runner's ACTIONS_ID_TOKEN_REQUEST_TOKEN). */
  requestToken: string
  /** `sub` of the tokens it issues (default GitHub's shape for octo-org/octo-repo on main). */
  subject?: string
  lifetimeSeconds?: number
  /** Claims to add to (or change in) the token answered to one request: another `sub`, an `exp` in the past… */
  claimsFor?: (audience: string | undefined) => JWTPayload | undefined
}

export interface WorkloadIssuer {
  issuer: string
  jwksUri: string
  /** What the runner puts in ACTIONS_ID_TOKEN_REQUEST_URL: it already has a query (`?api-version=2.0`). */
  requestUrl: string
  requestToken: string
  subject: string
  /** A token as the request URL would answer it, for `audience`; `claims` add to or replace its claims (undefined removes one). */
  mint(audience: string, claims?: JWTPayload): Promise<string>
  /** Answers a request under the issuer's path (discovery, JWKS, the request URL); false for any other. */
  handle(req: IncomingMessage, res: ServerResponse): boolean
}

export async function createWorkloadIssuer(options: WorkloadIssuerOptions): Promise<WorkloadIssuer> {
  const issuer = options.issuer.replace(/\/$/, '')
  const base = new URL(issuer).pathname.replace(/\/$/, '')
  const subject = options.subject ?? DEFAULT_WORKLOAD_SUBJECT
  const lifetime = options.lifetimeSeconds ?? DEFAULT_LIFETIME_SECONDS
  const {privateKey, publicKey} = await generateKeyPair('RS256')
  const kid = randomUUID()
  const publicJwk: JWK = {...(await exportJWK(publicKey)), alg: 'RS256', kid, use: 'sig'}
  const jwksUri = `${issuer}/.well-known/jwks`
  const owner = /^repo:([^/]+)\//.exec(subject)?.[1] ?? 'octo-org'

  async function mint(audience: string, claims: JWTPayload = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000)
    const all: JWTPayload = {aud: audience, exp: now + lifetime, iat: now, iss: issuer, jti: randomUUID(), nbf: now, sub: subject, ...claims}
    for (const [name, value] of Object.entries(all)) if (value === undefined) delete all[name]
    return new SignJWT(all).setProtectedHeader({alg: 'RS256', kid, typ: 'JWT'}).sign(privateKey)
  }

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, {'cache-control': 'no-store', 'content-type': 'application/json'})
    res.end(JSON.stringify(body))
  }

  async function answerTokenRequest(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const [scheme, token] = (req.headers.authorization ?? '').split(/\s+/, 2)
    if (scheme?.toLowerCase() !== 'bearer' || token !== options.requestToken) {
      send(res, 401, {message: 'the request token (ACTIONS_ID_TOKEN_REQUEST_TOKEN) is missing or wrong'})
      return
    }

    // Without an audience the runner answers for the repository owner's URL, as GitHub does.
    const audience = url.searchParams.get('audience') ?? undefined
    send(res, 200, {count: 1, value: await mint(audience ?? `https://github.com/${owner}`, options.claimsFor?.(audience))})
  }

  return {
    issuer,
    jwksUri,
    requestUrl: `${issuer}${REQUEST_PATH}?api-version=2.0`,
    requestToken: options.requestToken,
    subject,
    mint,
    handle(req, res) {
      const url = new URL(req.url ?? '/', issuer)
      if (url.pathname !== base && !url.pathname.startsWith(`${base}/`)) return false
      const path = url.pathname.slice(base.length)
      if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
        send(res, 200, {
          claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'ref', 'repository', 'repository_owner'],
          id_token_signing_alg_values_supported: ['RS256'],
          issuer,
          jwks_uri: jwksUri,
          response_types_supported: ['id_token'],
          scopes_supported: ['openid'],
          subject_types_supported: ['public', 'pairwise'],
        })
      } else if (req.method === 'GET' && path === '/.well-known/jwks') {
        send(res, 200, {keys: [publicJwk]})
      } else if (req.method === 'GET' && path === REQUEST_PATH) {
        answerTokenRequest(req, res, url).catch(() => res.destroy())
      } else {
        send(res, 404, {message: 'Not Found'})
      }

      return true
    },
  }
}
