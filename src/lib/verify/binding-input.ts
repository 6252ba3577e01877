/**
 * What `token verify` is given to check a sender-constrained token with: the DPoP proof and the
 * request it was made for, or the certificate a certificate-bound token must go with. A certificate
 * file here may hold the certificate alone (an API has no key of the client's): its first PEM
 * certificate, or a PKCS#12 file's leaf.
 */
import {X509Certificate} from 'node:crypto'

import {readAtMost} from '../bounded-read.js'
import {readCertificateFile, thumbprint} from '../config/certificates.js'
import {ConfigError, messageOf, UsageError} from '../errors.js'
import type {BindingEvidence} from './binding.js'

export interface BindingFlags {
  'certificate-file'?: string
  'certificate-password-env'?: string
  'dpop-proof'?: string
  method?: string
  url?: string
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/

async function certificateX5t(file: string, passwordVariable: string | undefined): Promise<string> {
  // A file that cannot be read is said by readCertificateFile below, as for every certificate flag.
  const bytes = await readAtMost(file, 1024 * 1024).catch(() => undefined)
  const pem = bytes === undefined ? undefined : PEM_CERTIFICATE.exec(bytes.toString('utf8'))?.[0]
  if (pem) {
    try {
      return thumbprint(new X509Certificate(pem), 'sha256')
    } catch (error) {
      throw new ConfigError(`the certificate in ${file} cannot be parsed (${messageOf(error)})`, 'certificate_unreadable')
    }
  }

  return thumbprint((await readCertificateFile(file, passwordVariable)).chain[0], 'sha256')
}

export async function bindingEvidenceOf(flags: BindingFlags): Promise<Pick<BindingEvidence, 'certificateX5t' | 'dpop'>> {
  const evidence: Pick<BindingEvidence, 'certificateX5t' | 'dpop'> = {}
  if (flags['dpop-proof'] !== undefined) {
    const url = flags.url ?? ''
    if (!URL.canParse(url)) throw new UsageError('--dpop-proof needs --url: the absolute URL of the request the proof was made for')
    evidence.dpop = {method: (flags.method ?? 'GET').toUpperCase(), proof: flags['dpop-proof'].trim(), url}
  }

  if (flags['certificate-file'] !== undefined) evidence.certificateX5t = await certificateX5t(flags['certificate-file'], flags['certificate-password-env'])
  return evidence
}
