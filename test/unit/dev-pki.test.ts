/**
 * dev idp's certificates (src/lib/devidp/pki.ts): serial numbers OpenSSL reads whatever the random
 * bytes, so that `dev idp --tls` (and the mutual-TLS tests) never fail to start now and then.
 */
import {strict as assert} from 'node:assert'
import {generateKeyPairSync, X509Certificate} from 'node:crypto'

import forge from 'node-forge'

import {serialNumber} from '../../src/lib/devidp/pki.js'

/** A self-signed certificate with this serial, made by node-forge as dev idp makes its own. */
function certificateWith(serial: string): string {
  const keys = generateKeyPairSync('rsa', {modulusLength: 1024, privateKeyEncoding: {format: 'pem', type: 'pkcs8'}, publicKeyEncoding: {format: 'pem', type: 'spki'}})
  const certificate = forge.pki.createCertificate()
  certificate.publicKey = forge.pki.publicKeyFromPem(keys.publicKey)
  certificate.serialNumber = serial
  certificate.validity.notBefore = new Date()
  certificate.validity.notAfter = new Date(Date.now() + 60_000)
  certificate.setSubject([{name: 'commonName', value: 'serial'}])
  certificate.setIssuer([{name: 'commonName', value: 'serial'}])
  certificate.sign(forge.pki.privateKeyFromPem(keys.privateKey), forge.md.sha256.create())
  return forge.pki.certificateToPem(certificate)
}

describe('dev idp certificates', () => {
  it('a serial is 16 bytes, positive and minimally encoded whatever the random bytes: OpenSSL reads every one', () => {
    for (const first of [0x00, 0x01, 0x05, 0x7f, 0x80, 0xff]) {
      const bytes = Buffer.alloc(16, 0x5a)
      bytes[0] = first
      if (first === 0x00) bytes[1] = 0x05 // a zero then a byte below 0x80: the encoding OpenSSL calls illegal padding
      const serial = serialNumber(bytes)
      assert.match(serial, /^(0[1-9a-f]|[1-7][0-9a-f])[0-9a-f]{30}$/, serial)
      assert.equal(new X509Certificate(certificateWith(serial)).serialNumber, serial.toUpperCase())
    }
  })

  it('the way it was: a zero in front of random bytes starting with 0x00 0x05 makes a certificate OpenSSL refuses', () => {
    assert.throws(() => new X509Certificate(certificateWith(`0${'0005'.padEnd(32, '5a')}`)), /illegal padding|ASN1/i)
  })
})
