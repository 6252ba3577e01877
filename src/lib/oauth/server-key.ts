/**
 * The server a connection's tokens belong to (the token endpoint, else the issuer), as the token
 * cache and the DPoP keys name it. Apart from client-credentials.ts, which loads the grants, so that
 * the grants can name it without an import cycle.
 */
import type {Connection} from '../config/connection.js'
import type {DpopOwner} from './dpop-keys.js'

export function serverKey(connection: Connection): string {
  return (connection.tokenEndpoint ?? connection.issuer!).href
}

/** Whose DPoP key a connection's is (oauth/dpop-keys.ts). */
export function dpopOwnerOf(connection: Connection): DpopOwner {
  return {clientId: connection.clientId, dpop: connection.dpop, server: serverKey(connection)}
}
