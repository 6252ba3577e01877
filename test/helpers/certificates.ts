/**
 * Client certificates for the certificate-credential tests, made with the `openssl` binary as a
 * person would make them for an Entra app: a key, a certificate (self-signed, or issued by a test CA
 * for subject name and issuer trust), PEM files (certificate + key in one), PKCS#12 files with a
 * password. `openssl ca` is used because it alone sets any validity window (expired, not yet valid).
 */
import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

const run = promisify(execFile)

export type KeyType = 'ec' | 'rsa'

export interface TestCertificate {
  /** The certificate alone (PEM), what an app registration gets. */
  certificatePem: string
  certificatePath: string
  /** The private key alone (PKCS#8 PEM). */
  keyPath: string
  /** Certificate and key in one PEM file: `--certificate-file`. */
  pemPath: string
  /** `openssl x509 -noout -fingerprint -sha256`, e.g. `sha256 Fingerprint=AB:CD:…`. */
  opensslFingerprint: string
  /** PKCS#12 of certificate, key (and chain) with `password`. */
  pfxPath: string
  password: string
}

export interface CertificateOptions {
  subject?: string
  type?: KeyType
  /** openssl `YYYYMMDDHHMMSSZ`; default: one hour ago. */
  startDate?: string
  /** openssl `YYYYMMDDHHMMSSZ`; default: in 90 days. */
  endDate?: string
  /** Issued by this CA instead of self-signed. */
  ca?: TestCa
  /** `openssl pkcs12 -legacy` (3DES/RC2, as older Windows exports), else OpenSSL 3's AES-256 and PBKDF2. */
  legacyPfx?: boolean
}

export interface TestCa {
  certificatePem: string
  certificatePath: string
  keyPath: string
}

export function opensslDate(date: Date): string {
  return `${date.toISOString().replaceAll(/[-:T]/g, '').slice(0, 14)}Z`
}

const CA_CONFIG = `[ca]
default_ca = test_ca
[test_ca]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
unique_subject = no
email_in_dn = no
[any]
commonName = supplied
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
[authority]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
`

const KEY_OPTIONS: Record<KeyType, string[]> = {
  ec: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
  rsa: ['-newkey', 'rsa:2048'],
}

/** A directory of certificates; `remove()` deletes it. */
export function certificateFactory() {
  const directory = mkdtempSync(join(tmpdir(), 'tokenctl-certs-'))
  const file = (name: string) => join(directory, name)
  writeFileSync(file('ca.cnf'), CA_CONFIG)
  writeFileSync(file('index.txt'), '')
  writeFileSync(file('serial'), '1000\n')
  let counter = 0
  const openssl = (...args: string[]) => run('openssl', args, {cwd: directory})

  // `openssl ca` rewrites its serial and index files: one signature at a time.
  let queue: Promise<unknown> = Promise.resolve()
  function sign(name: string, subject: string, options: CertificateOptions, extensions: string): Promise<void> {
    const next = queue.then(() => signNow(name, subject, options, extensions))
    queue = next.catch(() => {})
    return next
  }

  async function signNow(name: string, subject: string, options: CertificateOptions, extensions: string): Promise<void> {
    await openssl('req', '-new', '-config', 'ca.cnf', ...KEY_OPTIONS[options.type ?? 'rsa'], '-nodes', '-subj', `/CN=${subject}`, '-keyout', `${name}.key`, '-out', `${name}.csr`)
    const now = Date.now()
    const issuer = options.ca ? ['-cert', options.ca.certificatePath, '-keyfile', options.ca.keyPath] : ['-selfsign', '-keyfile', `${name}.key`]
    await openssl(
      'ca',
      '-batch',
      '-config',
      'ca.cnf',
      '-notext',
      '-extensions',
      extensions,
      ...issuer,
      '-in',
      `${name}.csr`,
      '-out',
      `${name}.crt`,
      '-startdate',
      options.startDate ?? opensslDate(new Date(now - 3600_000)),
      '-enddate',
      options.endDate ?? opensslDate(new Date(now + 90 * 86_400_000)),
    )
  }

  return {
    directory,
    async ca(subject = 'tokenctl test CA'): Promise<TestCa> {
      const name = `ca${++counter}`
      await sign(name, subject, {}, 'authority')
      return {certificatePath: file(`${name}.crt`), certificatePem: readFileSync(file(`${name}.crt`), 'utf8'), keyPath: file(`${name}.key`)}
    },
    async certificate(options: CertificateOptions = {}): Promise<TestCertificate> {
      const name = `leaf${++counter}`
      await sign(name, options.subject ?? `tokenctl-test-${counter}`, options, 'leaf')
      const certificatePem = readFileSync(file(`${name}.crt`), 'utf8')
      const keyPem = readFileSync(file(`${name}.key`), 'utf8')
      writeFileSync(file(`${name}.pem`), `${certificatePem}${keyPem}`)
      const password = `pfx-password-${counter}`
      const chain = options.ca ? ['-certfile', options.ca.certificatePath] : []
      await openssl('pkcs12', '-export', ...(options.legacyPfx ? ['-legacy'] : []), '-in', `${name}.crt`, '-inkey', `${name}.key`, ...chain, '-out', `${name}.pfx`, '-passout', `pass:${password}`)
      const {stdout} = await openssl('x509', '-in', `${name}.crt`, '-noout', '-fingerprint', '-sha256')
      return {
        certificatePem,
        certificatePath: file(`${name}.crt`),
        keyPath: file(`${name}.key`),
        opensslFingerprint: stdout.trim(),
        password,
        pemPath: file(`${name}.pem`),
        pfxPath: file(`${name}.pfx`),
      }
    },
    remove() {
      rmSync(directory, {force: true, recursive: true})
    },
  }
}
