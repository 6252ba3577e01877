/**
 * The names of the flags that give a client credential: one per run (oclif refuses two), and a run
 * that gives one does not read a named client's stored credential. flags.ts defines the flags from
 * these names, and the fast path of bin/run.js reads them to know whether a run will open the store;
 * names only, no oclif, so that both read the one list.
 */
export const SECRET_FLAGS = ['client-secret-env', 'client-secret-stdin', 'client-secret-file'] as const
export const FEDERATED_FLAGS = ['federated-token-file', 'federated-token-env', 'federated-token-github'] as const
export const CREDENTIAL_FLAGS = [...SECRET_FLAGS, 'private-key-file', 'certificate-file', ...FEDERATED_FLAGS] as const

export type CredentialFlag = (typeof CREDENTIAL_FLAGS)[number]

/** Whether parsed flags give a credential of their own. */
export function credentialGiven(flags: Partial<Record<CredentialFlag, unknown>>): boolean {
  return CREDENTIAL_FLAGS.some((name) => flags[name] !== undefined && flags[name] !== false)
}
