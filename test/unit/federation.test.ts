import {strict as assert} from 'node:assert'
import {resolve} from 'node:path'

import {methodFits} from '../../src/lib/config/connection.js'
import {credentialSourceOf, federatedSourceOf} from '../../src/lib/config/settings.js'
import {federatedSourceText} from '../../src/lib/config/credentials.js'
import type {FederatedCredential} from '../../src/lib/config/secrets.js'
import {UsageError} from '../../src/lib/errors.js'
import {maskParams} from '../../src/lib/http/trace.js'
import {environmentWithoutSecrets} from '../../src/lib/secret-variables.js'
import {federatedRefusalAdvice} from '../../src/lib/oauth/federated.js'

describe('federated client authentication: building blocks', () => {
  it("a source from the flags: the runner with its audience (default Entra's), a variable, a file made absolute", () => {
    assert.deepEqual(federatedSourceOf({'federated-token-github': true}), {audience: 'api://AzureADTokenExchange', kind: 'github'})
    assert.deepEqual(federatedSourceOf({'federated-audience': 'sts.amazonaws.com', 'federated-token-github': true}), {audience: 'sts.amazonaws.com', kind: 'github'})
    assert.deepEqual(federatedSourceOf({'federated-token-env': 'CI_JOB_JWT'}), {kind: 'env', variable: 'CI_JOB_JWT'})
    assert.deepEqual(credentialSourceOf({'federated-token-file': 'token'}), {from: {kind: 'file', path: resolve('token')}, kind: 'federated'})
    assert.equal(federatedSourceOf({}), undefined)
  })

  it('--federated-audience without the runner is a usage error: a file or variable token has its audience already', () => {
    for (const flags of [{'federated-audience': 'x'}, {'federated-audience': 'x', 'federated-token-file': 'f'}, {'federated-audience': '', 'federated-token-github': true}]) {
      assert.throws(
        () => federatedSourceOf(flags),
        (error: unknown) => error instanceof UsageError && error.exitCode === 2,
        JSON.stringify(flags),
      )
    }
  })

  it('a federated token goes with the federated method only, and the federated method with it only', () => {
    assert.ok(methodFits('federated', 'federated'))
    for (const method of ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const) assert.ok(!methodFits(method, 'federated'), method)
    for (const kind of ['secret', 'private_key', 'certificate', 'none'] as const) assert.ok(!methodFits('federated', kind), kind)
  })

  it('says where the token comes from, never what it is', () => {
    assert.equal(federatedSourceText({kind: 'file', path: '/var/run/secrets/azure/tokens/azure-identity-token'}), 'federated token from file /var/run/secrets/azure/tokens/azure-identity-token')
    assert.equal(federatedSourceText({kind: 'env', variable: 'AZURE_TOKEN'}), 'federated token from $AZURE_TOKEN')
    assert.equal(federatedSourceText({audience: 'api://AzureADTokenExchange', kind: 'github'}), 'federated token from the GitHub Actions runner (audience api://AzureADTokenExchange)')
  })

  it('the advice on a refusal quotes the presented claims (JSON-escaped, cut when long) and says when the token had expired', () => {
    const now = Date.UTC(2030, 0, 1)
    const credential: FederatedCredential = {
      kind: 'federated',
      label: 'x',
      presented: {aud: ['api://AzureADTokenExchange', 'b'], exp: now / 1000 + 60, iss: 'https://token.actions.githubusercontent.com', sub: `repo:o/r"\n${'x'.repeat(300)}`},
      source: {audience: 'api://AzureADTokenExchange', kind: 'github'},
    }
    const fresh = federatedRefusalAdvice(credential, now)!
    assert.match(
      fresh.suggestion,
      /^the federated token presented iss "https:\/\/token\.actions\.githubusercontent\.com", sub "repo:o\/r\\"\\nx+…", aud "\[\\"api:\/\/AzureADTokenExchange\\",\\"b\\"\]": the app's federated credential must name exactly/,
    )
    assert.ok(!fresh.suggestion.includes('x'.repeat(201)))
    assert.equal(fresh.details.presented_claims?.iss, 'https://token.actions.githubusercontent.com')

    const expired = federatedRefusalAdvice({...credential, presented: {...credential.presented, exp: now / 1000 - 300}, source: {kind: 'file', path: '/t'}}, now)!
    assert.match(expired.suggestion, /expired 5 min ago; the kubelet rewrites \/t/)
    assert.equal(federatedRefusalAdvice({...credential, presented: undefined}), undefined, 'nothing was presented: no advice')
  })

  it("the trace never shows the runner's answer (value) nor a client assertion", () => {
    assert.deepEqual(
      maskParams([
        ['value', 'eyJ.eyJ.sig'],
        ['client_assertion', 'eyJ.eyJ.sig'],
        ['count', '1'],
      ]),
      {client_assertion: '<redacted>', count: '1', value: '<redacted>'},
    )
  })

  it("a started program (a browser) never inherits the runner's request token", () => {
    const kept = environmentWithoutSecrets({ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-secret', ACTIONS_ID_TOKEN_REQUEST_URL: 'https://runner/x', PATH: '/bin'})
    assert.deepEqual(kept, {ACTIONS_ID_TOKEN_REQUEST_URL: 'https://runner/x', PATH: '/bin'})
  })
})
