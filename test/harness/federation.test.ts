/**
 * The federated client authentication of the test authorization server (src/lib/devidp/federation.ts)
 * and the fake GitHub Actions token service (test/helpers/github-actions.ts), driven by hand-made
 * requests: they must refuse what Microsoft Entra and GitHub refuse, or the end-to-end tests against
 * them prove nothing. Entra matches a federated token's issuer, subject and audience exactly
 * (AADSTS70021 otherwise) and refuses an expired one (AADSTS700024), both as invalid_client:
 * https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation and
 * https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
 */
import {strict as assert} from 'node:assert'

import {decodeJwt} from 'jose'

import {JWT_BEARER_GRANT} from '../../src/lib/oauth/urns.js'
import {createWorkloadIssuer} from '../../src/lib/devidp/workload-issuer.js'
import {type AuthServer, startAuthServer} from '../helpers/auth-server.js'
import {type FakeGithubActions, REQUEST_TOKEN, startFakeGithubActions} from '../helpers/github-actions.js'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const AUDIENCE = 'api://AzureADTokenExchange'

describe('harness: federated credentials as Entra checks them, and a fake GitHub Actions token service', function () {
  this.timeout(30_000)
  let github: FakeGithubActions
  let server: AuthServer

  before(async () => {
    github = await startFakeGithubActions()
    server = await startAuthServer({
      devClients: [
        {
          authMethod: 'federated',
          clientId: 'ci-app',
          federatedCredentials: [{audience: AUDIENCE, issuer: github.issuer, subject: github.subject}],
          grantTypes: ['client_credentials', 'refresh_token', JWT_BEARER_GRANT],
        },
      ],
    })
  })

  after(async () => {
    await server?.stop()
    await github?.stop()
  })

  beforeEach(() => {
    github.resetCounters()
    server.resetCounters()
  })

  async function clientCredentials(form: Record<string, string>, headers: Record<string, string> = {}) {
    const response = await fetch(server.tokenEndpoint, {body: new URLSearchParams({grant_type: 'client_credentials', scope: 'read', ...form}), headers, method: 'POST'})
    return {body: (await response.json()) as Record<string, unknown>, status: response.status}
  }

  const federated = (assertion: string, clientId = 'ci-app') => clientCredentials({client_assertion: assertion, client_assertion_type: ASSERTION_TYPE, client_id: clientId})

  it('the runner answers {"value": JWT} for the audience asked, only with its request token, and counts the calls', async () => {
    const ask = (audience: string | undefined, bearer = REQUEST_TOKEN) =>
      fetch(audience === undefined ? github.requestUrl : `${github.requestUrl}&audience=${encodeURIComponent(audience)}`, {headers: {authorization: `bearer ${bearer}`}})
    const answer = await ask(AUDIENCE)
    assert.equal(answer.status, 200)
    const {value} = (await answer.json()) as {value: string}
    const claims = decodeJwt(value)
    assert.deepEqual([claims.iss, claims.sub, claims.aud], [github.issuer, github.subject, AUDIENCE])
    assert.ok(Number(claims.exp) - Number(claims.iat) <= 300, "five minutes of life, as GitHub's")
    assert.equal(decodeJwt(((await (await ask(undefined)).json()) as {value: string}).value).aud, 'https://github.com/octo-org', "no audience: the owner's URL")
    assert.equal((await ask(AUDIENCE, 'wrong')).status, 401)
    assert.deepEqual(
      github.calls.map((call) => [call.audience, call.authorized]),
      [
        [AUDIENCE, true],
        [undefined, true],
        [AUDIENCE, false],
      ],
    )
    assert.equal(github.calls[0].token, value)
    const metadata = (await (await fetch(`${github.issuer}/.well-known/openid-configuration`)).json()) as {issuer: string; jwks_uri: string}
    assert.equal(metadata.issuer, github.issuer)
    assert.equal(((await (await fetch(metadata.jwks_uri)).json()) as {keys: unknown[]}).keys.length, 1)
  })

  it('accepts a token that matches issuer, subject and audience exactly, with client_id in the body', async () => {
    const accepted = await federated(await github.mint(AUDIENCE))
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body))
    assert.equal(decodeJwt(String(accepted.body.access_token)).client_id, 'ci-app')
  })

  it('refuses with invalid_client (AADSTS70021) another subject, issuer or audience, naming none of them', async () => {
    for (const claims of [{sub: 'repo:octo-org/octo-repo:ref:refs/heads/feature'}, {iss: 'https://token.actions.githubusercontent.com'}, {aud: 'api://other'}]) {
      const refused = await federated(await github.mint(AUDIENCE, claims))
      assert.equal(refused.status, 401, JSON.stringify(claims))
      assert.equal(refused.body.error, 'invalid_client')
      assert.match(String(refused.body.error_description), /^AADSTS70021:/)
      assert.ok(!String(refused.body.error_description).includes(String(Object.values(claims)[0])), 'the client must name the claims itself')
    }
  })

  it('refuses an expired token (AADSTS700024), a bad signature, a malformed token, a secret, and no assertion at all', async () => {
    const now = Math.floor(Date.now() / 1000)
    const expired = await federated(await github.mint(AUDIENCE, {exp: now - 600, iat: now - 900, nbf: now - 900}))
    assert.equal(expired.body.error, 'invalid_client')
    assert.match(String(expired.body.error_description), /^AADSTS700024:/)

    // Same issuer URL, subject and audience, another key: only the signature can tell.
    const impostor = await createWorkloadIssuer({issuer: github.issuer, requestToken: 'x', subject: github.subject})
    const forged = await federated(await impostor.mint(AUDIENCE))
    assert.equal(forged.body.error, 'invalid_client')
    assert.match(String(forged.body.error_description), /signature/)

    assert.equal((await federated('not.a.jwt')).body.error, 'invalid_client')
    assert.equal((await clientCredentials({client_id: 'ci-app', client_secret: 'guess'})).body.error, 'invalid_client')
    const basic = `Basic ${Buffer.from('ci-app:guess').toString('base64')}`
    assert.equal((await clientCredentials({}, {authorization: basic})).body.error, 'invalid_client')
    assert.equal((await clientCredentials({client_id: 'ci-app'})).body.error, 'invalid_client')
  })

  it("leaves the other clients to oidc-provider, and a federated client's refresh goes through the same check", async () => {
    const {basic} = server.clients
    assert.equal((await clientCredentials({client_id: basic.clientId, client_secret: basic.clientSecret!})).status, 200)

    const userToken = await server.mintUserToken({aud: 'ci-app', sub: 'alice'})
    const obo = async (extra: Record<string, string>) => {
      const body = new URLSearchParams({client_assertion: await github.mint(AUDIENCE), client_assertion_type: ASSERTION_TYPE, client_id: 'ci-app', ...extra})
      const response = await fetch(server.tokenEndpoint, {body, method: 'POST'})
      return (await response.json()) as Record<string, string>
    }

    const started = await obo({assertion: userToken, grant_type: JWT_BEARER_GRANT, requested_token_use: 'on_behalf_of', scope: 'read offline_access'})
    assert.ok(started.refresh_token, JSON.stringify(started))
    const refreshed = await obo({grant_type: 'refresh_token', refresh_token: started.refresh_token})
    assert.ok(refreshed.access_token, JSON.stringify(refreshed))
    const stolen = await fetch(server.tokenEndpoint, {body: new URLSearchParams({client_id: 'ci-app', grant_type: 'refresh_token', refresh_token: refreshed.refresh_token}), method: 'POST'})
    assert.equal(((await stolen.json()) as {error: string}).error, 'invalid_client', 'a refresh token alone is not the client')
  })

  it("dev idp's own runner imitation issues tokens its workload client accepts", async () => {
    const runnerUrl = `${new URL(server.issuer).origin}/github-actions/idtoken?api-version=2.0&audience=${encodeURIComponent(AUDIENCE)}`
    const answer = await fetch(runnerUrl, {headers: {authorization: 'bearer dev-runner-request-token'}})
    const {value} = (await answer.json()) as {value: string}
    const accepted = await federated(value, 'workload')
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body))
  })
})
