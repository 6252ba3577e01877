/**
 * The command line of `dev idp` (src/commands/dev/idp.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Flags} from '@oclif/core'

/** A free port is the default of the library; a person wants an issuer that stays the same across restarts. */
const DEFAULT_PORT = 8400

export const flags = {
  port: Flags.integer({default: DEFAULT_PORT, description: 'port on 127.0.0.1 (0: a free one)', max: 65_535, min: 0}),
  'mtls-port': Flags.integer({dependsOn: ['tls'], description: 'with --tls: the port that asks for client certificates [default: 0, a free one]', max: 65_535, min: 0}),
  tls: Flags.boolean({description: 'serve https with a CA of its own, and mutual TLS on a second port'}),
  'tls-dir': Flags.string({dependsOn: ['tls'], description: 'where --tls keeps its CA and certificates [default: TOKENCTL_HOME/dev-idp]', helpValue: 'PATH'}),
}
