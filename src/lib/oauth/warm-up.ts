/**
 * Loads what a token request needs before it is made, for a command that will certainly make one
 * (`--no-cache`, `--force`): openid-client (whose Headers and Response on the fast path are tokenctl's
 * own, so that Node's fetch is not loaded at all: scripts/build.mjs). Started while a passphrase's
 * scrypt runs on libuv's thread pool, this work no longer waits for it. Nothing is sent; a failure to
 * load is reported where the request is made.
 */
export function warmUpTokenRequest(): void {
  import('openid-client').catch(() => {})
}
