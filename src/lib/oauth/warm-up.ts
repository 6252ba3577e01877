import {baselineWasmOnly} from '../http/baseline-wasm.js'

/**
 * Loads what a token request needs before it is made, for a command that will certainly make one
 * (`--no-cache`, `--force`): openid-client, and the fetch built into Node (its first use loads an
 * HTTP client, ~20 ms). Started while the secure store derives its key on libuv's thread pool, this
 * work no longer waits for it. Nothing is sent; a failure to load is reported where the request is made.
 */
export function warmUpTokenRequest(): void {
  baselineWasmOnly()
  import('openid-client')
    .then(() => globalThis.Response) // the getter loads the fetch implementation that openid-client checks responses against
    .catch(() => {})
}
