/**
 * An attacker who signs tokens with a key of their own and puts that key in the token's header
 * (RFC 7515 §4.1): the key itself (`jwk`), a URL of a key set holding it (`jku`), a certificate for
 * it (`x5c`), or a URL of that certificate (`x5u`). Its key is in no issuer's JWKS, so a verifier that
 * trusts only the issuer's keys refuses every such token; one that trusted the header would accept
 * it. It serves the key set and the certificate on 127.0.0.1 and counts the requests: a verifier
 * that fetched them would show up there.
 */
import {createServer} from 'node:http'
import {readFileSync} from 'node:fs'
import {X509Certificate} from 'node:crypto'

import {exportJWK, importPKCS8, importX509, SignJWT} from 'jose'
import type {JWK, JWTPayload} from 'jose'

import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {certificateFactory} from './certificates.js'

export const KEY_PARAMETERS = ['jwk', 'jku', 'x5c', 'x5u'] as const
export type KeyParameter = (typeof KEY_PARAMETERS)[number]

export interface KeyForger {
  /** The attacker's public key, as a JWK with its kid. */
  publicJwk: JWK
  /** Requests to the attacker's key set and certificate URLs (jku, x5u); emptied by the tests. */
  requests: string[]
  /** A token with these claims, signed by the attacker's key, that key named by `parameter` in the header. */
  forge(claims: JWTPayload, parameter: KeyParameter, header?: Record<string, unknown>): Promise<string>
  stop(): Promise<void>
}

export async function startKeyForger(): Promise<KeyForger> {
  const certificates = certificateFactory()
  try {
    const certificate = await certificates.certificate({subject: 'attacker', type: 'rsa'})
    const privateKey = await importPKCS8(readFileSync(certificate.keyPath, 'utf8'), 'RS256')
    const kid = 'attacker-key'
    const publicJwk: JWK = {...(await exportJWK(await importX509(certificate.certificatePem, 'RS256', {extractable: true}))), kid, alg: 'RS256', use: 'sig'}
    const der = new X509Certificate(certificate.certificatePem).raw.toString('base64')
    const requests: string[] = []
    const server = createServer((request, response) => {
      requests.push(request.url ?? '/')
      if (request.url === '/jwks.json') response.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({keys: [publicJwk]}))
      else if (request.url === '/cert.pem') response.writeHead(200, {'content-type': 'application/pem-certificate-chain'}).end(certificate.certificatePem)
      else response.writeHead(404).end()
    })
    const origin = `http://127.0.0.1:${await listenOnLoopback(server)}`
    const values: Record<KeyParameter, unknown> = {jwk: publicJwk, jku: `${origin}/jwks.json`, x5c: [der], x5u: `${origin}/cert.pem`}
    return {
      publicJwk,
      requests,
      async forge(claims, parameter, header = {}) {
        const now = Math.floor(Date.now() / 1000)
        return new SignJWT({iat: now, exp: now + 3600, ...claims}).setProtectedHeader({alg: 'RS256', kid, typ: 'JWT', [parameter]: values[parameter], ...header}).sign(privateKey)
      },
      async stop() {
        await closeServer(server)
        certificates.remove()
      },
    }
  } catch (error) {
    certificates.remove()
    throw error
  }
}
