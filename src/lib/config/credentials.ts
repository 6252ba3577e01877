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
 * is kept instead of its material: a named client or a session records the source itself.
 */
import type {CertificateMaterial, ThumbprintAlgorithm} from './certificates.js'

/** Where a secret given on the command line comes from: never the flag's own value. */
export type SecretSource = {kind: 'env'; variable: string} | {kind: 'file'; path: string} | {kind: 'stdin'}

export type CredentialSource =
  | {file: string; kind: 'certificate'; passwordVariable?: string}
  | {file: string; kind: 'private_key'}
  | {from: SecretSource; kind: 'secret'}

export type CredentialMaterial = ({kind: 'certificate'} & CertificateMaterial) | {key: string; kind: 'private_key'} | {kind: 'secret'; secret: string}

/** What a named client keeps in the secure store, besides the settings in config.json. */
export type StoredCredentialKind = CredentialMaterial['kind']

export type CredentialLocation =
  | {kind: 'environment'}
  | {kind: 'given'; source: CredentialSource}
  | {kind: 'kept'; material: CredentialMaterial; session: string}
  | {kind: 'named_client'; name: string; stored?: StoredCredentialKind; keyFile?: string}
  | {kind: 'none'}

export type CredentialKind = 'none' | StoredCredentialKind

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
      return location.stored ?? (location.keyFile ? 'private_key' : 'secret')
    }

    case 'none': {
      return 'none'
    }
  }
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
