/**
 * Flag definitions shared by several commands, defined once (the connection flags of README's "Commands").
 * No flag ever takes a secret as its value: secrets come from an environment variable named by a
 * flag, from stdin, from a file, or from the secure store.
 */
import {Flags, type Interfaces} from '@oclif/core'

import {AUTH_METHODS} from './config/clients.js'
import {MAX_TIMEOUT_SECONDS} from './config/timeouts.js'
import {ASSERTION_AUDIENCES, DEFAULT_FEDERATED_AUDIENCE} from './config/credentials.js'
import {CREDENTIAL_FLAGS} from './credential-flags.js'
import {TOKEN_FORMATS} from './output.js'
import {environmentVariableName} from './secret-variables.js'

const CONNECTION = 'CONNECTION'
/** One credential per run: a secret, a private key, a certificate or a federated token. */
const CREDENTIAL_SOURCES: string[] = [...CREDENTIAL_FLAGS]
const ASSERTION_SOURCES = ['assertion-env', 'assertion-stdin', 'assertion-file']

/** A flag that names an environment variable: refuses anything that looks like the secret itself. */
export function environmentVariableFlag(name: string, description: string, exclusive: string[] = [], helpGroup?: string) {
  return Flags.string({
    description,
    exclusive: exclusive.filter((other) => other !== name),
    helpGroup,
    helpValue: 'VAR',
    // The fast path of bin/run.js recognises this very function and calls it too (scripts/fast-path-table.mjs).
    parse: environmentVariableName,
  })
}

const others = (names: string[], name: string) => names.filter((other) => other !== name)

/** Flags as parsed, typed from their definitions; any may be absent (commands take subsets). */
export type FlagValues<T> = Partial<Interfaces.InferredFlags<T>>

export const connectionFlags = {
  alg: Flags.string({description: 'JWS algorithm of the client assertion (default: from the key)', helpGroup: CONNECTION}),
  audience: Flags.string({description: 'audience parameter of the token request (repeatable)', helpGroup: CONNECTION, multiple: true}),
  'assertion-audience': Flags.string({
    description: 'aud of the client assertion (private_key_jwt) [default: token-endpoint for Microsoft Entra, issuer elsewhere]',
    helpGroup: CONNECTION,
    options: [...ASSERTION_AUDIENCES],
  }),
  'auth-method': Flags.string({
    description:
      'client authentication (default client_secret_basic, or private_key_jwt with --private-key-file or --certificate-file, federated with a --federated-token-… flag); tls_client_auth or self_signed_tls_client_auth present --certificate-file in the TLS handshake (mutual TLS)',
    helpGroup: CONNECTION,
    options: [...AUTH_METHODS],
  }),
  'ca-file': Flags.string({description: 'extra trusted CA certificates (PEM)', helpGroup: CONNECTION, helpValue: 'PATH'}),
  'client-id': Flags.string({description: 'client identifier (env: TOKENCTL_CLIENT_ID)', helpGroup: CONNECTION}),
  ...clientSecretFlags(),
  ...dpopFlags(),
  ...certificateFlags(),
  ...federatedTokenFlags(),
  issuer: Flags.string({
    description: 'issuer URL: discovery from /.well-known/openid-configuration or oauth-authorization-server (env: TOKENCTL_ISSUER)',
    helpGroup: CONNECTION,
    helpValue: 'URL',
  }),
  'key-id': Flags.string({description: 'kid of the private key (private_key_jwt)', helpGroup: CONNECTION}),
  param: Flags.string({description: 'extra token request parameter (repeatable); never a credential (client_secret, assertion, …)', helpGroup: CONNECTION, helpValue: 'k=v', multiple: true}),
  'private-key-file': privateKeyFileFlag(),
  resource: Flags.string({description: 'resource indicator, RFC 8707 (repeatable)', helpGroup: CONNECTION, helpValue: 'URI', multiple: true}),
  scope: Flags.string({description: 'scope (repeatable, or space separated)', helpGroup: CONNECTION, multiple: true}),
  timeout: Flags.integer({description: `seconds to wait for each HTTP request, at most ${MAX_TIMEOUT_SECONDS} [default: 30]`, helpGroup: CONNECTION, max: MAX_TIMEOUT_SECONDS, min: 1}),
  'token-endpoint': Flags.string({
    description: 'token endpoint URL; no discovery (env: TOKENCTL_TOKEN_ENDPOINT)',
    helpGroup: CONNECTION,
    helpValue: 'URL',
  }),
}

