import {createPrivateKey, type JsonWebKey, type KeyObject} from 'node:crypto'
import type {ClientAuth} from 'openid-client'

import type {AuthMethod} from '../config/clients.js'
import type {ClientCredential} from '../config/secrets.js'
import {ConfigError} from '../errors.js'

/** JWS algorithm that fits a key when --alg does not say. */
function defaultAlgorithm(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      if (curve === 'secp384r1') return 'ES384'
      if (curve === 'secp521r1') return 'ES512'
      return 'ES256'
    }

    case 'ed25519': {
      return 'EdDSA'
    }

    case 'rsa-pss': {
      return 'PS256'
    }

    default: {
      return 'RS256'
    }
  }
}

interface PrivateJwk {
  alg?: string
  d?: string
  kid?: string
  kty?: string
}

function parsePrivateKey(text: string, file: string): {jwk?: PrivateJwk; key: KeyObject} {
  const trimmed = text.trim()
  try {
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as PrivateJwk
      if (!jwk.d) throw new Error('not a private JWK')
      return {jwk, key: createPrivateKey({format: 'jwk', key: jwk as JsonWebKey})}
    }

    return {key: createPrivateKey(trimmed)}
  } catch {
    throw new ConfigError(`${file} is not a private key (PEM or JWK)`, 'config_error')
  }
}

/** openid-client's client authentication for a method and the credential that goes with it. */
export async function clientAuthentication(method: AuthMethod, credential: ClientCredential): Promise<ClientAuth> {
  const client = await import('openid-client')
  switch (credential.kind) {
    case 'none': {
      return client.None()
    }

    case 'secret': {
      return method === 'client_secret_post' ? client.ClientSecretPost(credential.secret) : client.ClientSecretBasic(credential.secret)
    }

    case 'private_key': {
      const {jwk, key} = parsePrivateKey(credential.keyText, credential.keyFile)
      const alg = credential.alg ?? jwk?.alg ?? defaultAlgorithm(key)
      const {importPKCS8} = await import('jose')
      let cryptoKey: Awaited<ReturnType<typeof importPKCS8>>
      try {
        cryptoKey = await importPKCS8(key.export({format: 'pem', type: 'pkcs8'}) as string, alg)
      } catch {
        throw new ConfigError(`the key in ${credential.keyFile} cannot sign with ${alg}`, 'config_error', {
          suggestions: ['pass --alg matching the key (RS256, PS256, ES256, ES384, ES512, EdDSA)'],
        })
      }

      return client.PrivateKeyJwt({key: cryptoKey, kid: credential.keyId ?? jwk?.kid})
    }
  }
}
