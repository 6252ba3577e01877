/**
 * The command line of `token verify` (src/commands/token/verify.ts): the arguments and flags oclif parses,
 * from which its operation's input types are inferred (./input.ts) without importing the command.
 */
import {Args, Flags} from '@oclif/core'

import {connectionFlags} from '../flags.js'

/** Client credentials matter only to --introspect; anywhere else they would be silently ignored. */
const forIntrospection = <T extends object>(flag: T): T => ({...flag, dependsOn: ['introspect']})

export const args = {
  token: Args.string({ignoreStdin: true, description: 'the token, or - (the default) to read it from stdin'}),
  name: Args.string({ignoreStdin: true, description: 'named client: its issuer (and, for --introspect, its credentials)'}),
}

export const flags = {
  audience: Flags.string({
    description:
      "an audience the web API accepts (repeatable); an Entra app's client id X and app ID URI api://X count as one. Default with a named client that authenticates: its client id and api://{client id}, as Microsoft.Identity.Web; else aud is not checked (and the verdict says so)",
    multiple: true,
  }),
  'certificate-file': Flags.string({description: 'a certificate-bound token (cnf.x5t#S256): the certificate it must be bound to (PEM, or PKCS#12 with --certificate-password-env)', helpValue: 'PATH'}),
  'certificate-password-env': {...connectionFlags['certificate-password-env'], helpGroup: undefined},
  'clock-skew': Flags.integer({
    default: 300,
    description: "seconds of clock difference tolerated on exp and nbf, and on a DPoP proof's iat (Microsoft.Identity.Web's default)",
    helpValue: 'SECONDS',
    max: 86_400,
    min: 0,
  }),
  'dpop-proof': Flags.string({description: "a DPoP-bound token (cnf.jkt): the proof it is sent with (the DPoP header's value), checked as the API checks it", dependsOn: ['url'], helpValue: 'PROOF'}),
  method: Flags.string({description: 'the method of the request the DPoP proof is for [default: GET]', dependsOn: ['dpop-proof'], helpValue: 'METHOD'}),
  url: Flags.string({description: 'the URL of the request the DPoP proof is for', dependsOn: ['dpop-proof'], helpValue: 'URL'}),
  introspect: Flags.boolean({description: "ask the issuer's RFC 7662 introspection endpoint instead (opaque tokens), with the client's credentials"}),
  role: Flags.string({description: 'an app role the token must carry in roles (repeatable)', multiple: true}),
  scope: Flags.string({description: 'a scope the token must carry in scp (repeatable, or space separated)', multiple: true}),
  issuer: connectionFlags.issuer,
  'ca-file': connectionFlags['ca-file'],
  timeout: connectionFlags.timeout,
  'client-id': forIntrospection(connectionFlags['client-id']),
  'auth-method': forIntrospection(connectionFlags['auth-method']),
  'client-secret-env': forIntrospection(connectionFlags['client-secret-env']),
  'client-secret-file': forIntrospection(connectionFlags['client-secret-file']),
  'client-secret-stdin': forIntrospection(connectionFlags['client-secret-stdin']),
  'private-key-file': forIntrospection(connectionFlags['private-key-file']),
  'federated-token-file': forIntrospection(connectionFlags['federated-token-file']),
  'federated-token-env': forIntrospection(connectionFlags['federated-token-env']),
  'federated-token-github': forIntrospection(connectionFlags['federated-token-github']),
  'federated-audience': forIntrospection(connectionFlags['federated-audience']),
  'key-id': forIntrospection(connectionFlags['key-id']),
  alg: forIntrospection(connectionFlags.alg),
}
