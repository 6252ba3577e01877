/**
 * The pieces of `--format exec-credential` and `exec` that need no server: what KUBERNETES_EXEC_INFO
 * decides, the ExecCredential's shape, the sign-in advice of `token user` run by kubectl, and the flags
 * `exec --session` refuses. test/e2e/kubectl.test.ts and test/e2e/exec.test.ts run the whole thing.
 */
import {strict as assert} from 'node:assert'

import {execCredential, execCredentialVersion, noSignInReason, signInNeedsTerminal} from '../../src/lib/exec-credential.js'
import {ExitCode, isTokenctlError} from '../../src/lib/errors.js'
import {connectionFlags, sessionClientFlags} from '../../src/lib/flags.js'
import {NOT_WITH_SESSION} from '../../src/lib/operations/exec.js'

const info = (value: unknown) => ({KUBERNETES_EXEC_INFO: JSON.stringify(value)})

function configErrorOf(run: () => unknown): string {
  try {
    run()
  } catch (error) {
    assert.ok(isTokenctlError(error) && error.exitCode === ExitCode.config, String(error))
    return error.message
  }

  return assert.fail('no error')
}

describe('kubectl credential plugins: KUBERNETES_EXEC_INFO and the ExecCredential', () => {
  it('the apiVersion is the one kubectl asks for (v1 or v1beta1), v1beta1 without KUBERNETES_EXEC_INFO', () => {
    assert.equal(execCredentialVersion({}), 'client.authentication.k8s.io/v1beta1')
    assert.equal(execCredentialVersion({KUBERNETES_EXEC_INFO: ''}), 'client.authentication.k8s.io/v1beta1')
    assert.equal(execCredentialVersion(info({apiVersion: 'client.authentication.k8s.io/v1', spec: {interactive: false}})), 'client.authentication.k8s.io/v1')
    assert.equal(execCredentialVersion(info({apiVersion: 'client.authentication.k8s.io/v1beta1', spec: {}})), 'client.authentication.k8s.io/v1beta1')
  })

  it('anything else is a configuration error (exit 3) that says which versions work', () => {
    assert.match(
      configErrorOf(() => execCredentialVersion(info({apiVersion: 'client.authentication.k8s.io/v1alpha1'}))),
      /apiVersion "client.authentication.k8s.io\/v1alpha1"/,
    )
    assert.match(
      configErrorOf(() => execCredentialVersion(info({kind: 'ExecCredential'}))),
      /no apiVersion/,
    )
    assert.match(
      configErrorOf(() => execCredentialVersion(info({apiVersion: 1}))),
      /no apiVersion/,
    )
    assert.match(
      configErrorOf(() => execCredentialVersion({KUBERNETES_EXEC_INFO: '{'})),
      /not JSON/,
    )
    assert.match(
      configErrorOf(() => execCredentialVersion(info(['client.authentication.k8s.io/v1']))),
      /not a JSON object/,
    )
    assert.match(
      configErrorOf(() => execCredentialVersion(info({apiVersion: 'client.authentication.k8s.io/v1', spec: {interactive: 'yes'}}))),
      /spec.interactive/,
    )
  })

  it('prints the token and its expiry in whole seconds (RFC 3339, UTC); a token of unknown lifetime has no expirationTimestamp', () => {
    const expiresAt = Date.UTC(2026, 11, 5, 11, 0, 0, 999)
    assert.equal(
      execCredential({access_token: 'a.b.c', expires_at: expiresAt, token_type: 'Bearer'}, 'client.authentication.k8s.io/v1'),
      '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"a.b.c","expirationTimestamp":"2026-12-05T11:00:00Z"}}',
    )
    assert.deepEqual(JSON.parse(execCredential({access_token: 'opaque', token_type: 'Bearer'}, 'client.authentication.k8s.io/v1beta1')).status, {token: 'opaque'})
  })

  it('a sign-in may ask a person unless kubectl says nobody is there; kubectl 1.20 and 1.21 do not say, and stdin decides', () => {
    const terminal = () => true
    const pipe = () => false
    assert.equal(noSignInReason({}, pipe), undefined, 'not run by kubectl: as ever')
    assert.equal(noSignInReason(info({apiVersion: 'client.authentication.k8s.io/v1', spec: {interactive: true}}), pipe), undefined)
    assert.match(noSignInReason(info({apiVersion: 'client.authentication.k8s.io/v1', spec: {interactive: false}}), terminal) ?? '', /not interactive/)
    assert.equal(noSignInReason(info({apiVersion: 'client.authentication.k8s.io/v1beta1', spec: {}}), terminal), undefined)
    assert.match(noSignInReason(info({apiVersion: 'client.authentication.k8s.io/v1beta1', spec: {}}), pipe) ?? '', /stdin is not a terminal/)
  })

  it('token user where nobody can answer: exit 5, the command line given (without --format, with a session key, quoted for a shell) and the session refresh to use', () => {
    const error = signInNeedsTerminal('why', 'tokenctl', ['cli', '--scope', 'api://api/access_as_user openid', '--format=exec-credential', '--device'])
    assert.equal(error.exitCode, ExitCode.reauthenticate)
    assert.equal(error.code, 'interaction_required')
    assert.deepEqual(error.suggestions, [
      "sign in once from a terminal: tokenctl token user cli --scope 'api://api/access_as_user openid' --device --session-key KEY; then have the kubeconfig run tokenctl session refresh --key KEY --format exec-credential",
    ])
    const keyed = signInNeedsTerminal('why', 'tokenctl', ['cli', '--format', 'exec-credential', "--session-key=it's"])
    assert.match(keyed.suggestions[0], /token user cli '--session-key=it'\\''s'; then have the kubeconfig run tokenctl session refresh --key 'it'\\''s' --format exec-credential$/)
  })
})

describe('exec --session', () => {
  it('refuses exactly the connection flags that session refresh does not take (and --no-cache)', () => {
    const refused = Object.keys(connectionFlags).filter((name) => !Object.hasOwn(sessionClientFlags, name))
    assert.deepEqual([...NOT_WITH_SESSION].sort(), [...refused, 'no-cache'].sort())
  })
})
