/**
 * `dev idp --tls`: a certificate authority of its own, a server certificate it issued for this
 * machine (127.0.0.1, ::1, localhost), and a client certificate for the `mtls` client (mutual TLS,
 * RFC 8705), as PEM files in one folder, 0600. They are made once and used again by later starts
 * (a client added with `--certificate-file` keeps working across restarts), and made anew when one
 * is missing, unreadable or within a day of its end.
 *
 * Node's crypto makes the keys; node-forge (a dependency already, for PKCS#12) signs the certificates,
 * which Node's crypto cannot.
 */
import {createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate} from 'node:crypto'
import {mkdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {writePrivateFile} from '../private-files.js'

export interface DevPki {
  /** The folder holding the files. */
  directory: string
  /** The CA certificate (PEM): what `--ca-file` points at. */
  caCertificate: string
  caFile: string
  /** The server's certificate chain and key (PEM). */
  serverCertificate: string
  serverKey: string
  /** The `mtls` client's certificate and key in one PEM file: `--certificate-file`. */
  clientCertificate: string
  clientFile: string
  /** The client certificate alone (PEM), as the `mtls` client is registered with it. */
  clientCertificateOnly: string
}

const FILES = {ca: 'ca.pem', caKey: 'ca-key.pem', client: 'mtls-client.pem', server: 'server.pem'} as const
const VALID_DAYS = 825
const DAY_MS = 24 * 60 * 60 * 1000
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g
const PEM_KEY = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----\n?/

type Forge = typeof import('node-forge')

interface Issued {
  certificate: string
  key: string
}

function rsaKey(): {privateKey: string; publicKey: string} {
  return generateKeyPairSync('rsa', {modulusLength: 2048, privateKeyEncoding: {format: 'pem', type: 'pkcs8'}, publicKeyEncoding: {format: 'pem', type: 'spki'}})
}

/**
 * A positive serial of 16 random bytes (RFC 5280 §4.1.2.2) whose first byte is neither 0 nor above
 * 0x7f: node-forge writes the bytes as they are, and OpenSSL refuses an INTEGER with a needless
 * leading zero ("illegal padding"), which a random first byte of 0 used to give now and then.
 */
export function serialNumber(bytes: Buffer = randomBytes(16)): string {
  const serial = Buffer.from(bytes)
  serial[0] = serial[0] & 0x7f || 1
  return serial.toString('hex')
}

function issue(forge: Forge, subject: string, extensions: object[], issuer?: Issued): Issued {
  const keys = rsaKey()
  const certificate = forge.pki.createCertificate()
  certificate.publicKey = forge.pki.publicKeyFromPem(keys.publicKey)
  certificate.serialNumber = serialNumber()
  certificate.validity.notBefore = new Date(Date.now() - 60 * 60 * 1000)
  certificate.validity.notAfter = new Date(Date.now() + VALID_DAYS * DAY_MS)
  const name = [
    {name: 'commonName', value: subject},
    {name: 'organizationName', value: 'tokenctl dev idp'},
  ]
  certificate.setSubject(name)
  const signer = issuer ? forge.pki.certificateFromPem(issuer.certificate) : undefined
  certificate.setIssuer(signer ? signer.subject.attributes : name)
  certificate.setExtensions([...extensions, {name: 'subjectKeyIdentifier'}, ...(signer ? [{keyIdentifier: signer.generateSubjectKeyIdentifier().getBytes(), name: 'authorityKeyIdentifier'}] : [])])
  const signingKey = forge.pki.privateKeyFromPem(issuer?.key ?? keys.privateKey)
  certificate.sign(signingKey, forge.md.sha256.create())
  return {certificate: forge.pki.certificateToPem(certificate), key: keys.privateKey}
}

function fresh(pem: string | undefined): boolean {
  if (!pem) return false
  try {
    return Date.parse(new X509Certificate(pem).validTo) - Date.now() > DAY_MS
  } catch {
    return false
  }
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** The certificates and key of a PEM file; undefined unless both are there, readable and not near their end. */
function issuedFrom(text: string | undefined): Issued | undefined {
  const certificates = text?.match(PEM_CERTIFICATE)
  const key = text === undefined ? undefined : PEM_KEY.exec(text)?.[0]
  if (!certificates || !key || !fresh(certificates[0])) return undefined
  try {
    createPrivateKey(key)
  } catch {
    return undefined
  }

  return {certificate: certificates.join(''), key}
}

function pkiOf(directory: string, ca: Issued, server: Issued, client: Issued): DevPki {
  return {
    caCertificate: ca.certificate,
    caFile: path.join(directory, FILES.ca),
    clientCertificate: `${client.certificate}${client.key}`,
    clientCertificateOnly: client.certificate,
    clientFile: path.join(directory, FILES.client),
    directory,
    serverCertificate: server.certificate,
    serverKey: server.key,
  }
}

/** The PKI of `dev idp --tls` in `directory`: the one there when it is whole and good, else a new one, written there. */
export async function devPki(directory: string): Promise<DevPki> {
  mkdirSync(directory, {mode: 0o700, recursive: true})
  const file = (name: keyof typeof FILES) => path.join(directory, FILES[name])
  const ca = issuedFrom(`${readIfThere(file('ca')) ?? ''}${readIfThere(file('caKey')) ?? ''}`)
  const server = issuedFrom(readIfThere(file('server')))
  const client = issuedFrom(readIfThere(file('client')))
  const issuedByCa = (issued: Issued | undefined) => issued !== undefined && ca !== undefined && new X509Certificate(issued.certificate).checkIssued(new X509Certificate(ca.certificate))
  if (ca && server && client && issuedByCa(server) && issuedByCa(client)) return pkiOf(directory, ca, server, client)

  const {default: forge} = await import('node-forge')
  const newCa = issue(forge, 'tokenctl dev idp CA', [
    {cA: true, critical: true, name: 'basicConstraints'},
    {critical: true, cRLSign: true, keyCertSign: true, name: 'keyUsage'},
  ])
  const newServer = issue(
    forge,
    '127.0.0.1',
    [
      {cA: false, critical: true, name: 'basicConstraints'},
      {critical: true, digitalSignature: true, keyEncipherment: true, name: 'keyUsage'},
      {name: 'extKeyUsage', serverAuth: true},
      {
        altNames: [
          {ip: '127.0.0.1', type: 7},
          {ip: '::1', type: 7},
          {type: 2, value: 'localhost'},
        ],
        name: 'subjectAltName',
      },
    ],
    newCa,
  )
  const newClient = issue(
    forge,
    'mtls',
    [
      {cA: false, critical: true, name: 'basicConstraints'},
      {critical: true, digitalSignature: true, keyEncipherment: true, name: 'keyUsage'},
      {clientAuth: true, name: 'extKeyUsage'},
    ],
    newCa,
  )
  // The chain with the server's certificate, so that a client trusting the CA alone verifies it.
  const serverChain = {certificate: newServer.certificate, key: newServer.key}
  await writePrivateFile(file('caKey'), newCa.key)
  await writePrivateFile(file('ca'), newCa.certificate)
  await writePrivateFile(file('server'), `${serverChain.certificate}${serverChain.key}`)
  await writePrivateFile(file('client'), `${newClient.certificate}${newClient.key}`)
  return pkiOf(directory, newCa, serverChain, newClient)
}
