/**
 * The command line of `call` (src/commands/call.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Args, Flags} from '@oclif/core'

import {MAX_TIMEOUT_SECONDS} from '../config/timeouts.js'
import {emptyValueAllowed} from '../empty-values.js'
import {connectionFlags, environmentVariableFlag, sessionKey} from '../flags.js'

const SOURCE = 'TOKEN SOURCE (exactly one)'

export const args = {url: Args.string({description: 'the API URL (https, or http to a loopback host)', ignoreStdin: true, required: true})}

export const flags = {
  'ca-file': connectionFlags['ca-file'],
  'certificate-file': Flags.string({
    description:
      'present this client certificate (PEM with its key, or PKCS#12) in the TLS handshake: for a certificate-bound token from --token-env or --token-stdin (a named client or session presents its own)',
    helpValue: 'PATH',
  }),
  'certificate-password-env': {...connectionFlags['certificate-password-env'], helpGroup: undefined},
  client: Flags.string({description: 'named client: client credentials, cached', helpGroup: SOURCE, helpValue: 'NAME'}),
  data: emptyValueAllowed(Flags.string({char: 'd', description: "request body (default method POST); -d '' sends an empty one", exclusive: ['data-file']})),
  'data-file': Flags.string({description: 'request body from a file, or - for stdin; streamed', helpValue: 'PATH|-'}),
  header: Flags.string({char: 'H', description: 'request header (repeatable)', helpValue: "'Name: value'", multiple: true}),
  include: Flags.boolean({char: 'i', description: 'print the status line and the response headers first'}),
  'no-fail': Flags.boolean({description: 'exit 0 even when the API answers with a status >= 400'}),
  output: Flags.string({
    char: 'o',
    description:
      'write the body (and with -i the headers) to PATH instead of stdout: a temporary file renamed over PATH only on success (a status >= 400 leaves PATH as it was, unless --no-fail); - is stdout',
    helpValue: 'PATH',
  }),
  request: Flags.string({char: 'X', description: 'HTTP method (default GET, or POST with a body)', helpValue: 'METHOD'}),
  retries: Flags.integer({default: 3, description: 'attempts after the first; 0 turns retries off', min: 0}),
  'retry-all': Flags.boolean({description: 'retry non-idempotent methods (POST, PATCH) too'}),
  'session-key': Flags.string({...sessionKey('session', 'a session: the session refresh rules'), helpGroup: SOURCE}),
  timeout: Flags.integer({default: 30, description: `seconds to wait for the response headers, and for each chunk of the body, at most ${MAX_TIMEOUT_SECONDS}`, max: MAX_TIMEOUT_SECONDS, min: 1}),
  'token-env': environmentVariableFlag('token-env', 'a bearer token from this environment variable', [], SOURCE),
  'token-stdin': Flags.boolean({description: 'a bearer token from stdin', helpGroup: SOURCE}),
}
