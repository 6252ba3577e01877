/**
 * A secure store that does not open, told with the one way out that fits the command at hand.
 * `token client`, `token obo` and `exec NAME` need the store only for their cache when the client's
 * credential is not kept in it: --no-cache then does without any store. Every other command that
 * opens it (`session …`, `call`, `client add` with a secret) needs it whatever its flags, and the
 * store error's own ways out (a passphrase, the keychain) are all there is to say.
 */
import type {Connection} from '../config/connection.js'
import {StoreError} from '../errors.js'

/** A `.catch` for the commands with --no-cache: adds it to a store failure when it would have avoided it. */
export function orWithoutCache(connection: Connection, noCache: boolean | undefined): (error: unknown) => never {
  return (error) => {
    const credentialInStore = connection.credential.kind === 'named_client' && connection.credential.stored !== undefined
    if (error instanceof StoreError && !noCache && !credentialInStore) {
      error.suggestions.push('or pass --no-cache: this token needs the store only for its cache')
    }

    throw error
  }
}
