/**
 * A throwaway PKI for TLS tests, made with the `openssl` binary: a CA and a server certificate for
 * `127.0.0.1` / `localhost` (subjectAltName IP:127.0.0.1, DNS:localhost) signed by it, as PEM files
 * in a temporary directory. Where there is no openssl, `createTestPki` returns the reason and
 * `requireTestPki` fails with it.
 */
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {missingPrerequisite} from './prerequisites.js'

const run = promisify(execFile)

export interface TestPki {
  /** The temporary directory holding every file below. */
  directory: string
  /** The CA certificate (PEM): what `--ca-file` / `NODE_EXTRA_CA_CERTS` point at. */
  caCertPath: string
  caCert: string
  caKeyPath: string
  /** The server certificate (PEM), signed by the CA, for IP:127.0.0.1 and DNS:localhost. */
  serverCertPath: string
  serverCert: string
  /** The server's private key (PEM, unencrypted). */
  serverKeyPath: string
  serverKey: string
  /** Removes the directory. */
  remove(): void
}

/** Why TLS tests cannot run here: what `createTestPki` answers instead of a PKI. */
export interface PkiSkip {
  skipReason: string
}

export interface TestPkiOptions {
  /** The CA's common name, to tell several CAs apart in error messages. */
  caName?: string
  /** More DNS names for the server certificate, e.g. a name only a test proxy resolves. */
  dnsNames?: string[]
}

/** An openssl configuration of our own, so the system's openssl.cnf changes nothing. */
function opensslConfig(caName: string, dnsNames: string[] = []): string {
  return `[req]
distinguished_name = dn
prompt = no

[dn]
CN = ${caName}

[server_dn]
CN = 127.0.0.1

[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost${dnsNames.map((name) => `,DNS:${name}`).join('')}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** Undefined when the `openssl` binary answers, else why it does not. */
export async function opensslUnavailable(): Promise<string | undefined> {
  try {
    await run('openssl', ['version'])
    return undefined
  } catch (error) {
    const code = (error as {code?: string}).code
    return code === 'ENOENT' ? 'the openssl binary is not installed (apt-get install openssl)' : `openssl does not run: ${(error as Error).message}`
  }
}

/** A new CA and a server certificate for 127.0.0.1 / localhost, or why none can be made here. */
export async function createTestPki(options: TestPkiOptions = {}): Promise<TestPki | PkiSkip> {
  const unavailable = await opensslUnavailable()
  if (unavailable) return {skipReason: unavailable}

  const directory = mkdtempSync(join(tmpdir(), 'tokenctl-pki-'))
  const file = (name: string) => join(directory, name)
  const remove = () => rmSync(directory, {recursive: true, force: true})
  const config = file('openssl.cnf')
  writeFileSync(config, opensslConfig(options.caName ?? 'tokenctl test CA', options.dnsNames))
  try {
    await run('openssl', ['req', '-x509', '-new', '-config', config, '-extensions', 'v3_ca', ...EC_KEY, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-sha256'])
    await run('openssl', ['req', '-new', '-config', config, '-subj', '/CN=127.0.0.1', ...EC_KEY, '-keyout', file('server.key'), '-out', file('server.csr')])
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      '2',
      '-sha256',
      '-extfile',
      config,
      '-extensions',
      'v3_server',
      '-out',
      file('server.pem'),
    ])
  } catch (error) {
    remove()
    const stderr = (error as {stderr?: string}).stderr ?? ''
    return {skipReason: `openssl could not make a test certificate: ${(error as Error).message}${stderr ? `\n${stderr}` : ''}`}
  }

  return {
    directory,
    caCertPath: file('ca.pem'),
    caCert: readFileSync(file('ca.pem'), 'utf8'),
    caKeyPath: file('ca.key'),
    serverCertPath: file('server.pem'),
    serverCert: readFileSync(file('server.pem'), 'utf8'),
    serverKeyPath: file('server.key'),
    serverKey: readFileSync(file('server.key'), 'utf8'),
    remove,
  }
}

export function isPkiSkip(value: TestPki | PkiSkip): value is PkiSkip {
  return 'skipReason' in value
}

/** A PKI, or a failure saying why none can be made here (the suite skips nothing). */
export async function requireTestPki(options: TestPkiOptions = {}): Promise<TestPki> {
  const created = await createTestPki(options)
  if (isPkiSkip(created)) missingPrerequisite(created.skipReason, 'apt-get install openssl')
  return created
}
