/**
 * Everything tokenctl creates is private, whatever the user's umask: files 0600, folders 0700
 * (bin/run.js sets this before anything is written). Each writer also asks for these modes
 * explicitly; the umask covers what libraries create (oclif's folders) and what is yet to come.
 * Programs tokenctl starts for the user (a browser) get the user's own umask back.
 */
let userUmask: number | undefined

export function usePrivateUmask(): void {
  if (process.platform === 'win32') return
  const previous = process.umask(0o077)
  process.umask(previous | 0o077)
  userUmask ??= previous
}

/** Runs fn (a synchronous spawn) under the umask the user started tokenctl with. */
export function withUserUmask<T>(fn: () => T): T {
  if (userUmask === undefined) return fn()
  const ours = process.umask(userUmask)
  try {
    return fn()
  } finally {
    process.umask(ours)
  }
}
