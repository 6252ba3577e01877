/**
 * Certificate credentials, as Entra apps use them (Microsoft's "certificate credentials", MSAL's
 * `WithCertificate`): a certificate and its private key, from a PEM file holding both or from a
 * PKCS#12 (.pfx/.p12) file protected by a password. They are checked before any request is made
 * (validity, the key matching the certificate) and normalised to PEM — the certificate chain, leaf
 * first, and the key as PKCS#8 — which is what the secure store keeps and what signs assertions.
 *
 * Node's crypto does X.509 (validity, fingerprints, checkPrivateKey) and every PEM key format; it
 * has no PKCS#12 parser, so node-forge unwraps .pfx files (loaded only for them).
 */
import {createHash, createPrivateKey, type KeyObject, X509Certificate} from 'node:crypto'
import {NotRegularFileError, readAtMost} from '../bounded-read.js'
import {ConfigError, messageOf} from '../errors.js'

/** A certificate credential as kept: PEM certificates (leaf first) and the PKCS#8 PEM private key. */
export interface CertificateMaterial {
  certificates: string[]
  key: string
}

/** A certificate credential ready to sign: the chain (leaf first) and the private key. */
export interface LoadedCertificate {
  chain: X509Certificate[]
  key: KeyObject
}

/** What `client show` prints about a certificate: nothing secret. */
export interface CertificateFacts {
  not_after: string
  not_before: string
  /** As `openssl x509 -fingerprint -sha256` prints it: upper-case hex pairs joined by colons. */
  sha256_thumbprint: string
  subject: string
}

export type ThumbprintAlgorithm = 'sha1' | 'sha256'

/** The base64url thumbprint of the DER certificate: the JWS header's `x5t#S256` (SHA-256) or `x5t` (SHA-1). */
export function thumbprint(certificate: X509Certificate, algorithm: ThumbprintAlgorithm): string {
  return createHash(algorithm).update(certificate.raw).digest('base64url')
}

