/**
 * The variables that stored credential sources read (src/lib/config/stored-variables.ts): what the
 * browser of a sign-in must not inherit, from config.json and from the session index.
 */
import {strict as assert} from 'node:assert'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {saveClient} from '../../src/lib/config/clients.js'
import {fileSessionIndex, type SessionSummary} from '../../src/lib/config/session-index.js'
import {storedSourceVariables} from '../../src/lib/config/stored-variables.js'
import type {SecretStore} from '../../src/lib/store/types.js'

const noStore = async (): Promise<SecretStore> => assert.fail("a local store's index is read without opening the store")

function summary(key: string, fields: Partial<SessionSummary>): SessionSummary {
  return {
    access_token_expires_at: null,
    client: 'c',
    client_id: 'c',
    created_at: '2026-01-01T00:00:00.000Z',
    flavor: 'rfc8693',
    last_refreshed_at: null,
    refresh_count: 0,
    scopes: [],
    session_key: key,
    status: 'active',
    token_endpoint: 'http://127.0.0.1/token',
    ...fields,
  }
}

describe('the variables stored credential sources read', () => {
  const previous = process.env.TOKENCTL_HOME
  let home: string
  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'tokenctl-stored-variables-'))
    process.env.TOKENCTL_HOME = home
  })
  afterEach(() => {
    if (previous === undefined) delete process.env.TOKENCTL_HOME
    else process.env.TOKENCTL_HOME = previous
    rmSync(home, {force: true, recursive: true})
  })

  it('none in a fresh home', async () => {
    assert.deepEqual(await storedSourceVariables(noStore), [])
  })

  it("a named client's federated token variable, and each session's, once each; files and runners name none", async () => {
    await saveClient('gitlab', {clientId: 'a', federatedToken: {kind: 'env', variable: 'GITLAB_OIDC_TOKEN'}, issuer: 'http://127.0.0.1'})
    await saveClient('pod', {clientId: 'b', federatedToken: {kind: 'file', path: '/var/run/token'}, issuer: 'http://127.0.0.1'})
    await saveClient('runner', {clientId: 'c', federatedToken: {audience: 'api://AzureADTokenExchange', kind: 'github'}, issuer: 'http://127.0.0.1'})
    await saveClient('plain', {clientId: 'd', issuer: 'http://127.0.0.1', storedCredential: 'secret'})
    await fileSessionIndex.put(summary('nightly', {credential: 'federated token from $CI_JOB_JWT, read for every request', credential_variables: ['CI_JOB_JWT']}))
    await fileSessionIndex.put(summary('again', {credential_variables: ['GITLAB_OIDC_TOKEN']}))
    await fileSessionIndex.put(summary('kept', {credential: 'kept with the session'}))
    assert.deepEqual((await storedSourceVariables(noStore)).sort(), ['CI_JOB_JWT', 'GITLAB_OIDC_TOKEN'])
  })
})
