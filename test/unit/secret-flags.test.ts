/**
 * A secret typed as a flag value is refused (src/lib/secret-flags.ts): the message names the flag,
 * never the value, and the advice lists what the command at hand takes instead. The commands' own
 * flag sets are used, so the advice is checked against what a user of that command could type.
 * test/e2e/first-hour.test.ts and obo-sessions.test.ts see the same refusal through the CLI.
 */
import {strict as assert} from 'node:assert'

import Call from '../../src/commands/call.js'
import StoreStatus from '../../src/commands/store/status.js'
import TokenClient from '../../src/commands/token/client.js'
import TokenObo from '../../src/commands/token/obo.js'
import {ExitCode} from '../../src/lib/errors.js'
import {type FlagsOf, secretFlagRefusal} from '../../src/lib/secret-flags.js'

function refusal(flags: string[], command: FlagsOf): {advice: string; message: string} {
  const error = secretFlagRefusal(flags, command)
  assert.ok(error, `${flags.join(' ')} was not refused`)
  assert.equal(error.code, 'secret_on_command_line')
  assert.equal(error.exitCode, ExitCode.usage)
  assert.equal(error.suggestions.length, 1)
  return {advice: error.suggestions[0], message: error.message}
}

describe('secret flags', () => {
  it("a client secret: the command's three sources and the variable", () => {
    for (const flag of ['--client-secret', '--secret', '-secret']) {
      const {advice, message} = refusal([flag], TokenClient)
      assert.equal(message, `secrets are never taken as flag values: ${flag} does not exist`)
      assert.equal(advice, 'use --client-secret-env VAR, --client-secret-stdin or --client-secret-file PATH (or TOKENCTL_CLIENT_SECRET)')
    }
  })

  it("an assertion: the sources of the user's token, no variable of tokenctl's own", () => {
    assert.equal(refusal(['--assertion'], TokenObo).advice, 'use --assertion-env VAR, --assertion-stdin or --assertion-file PATH')
  })

  it("a password: the certificate password's one source", () => {
    assert.equal(refusal(['--password'], TokenClient).advice, 'use --certificate-password-env VAR')
  })

  it('a token: the two sources call has', () => {
    assert.equal(refusal(['--token'], Call).advice, 'use --token-env VAR or --token-stdin')
  })

  it('a command without a source for that secret: where secrets come from instead', () => {
    assert.equal(refusal(['--token'], TokenClient).advice, 'secrets come from an environment variable named by a flag, from stdin or from a file: see --help')
    assert.equal(refusal(['--client-secret'], StoreStatus).advice, 'secrets come from an environment variable named by a flag, from stdin or from a file: see --help')
    assert.equal(refusal(['--passphrase'], StoreStatus).advice, 'set TOKENCTL_STORE_PASSPHRASE, or TOKENCTL_STORE_PASSPHRASE_FILE to a file holding it')
    assert.equal(refusal(['--refresh-token'], TokenClient).advice, 'refresh tokens stay in the secure store: tokenctl session start or tokenctl token user --session-key keeps one')
  })

  it('the first secret among several unknown flags is the one named', () => {
    assert.equal(refusal(['--colour', '--token', '--secret'], Call).message, 'secrets are never taken as flag values: --token does not exist')
  })

  it('flags that only look like secrets are left to the unknown-flag message', () => {
    for (const flag of ['--colour', '--tokens', '--token-env', '--client-secret-env', '--secrets', '---token', '--Token', 'token', '--my-password', '--token_', 'x--token']) {
      assert.equal(secretFlagRefusal([flag], StoreStatus), undefined, flag)
    }

    assert.equal(secretFlagRefusal([], StoreStatus), undefined)
  })
})