function clientSecretFlags() {
  return {
    'client-secret-env': environmentVariableFlag('client-secret-env', 'read the client secret from this environment variable', CREDENTIAL_SOURCES, CONNECTION),
    'client-secret-file': Flags.string({
      description: 'read the client secret from this file',
      exclusive: others(CREDENTIAL_SOURCES, 'client-secret-file'),
      helpGroup: CONNECTION,
      helpValue: 'PATH',
    }),
    'client-secret-stdin': Flags.boolean({
      description: 'read the client secret from stdin',
      exclusive: others(CREDENTIAL_SOURCES, 'client-secret-stdin'),
      helpGroup: CONNECTION,
    }),
  }
}

/** DPoP (RFC 9449): tokens bound to a key tokenctl holds, proved with a signed header on every request. */
function dpopFlags() {
  return {
    dpop: Flags.boolean({
      description: 'bind the tokens to a DPoP key (RFC 9449): a proof on every request; without --dpop-key-file tokenctl makes an ES256 key and keeps it in the secure store',
      helpGroup: CONNECTION,
    }),
    'dpop-key-file': Flags.string({description: 'the DPoP private key: PEM (PKCS#8) or JWK; implies --dpop', helpGroup: CONNECTION, helpValue: 'PATH'}),
  }
}

function privateKeyFileFlag() {
  return Flags.string({
    description: 'private key for private_key_jwt: PEM (PKCS#8) or JWK',
    exclusive: others(CREDENTIAL_SOURCES, 'private-key-file'),
    helpGroup: CONNECTION,
    helpValue: 'PATH',
  })
}

/** A certificate credential, as Entra apps use them: PEM (certificate + key) or PKCS#12. */
function certificateFlags() {
  return {
    'certificate-file': Flags.string({
      description: 'private_key_jwt with a certificate: PEM holding the certificate and its private key, or PKCS#12 (.pfx, .p12)',
      exclusive: others(CREDENTIAL_SOURCES, 'certificate-file'),
      helpGroup: CONNECTION,
      helpValue: 'PATH',
    }),
    'certificate-password-env': {
      ...environmentVariableFlag('certificate-password-env', 'read the password of --certificate-file from this environment variable', [], CONNECTION),
      dependsOn: ['certificate-file'],
    },
    'send-x5c': Flags.boolean({description: 'send the certificate chain (x5c) in the assertion, for subject name and issuer trust', helpGroup: CONNECTION}),
    thumbprint: Flags.string({
      description: 'how the assertion names the certificate: sha256 (x5t#S256, PS256 for RSA) or sha1 (x5t, RS256) [default: sha256]',
      helpGroup: CONNECTION,
      options: ['sha256', 'sha1'],
    }),
  }
}

/**
 * Workload identity federation: a JWT another identity provider issued to this workload, read for
 * every request from a file, a variable or the GitHub Actions runner; never a flag's value.
 */
function federatedTokenFlags() {
  return {
    'federated-audience': Flags.string({
      description: `audience of the GitHub Actions runner's token (--federated-token-github) [default: ${DEFAULT_FEDERATED_AUDIENCE}]`,
      helpGroup: CONNECTION,
      helpValue: 'AUD',
    }),
    'federated-token-env': environmentVariableFlag(
      'federated-token-env',
      'federated client authentication with the JWT in this environment variable (GitLab id_tokens, any CI)',
      CREDENTIAL_SOURCES,
      CONNECTION,
    ),
    'federated-token-file': Flags.string({
      description: 'federated client authentication with the JWT in this file, read for every request (a Kubernetes projected service-account token)',
      exclusive: others(CREDENTIAL_SOURCES, 'federated-token-file'),
      helpGroup: CONNECTION,
      helpValue: 'PATH',
    }),
    'federated-token-github': Flags.boolean({
      description: "federated client authentication with the GitHub Actions runner's OIDC token, fetched for every request (the job needs permissions: id-token: write)",
      exclusive: others(CREDENTIAL_SOURCES, 'federated-token-github'),
      helpGroup: CONNECTION,
    }),
  }
}

