/**
 * The command line of `client add` (src/commands/client/add.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Args, Flags} from '@oclif/core'

import {connectionFlags} from '../flags.js'

export const args = {
  name: Args.string({ignoreStdin: true, description: 'name to give the client (A-Z a-z 0-9 . _ : -)', required: true}),
}

export const flags = {
  ...connectionFlags,
  'client-id': {...connectionFlags['client-id'], description: 'client identifier', required: true},
  issuer: {...connectionFlags.issuer, atLeastOne: ['issuer', 'token-endpoint'], description: 'issuer URL: discovery from /.well-known/openid-configuration or oauth-authorization-server'},
  replace: Flags.boolean({description: 'replace a client of the same name'}),
  'token-endpoint': {...connectionFlags['token-endpoint'], description: 'token endpoint URL; no discovery'},
}
