/**
 * The environment variables that stored credential sources read: a named client's federated token
 * variable (config.json) and a session's (the session index, which holds no secret). Their values
 * are credentials, so a program tokenctl starts (the browser of a sign-in) gets none of them, whether
 * or not this run uses that client or session.
 */
import {sessionIndex} from './session-index.js'
import type {SecretStore} from '../store/types.js'
import {listClients} from './clients.js'
import {variablesOf} from './credentials.js'

export async function storedSourceVariables(openStore: () => Promise<SecretStore>): Promise<string[]> {
  const names = new Set<string>()
  for (const [, client] of listClients()) {
    if (client.federatedToken) for (const name of variablesOf({from: client.federatedToken, kind: 'federated'})) names.add(name)
  }

  for (const summary of await sessionIndex(openStore).list()) {
    for (const name of summary.credential_variables ?? []) names.add(name)
  }

  return [...names]
}
