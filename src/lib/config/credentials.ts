/**
 * The credential model: how a client proves who it is, and where each piece of it lives.
 *
 *   source    where a credential given for one run is read (a flag or TOKENCTL_CLIENT_SECRET):
 *             an environment variable, a file, stdin. Read when a request is about to be made.
 *   material  the secret itself (a client secret, a private key, a certificate and its key), as the
 *             secure store keeps it: for a named client under its own entry, for a session inside
 *             the session's record (so it goes when the session goes).
 *   location  where a connection finds its credential: given (a source), a named client's entry
 *             (read when used, so `client add --replace` rotates it for every session started
 *             from that client), kept with a session (material), TOKENCTL_CLIENT_SECRET, or none.
 *
 * A credential that must be read fresh for every request and never stored (a federated token from
 * a file the kubelet rewrites, a CI variable, the GitHub Actions runner) is a source whose location
 * is kept instead of its material: a named client or a session records the source itself, and a
 * connection finds it as `given` (a source), whoever gave it.
 */
import type {JWK} from 'jose'

import type {CertificateMaterial, ThumbprintAlgorithm} from './certificates.js'

/** A DPoP private key (oauth/dpop-keys.ts) as the secure store keeps it: the private JWK (with its `alg`) and its RFC 7638 thumbprint. */
export interface DpopKeyMaterial {
  jkt: string
  jwk: JWK
}

export type DpopKeyLocation = {kind: 'connection'} | {kind: 'file'; path: string} | {jkt?: string; kind: 'named_client'; name: string} | {kind: 'kept'; material: DpopKeyMaterial; session: string}

/** Where a secret given on the command line comes from: never the flag's own value. */
export type SecretSource = {kind: 'env'; variable: string} | {kind: 'file'; path: string} | {kind: 'stdin'}

/**
 * Where a federated token (workload identity federation) is read, for every request: a file (a
 * Kubernetes projected service-account token, which the kubelet rewrites before it expires), an
 * environment variable (GitLab's `id_tokens`, any CI), or the GitHub Actions runner, asked for a
 * token with this audience. Never the token itself: this is what a named client and a session keep.
 */
export type FederatedTokenSource = {audience: string; kind: 'github'} | {kind: 'env'; variable: string} | {kind: 'file'; path: string}

/** The audience Microsoft Entra expects in a federated token (its federated credentials' default). */
export const DEFAULT_FEDERATED_AUDIENCE = 'api://AzureADTokenExchange'

export type CredentialSource =
  {file: string; kind: 'certificate'; passwordVariable?: string} | {file: string; kind: 'private_key'} | {from: SecretSource; kind: 'secret'} | {from: FederatedTokenSource; kind: 'federated'}

export type FederatedCredentialSource = Extract<CredentialSource, {kind: 'federated'}>

/** The environment variables a credential source reads (names, never values): no program tokenctl starts inherits them. */
export function variablesOf(source: CredentialSource): string[] {
  switch (source.kind) {
    case 'certificate': {
      return source.passwordVariable === undefined ? [] : [source.passwordVariable]
    }

    case 'federated':
    case 'secret': {
      return source.from.kind === 'env' ? [source.from.variable] : []
    }

    case 'private_key': {
      return []
    }
  }
}

/**
 * The GitHub Actions runner's OIDC token service: the URL to ask and the bearer token to ask with.
 * The runner sets both only for a job (or workflow) with `permissions: id-token: write`.
 */
export const GITHUB_TOKEN_REQUEST_URL = 'ACTIONS_ID_TOKEN_REQUEST_URL'
export const GITHUB_TOKEN_REQUEST_TOKEN = 'ACTIONS_ID_TOKEN_REQUEST_TOKEN'

/**
 * What a federated token presented, decoded locally (never verified, never the token): the claims a
 * federated credential must match (Entra: issuer, subject and audience, exactly), and its expiry.
 */
export interface PresentedClaims {
  aud?: unknown
  exp?: unknown
  iss?: unknown
  sub?: unknown
}

/** Where a federated token comes from, as `client show` and `session show` say it. */
export function federatedSourceText(source: FederatedTokenSource): string {
  switch (source.kind) {
    case 'env': {
      return `federated token from $${source.variable}`
    }

    case 'file': {
      return `federated token from file ${source.path}`
    }

    case 'github': {
      return `federated token from the GitHub Actions runner (audience ${source.audience})`
    }
  }
}

export type CredentialMaterial = ({kind: 'certificate'} & CertificateMaterial) | {key: string; kind: 'private_key'} | {kind: 'secret'; secret: string}

/** What a named client keeps in the secure store, besides the settings in config.json. */
export type StoredCredentialKind = CredentialMaterial['kind']

export type CredentialLocation =
  | {kind: 'environment'}
  | {kind: 'given'; source: CredentialSource}
  | {kind: 'kept'; material: CredentialMaterial; session: string}
  | {kind: 'named_client'; name: string; stored?: StoredCredentialKind; source?: FederatedCredentialSource}
  | {kind: 'none'}

export type CredentialKind = 'federated' | 'none' | StoredCredentialKind

export function credentialKind(location: CredentialLocation): CredentialKind {
  switch (location.kind) {
    case 'environment': {
      return 'secret'
    }

    case 'given': {
      return location.source.kind
    }

    case 'kept': {
      return location.material.kind
    }

    case 'named_client': {
      return location.source?.kind ?? location.stored ?? 'secret'
    }

    case 'none': {
      return 'none'
    }
  }
}

/**
 * Whether a location is a named client's own credential: one `client add` put in the secure store, or
 * the source of a federated token it keeps. A named client without one is used with
 * TOKENCTL_CLIENT_SECRET (or, on a fleet, a secret another host put in the shared store).
 */
export function hasOwnCredential(location: CredentialLocation): boolean {
  return location.kind === 'named_client' && (location.stored !== undefined || location.source !== undefined)
}

/** How a signed client assertion is made (private_key_jwt): non-secret, kept with the client and the session. */
export interface AssertionSettings {
  alg?: string
  /** The assertion's `aud`; default: the token endpoint for Entra, the issuer elsewhere. */
  assertionAudience?: AssertionAudience
  keyId?: string
  /** Certificates only: send the chain (`x5c`) in the header, for subject name and issuer trust. */
  sendX5c?: boolean
  /** Certificates only: `x5t#S256` (default) or the older SHA-1 `x5t`. */
  thumbprint?: ThumbprintAlgorithm
}

export const ASSERTION_AUDIENCES = ['token-endpoint', 'issuer'] as const
export type AssertionAudience = (typeof ASSERTION_AUDIENCES)[number]

export const clientSecretEntry = (clientName: string): string => `client-secret:${clientName}`
/** A named client's private key or certificate, as CredentialMaterial JSON. */
export const clientCredentialEntry = (clientName: string): string => `client-credential:${clientName}`