export function certificateFacts(certificate: X509Certificate): CertificateFacts {
  return {
    not_after: new Date(certificate.validTo).toISOString(),
    not_before: new Date(certificate.validFrom).toISOString(),
    sha256_thumbprint: certificate.fingerprint256,
    subject: certificate.subject.replaceAll('\n', ', '),
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g

function unreadable(file: string, why: string): ConfigError {
  return new ConfigError(`cannot use the certificate file ${file}: ${why}`, 'certificate_unreadable', {
    suggestions: ['pass a PEM file holding the certificate and its private key, or a PKCS#12 file (.pfx, .p12)'],
  })
}

function wrongPassword(file: string, passwordVariable: string | undefined): ConfigError {
  return new ConfigError(passwordVariable ? `the password in ${passwordVariable} does not open ${file}` : `${file} is protected by a password`, 'certificate_password', {
    suggestions: [passwordVariable ? `check the password in ${passwordVariable}` : 'name the variable holding it with --certificate-password-env VAR'],
  })
}

function certificatePassword(passwordVariable: string | undefined): string | undefined {
  if (passwordVariable === undefined) return undefined
  const password = process.env[passwordVariable]
  if (password === undefined) {
    throw new ConfigError(`the certificate password: the environment variable ${passwordVariable} is not set`, 'no_secret')
  }

  return password
}

/** A PEM file: every CERTIFICATE block, and exactly one private key (PKCS#8, PKCS#1, SEC 1, encrypted or not). */
function fromPem(text: string, file: string, passwordVariable: string | undefined): LoadedCertificate {
  const blocks = [...text.matchAll(PEM_BLOCK)]
  const chain = blocks
    .filter(([, label]) => label === 'CERTIFICATE')
    .map(([block]) => {
      try {
        return new X509Certificate(block)
      } catch (error) {
        throw unreadable(file, `a certificate in it cannot be parsed (${messageOf(error)})`)
      }
    })
  const keys = blocks.filter(([, label]) => label.endsWith('PRIVATE KEY')).map(([block]) => block)
  if (chain.length === 0) throw unreadable(file, 'it holds no certificate (-----BEGIN CERTIFICATE-----)')
  if (keys.length === 0) throw unreadable(file, 'it holds no private key: a PEM certificate file must hold the key too')
  if (keys.length > 1) throw unreadable(file, `it holds ${keys.length} private keys, not one`)
  const encrypted = keys[0].includes('ENCRYPTED')
  const passphrase = certificatePassword(passwordVariable)
  if (encrypted && passphrase === undefined) throw wrongPassword(file, undefined)
  try {
    return {chain, key: createPrivateKey(encrypted ? {key: keys[0], passphrase} : keys[0])}
  } catch (error) {
    if (encrypted) throw wrongPassword(file, passwordVariable)
    throw unreadable(file, `its private key cannot be read (${messageOf(error)})`)
  }
}

/** A PKCS#12 file, unwrapped by node-forge; the certificates and key are then read by Node's crypto. */
async function fromPkcs12(bytes: Buffer, file: string, passwordVariable: string | undefined): Promise<LoadedCertificate> {
  const {default: forge} = await import('node-forge')
  let p12: ReturnType<typeof forge.pkcs12.pkcs12FromAsn1>
  try {
    const asn1 = forge.asn1.fromDer(bytes.toString('binary'))
    try {
      // Without a password variable, the empty password (what `openssl pkcs12 -passout pass:` writes).
      p12 = forge.pkcs12.pkcs12FromAsn1(asn1, certificatePassword(passwordVariable) ?? '')
    } catch (error) {
      if (/password|MAC could not be verified|decrypt/i.test(messageOf(error))) throw wrongPassword(file, passwordVariable)
      throw error
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error
    throw unreadable(file, `it is neither PEM nor PKCS#12 (${messageOf(error)})`)
  }

  const der = (asn1: ReturnType<typeof forge.asn1.fromDer>) => Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary')
  const bags = (type: string) => p12.getBags({bagType: type})[type] ?? []
  const chain = bags(forge.pki.oids.certBag).map(
    (bag) =>
      // node-forge parses RSA certificates only; others come back as their ASN.1.
      new X509Certificate(der(bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1)),
  )
  const keys = [...bags(forge.pki.oids.pkcs8ShroudedKeyBag), ...bags(forge.pki.oids.keyBag)].map((bag) => {
    const info = bag.key ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(bag.key)) : bag.asn1
    return createPrivateKey({format: 'der', key: der(info), type: 'pkcs8'})
  })
  if (chain.length === 0) throw unreadable(file, 'the PKCS#12 file holds no certificate')
  if (keys.length !== 1) throw unreadable(file, `the PKCS#12 file holds ${keys.length} private keys, not one`)
  return {chain, key: keys[0]}
}

/**
 * The certificate that goes with the key first, then the rest of the chain; the leaf must be valid
 * now. Every failure is exit 3 with a code that says which.
 */
function checked(loaded: LoadedCertificate, what: string, now = Date.now()): LoadedCertificate {
  const leaf = loaded.chain.find((certificate) => certificate.checkPrivateKey(loaded.key))
  if (!leaf) {
    throw new ConfigError(`${what}: the private key does not match the certificate`, 'certificate_key_mismatch', {
      suggestions: ['put the certificate and the private key that was made with it in the file'],
    })
  }

  const facts = certificateFacts(leaf)
  if (now < Date.parse(facts.not_before)) {
    throw new ConfigError(`${what}: the certificate is not valid yet (from ${facts.not_before})`, 'certificate_not_yet_valid', {
      suggestions: ["wait until it is valid, or check this machine's clock"],
    })
  }

  if (now > Date.parse(facts.not_after)) {
    throw new ConfigError(`${what}: the certificate expired on ${facts.not_after}`, 'certificate_expired', {
      suggestions: ['register a new certificate for the client and use it (tokenctl client add NAME --replace … --certificate-file NEW)'],
    })
  }

  return {chain: [leaf, ...loaded.chain.filter((certificate) => certificate !== leaf)], key: loaded.key}
}

/** A PEM or PKCS#12 file with its chain is a few KB; a megabyte still takes a CA bundle pasted in. */
const MAX_CERTIFICATE_FILE_BYTES = 1024 * 1024

/** Reads and checks a certificate file (PEM, or PKCS#12 with an optional password), before any request. */
export async function readCertificateFile(file: string, passwordVariable?: string): Promise<LoadedCertificate> {
  let bytes: Buffer | undefined
  try {
    bytes = await readAtMost(file, MAX_CERTIFICATE_FILE_BYTES)
  } catch (error) {
    const {code} = error as NodeJS.ErrnoException
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : messageOf(error)
    throw new ConfigError(`cannot read the certificate file ${file}: ${why}`, error instanceof NotRegularFileError ? 'not_regular_file' : 'certificate_unreadable', {
      suggestions: ['check the path given to --certificate-file'],
    })
  }

  if (bytes === undefined) throw unreadable(file, 'it holds more than 1 MiB, which no certificate and key take')
  const text = bytes.toString('utf8')
  const loaded = text.includes('-----BEGIN ') ? fromPem(text, file, passwordVariable) : await fromPkcs12(bytes, file, passwordVariable)
  return checked(loaded, file)
}

export function certificateMaterial(loaded: LoadedCertificate): CertificateMaterial {
  return {
    certificates: loaded.chain.map((certificate) => certificate.toString()),
    key: loaded.key.export({format: 'pem', type: 'pkcs8'}) as string,
  }
}

/** A kept certificate credential, checked again (it may have expired since it was kept); `what` names it in errors. */
export function loadCertificateMaterial(material: CertificateMaterial, what: string): LoadedCertificate {
  return checked({chain: material.certificates.map((pem) => new X509Certificate(pem)), key: createPrivateKey(material.key)}, what)
}
