/**
 * Settings in whole layers (src/lib/config/settings.ts): flags, then a named client, then the
 * TOKENCTL_* variables; the server — issuer, token endpoint, the CA file that vouches for it, the
 * audience its client assertions want — is one setting. test/e2e/command-line-wins.test.ts proves
 * the same against real servers; these pin the merge itself, field by field.
 */
import {strict as assert} from 'node:assert'

import {resolveConnection, resolveIssuer, toConnection} from '../../src/lib/config/connection.js'
import {MAX_TIMEOUT_SECONDS} from '../../src/lib/config/timeouts.js'
import {clientLayer, environmentLayer, flagLayer, layered} from '../../src/lib/config/settings.js'
import {ConfigError, ExitCode, UsageError} from '../../src/lib/errors.js'

const ELSEWHERE = {TOKENCTL_CLIENT_ID: 'nobody', TOKENCTL_ISSUER: 'https://elsewhere.example', TOKENCTL_TOKEN_ENDPOINT: 'https://elsewhere.example/token'}

describe('connection settings, layer over layer', () => {
  describe('the server is one setting', () => {
    it('a flag naming the server takes issuer and token endpoint from the flags alone', () => {
      const settings = layered([flagLayer({issuer: 'https://idp.example'}), environmentLayer(ELSEWHERE)])
      assert.equal(settings.issuer, 'https://idp.example')
      assert.equal(settings.tokenEndpoint, undefined)
      assert.equal(settings.clientId, 'nobody', 'the client id is a setting of its own')
    })

    it('--token-endpoint alone names the server too: no issuer from the variables', () => {
      const settings = layered([flagLayer({'token-endpoint': 'https://idp.example/token'}), environmentLayer(ELSEWHERE)])
      assert.deepEqual([settings.issuer, settings.tokenEndpoint], [undefined, 'https://idp.example/token'])
    })

    it('a named client names the server, whatever it holds of it', () => {
      const client = {caFile: '/client-ca.pem', clientId: 'worker', tokenEndpoint: 'https://client.example/token'}
      const settings = layered([flagLayer({}), clientLayer(client), environmentLayer(ELSEWHERE)])
      assert.deepEqual([settings.issuer, settings.tokenEndpoint, settings.caFile, settings.clientId], [undefined, 'https://client.example/token', '/client-ca.pem', 'worker'])
    })

    it("the named client's CA file and assertion audience go with its server when the flags name another", () => {
      const client = {assertionAudience: 'token-endpoint' as const, caFile: '/client-ca.pem', clientId: 'worker', issuer: 'https://client.example'}
      const settings = layered([flagLayer({issuer: 'https://idp.example'}), clientLayer(client)])
      assert.deepEqual([settings.issuer, settings.caFile, settings.assertionAudience, settings.clientId], ['https://idp.example', undefined, undefined, 'worker'])
    })

    it("a CA file or assertion audience given alone overrides the named client's, its server kept", () => {
      const client = {assertionAudience: 'token-endpoint' as const, caFile: '/client-ca.pem', clientId: 'worker', issuer: 'https://client.example'}
      const settings = layered([flagLayer({'assertion-audience': 'issuer', 'ca-file': '/mine.pem'}), clientLayer(client)])
      assert.deepEqual([settings.issuer, settings.caFile, settings.assertionAudience], ['https://client.example', '/mine.pem', 'issuer'])
    })

    it('with no layer naming a server, there is none, and each field comes from where it is', () => {
      const settings = layered([flagLayer({'ca-file': '/mine.pem', 'client-id': 'worker'}), environmentLayer({})])
      assert.deepEqual(settings, {caFile: '/mine.pem', clientId: 'worker'})
    })
  })

  describe('every other setting, whole from the first layer that has it', () => {
    it("a list replaces the lower layer's list, never merges with it", () => {
      const client = {clientId: 'worker', issuer: 'https://client.example', params: [['a', '1']] as Array<[string, string]>, resources: ['r1'], scopes: ['read', 'write']}
      const settings = layered([flagLayer({param: ['b=2'], scope: ['admin']}), clientLayer(client)])
      assert.deepEqual([settings.scopes, settings.params, settings.resources], [['admin'], [['b', '2']], ['r1']])
    })

    it('a flag over a named client over a variable, for the client id', () => {
      const client = {clientId: 'from-client', issuer: 'https://client.example'}
      assert.equal(layered([flagLayer({'client-id': 'from-flag'}), clientLayer(client), environmentLayer(ELSEWHERE)]).clientId, 'from-flag')
      assert.equal(layered([flagLayer({}), clientLayer(client), environmentLayer(ELSEWHERE)]).clientId, 'from-client')
      assert.equal(layered([flagLayer({}), environmentLayer(ELSEWHERE)]).clientId, 'nobody')
    })

    it('empty variables are unset', () => {
      assert.deepEqual(environmentLayer({TOKENCTL_CLIENT_ID: '', TOKENCTL_ISSUER: '', TOKENCTL_TOKEN_ENDPOINT: ''}), {namesServer: false, settings: {}})
    })
  })

  describe('resolveConnection and resolveIssuer layer the same way', () => {
    it('--issuer with TOKENCTL_TOKEN_ENDPOINT exported: discovery at the issuer, no token endpoint from the variable', () => {
      const connection = resolveConnection(undefined, {'client-id': 'worker', issuer: 'https://idp.example'}, {...ELSEWHERE, TOKENCTL_CLIENT_SECRET: 's'})
      assert.equal(connection.issuer?.href, 'https://idp.example/')
      assert.equal(connection.tokenEndpoint, undefined)
    })

    it('the variables when nothing on the command line names a server', () => {
      const connection = resolveConnection(undefined, {}, {...ELSEWHERE, TOKENCTL_CLIENT_SECRET: 's'})
      assert.deepEqual([connection.issuer?.href, connection.tokenEndpoint?.href, connection.clientId], ['https://elsewhere.example/', 'https://elsewhere.example/token', 'nobody'])
    })

    it('token verify: --token-endpoint names a server with no issuer, and TOKENCTL_ISSUER does not fill it in', () => {
      assert.throws(
        () => resolveIssuer(undefined, {'token-endpoint': 'https://idp.example/token'}, ELSEWHERE),
        (error: ConfigError) => error.code === 'missing_configuration',
      )
      assert.equal(resolveIssuer(undefined, {}, ELSEWHERE).issuer.href, 'https://elsewhere.example/')
      assert.equal(resolveIssuer(undefined, {issuer: 'https://idp.example'}, ELSEWHERE).issuer.href, 'https://idp.example/')
    })
  })

  describe('--timeout, within what a timer can hold', () => {
    const settings = {clientId: 'worker', tokenEndpoint: 'https://idp.example/token'}
    it('30 s by default, up to one day', () => {
      assert.equal(MAX_TIMEOUT_SECONDS, 86_400)
      assert.equal(toConnection(settings, {credential: {kind: 'none'}}).timeoutSeconds, 30)
      assert.equal(toConnection({...settings, timeout: 1}, {credential: {kind: 'none'}}).timeoutSeconds, 1)
      assert.equal(toConnection({...settings, timeout: MAX_TIMEOUT_SECONDS}, {credential: {kind: 'none'}}).timeoutSeconds, MAX_TIMEOUT_SECONDS)
    })

    it('past one day, or not positive, is a usage error naming the bound (a config.json edited by hand too)', () => {
      for (const timeout of [MAX_TIMEOUT_SECONDS + 1, 2_147_484, 0, -1, Number.NaN]) {
        assert.throws(
          () => toConnection({...settings, timeout}, {credential: {kind: 'none'}}),
          (error: UsageError) => error.exitCode === ExitCode.usage && error.message === '--timeout must be a number of seconds from 1 to 86400',
          String(timeout),
        )
      }

      assert.throws(() => resolveIssuer(undefined, {issuer: 'https://idp.example', timeout: MAX_TIMEOUT_SECONDS + 1}, {}), UsageError)
    })
  })
})