/** The connection flags as parsed. */
export type ConnectionFlags = FlagValues<typeof connectionFlags>

/** What `session refresh` and `session end` may add to the client a session remembers: a credential for this run. */
export const sessionClientFlags = {
  ...clientSecretFlags(),
  ...federatedTokenFlags(),
  'certificate-file': certificateFlags()['certificate-file'],
  'certificate-password-env': certificateFlags()['certificate-password-env'],
  'ca-file': connectionFlags['ca-file'],
  'private-key-file': privateKeyFileFlag(),
  timeout: connectionFlags.timeout,
}

/**
 * A session's key is --session-key on every command that takes one (Flags.string({...sessionKey(…)})).
 * The spelling each command had before keeps working as an alias, without a warning (scripts and cron
 * lines use them): --key on the session commands, --session on call and exec.
 */
export function sessionKey(alias: 'key' | 'session', description: string) {
  return {aliases: [alias], description: `${description} (also --${alias})`, helpValue: 'KEY'}
}

/** The incoming user token of on-behalf-of: never a literal value. */
export const assertionFlags = {
  'assertion-env': environmentVariableFlag('assertion-env', "read the user's access token (the assertion) from this environment variable", ASSERTION_SOURCES),
  'assertion-file': Flags.string({
    description: 'read the assertion from this file',
    exclusive: others(ASSERTION_SOURCES, 'assertion-file'),
    helpValue: 'PATH',
  }),
  'assertion-stdin': Flags.boolean({
    description: 'read the assertion from stdin',
    exclusive: [...others(ASSERTION_SOURCES, 'assertion-stdin'), 'client-secret-stdin'],
  }),
  flavor: Flags.string({
    description: 'entra (jwt-bearer, requested_token_use=on_behalf_of) or rfc8693 (token exchange); default: detected',
    options: ['entra', 'rfc8693'],
  }),
}

export type AssertionFlags = FlagValues<typeof assertionFlags>

export const cacheFlags = {
  force: Flags.boolean({description: 'skip the cache read; the new token is still cached'}),
  'min-ttl': Flags.integer({description: 'minimum seconds of life a cached token must have left (at least 60)', helpValue: 'SECONDS', min: 0}),
  'no-cache': Flags.boolean({description: 'neither read nor write the token cache', exclusive: ['force']}),
}

export const formatFlag = {
  format: Flags.string({
    default: 'token',
    description:
      "token: the token alone; header: an Authorization header (a DPoP-bound token: with its proof for --url); env: ACCESS_TOKEN=…; exec-credential: a Kubernetes ExecCredential, for a kubeconfig's exec entry (a bearer token: not for a DPoP-bound one)",
    options: [...TOKEN_FORMATS],
  }),
  method: Flags.string({description: '--format header of a DPoP-bound token: the method of the request the proof is for [default: GET]', dependsOn: ['url'], helpValue: 'METHOD'}),
  url: Flags.string({description: '--format header of a DPoP-bound token: the URL of the request its proof is for (a proof is good for one request)', helpValue: 'URL'}),
}

/** `--output PATH` / `-o` (README, "Commands"): stdout's data into PATH, atomically, only on success (see output-file.ts). */
export const outputFlag = {
  output: Flags.string({
    char: 'o',
    description: 'write what would go to stdout into PATH instead: a temporary file (0600) renamed over PATH only on success; - is stdout',
    helpValue: 'PATH',
  }),
}
