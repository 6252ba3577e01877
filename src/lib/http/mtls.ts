/**
 * Mutual TLS (RFC 8705): the client certificate presented in the TLS handshake, for client
 * authentication (`tls_client_auth`, `self_signed_tls_client_auth`) and for tokens bound to it
 * (`cnf` `x5t#S256`), which an API accepts only over a connection presenting the same certificate.
 * Every connection of a command that has one presents it: token requests (./dispatcher.ts) and
 * `call` (./call.ts) alike.
 */
import type {LoadedCertificate} from '../config/certificates.js'
import {thumbprint} from '../config/certificates.js'

export interface ClientCertificate {
  /** The chain, leaf first (PEM). */
  cert: string
  /** The private key (PKCS#8 PEM). */
  key: string
  /** base64url SHA-256 of the leaf's DER: what a bound token's `cnf` `x5t#S256` holds. */
  x5tS256: string
}

export function clientCertificateOf(loaded: LoadedCertificate): ClientCertificate {
  return {
    cert: loaded.chain.map((certificate) => certificate.toString()).join(''),
    key: loaded.key.export({format: 'pem', type: 'pkcs8'}) as string,
    x5tS256: thumbprint(loaded.chain[0], 'sha256'),
  }
}

/** The TLS options that present it (node:https, undici's connect). */
export function presenting(certificate: ClientCertificate | undefined): {cert?: string; key?: string} {
  return certificate ? {cert: certificate.cert, key: certificate.key} : {}
}
