/**
 * Loads what a token request needs before it is made, for a command that will certainly make one
 * (`--no-cache`, `--force`): openid-client, and the Response and Headers of the fetch built into Node
 * (their first use loads its module, ~20 ms), which openid-client builds requests with and checks
 * answers against. Started while a passphrase's scrypt runs on libuv's thread pool, this work no
 * longer waits for it. Nothing is sent; a failure to load is reported where the request is made.
 */
export function warmUpTokenRequest(): void {
  import('openid-client')
    .then(() => globalThis.Response) // the getter loads the module of Response and Headers
    .catch(() => {})
}
