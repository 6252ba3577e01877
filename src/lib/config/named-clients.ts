import {ConfigError} from '../errors.js'
import type {SecretStore} from '../store/types.js'
import {assertClientName, type ClientSettings, deleteClient, findClient, getClient, listClients, saveClient} from './clients.js'
import {type ConnectionFlags, credentialParam, secretSourceOf, settingsFromFlags, toConnection} from './connection.js'
import {clientSecretEntry, readSecret} from './secrets.js'

/** A named client as list/show print it: every setting, and whether a secret is stored — never the secret. */
export interface ClientView {
  alg: null | string
  audience: null | string
  auth_method: string
  ca_file: null | string
  client_id: string
  issuer: null | string
  key_id: null | string
  name: string
  params: Record<string, string>
  private_key_file: null | string
  resources: string[]
  scopes: string[]
  secret: 'none' | 'stored'
  timeout: null | number
  token_endpoint: null | string
}

export function clientView(name: string, settings: ClientSettings): ClientView {
  return {
    alg: settings.alg ?? null,
    audience: settings.audience ?? null,
    auth_method: settings.authMethod ?? (settings.privateKeyFile ? 'private_key_jwt' : 'client_secret_basic'),
    ca_file: settings.caFile ?? null,
    client_id: settings.clientId,
    issuer: settings.issuer ?? null,
    key_id: settings.keyId ?? null,
    name,
    // An older tokenctl took credentials from --param: shown by name only.
    params: Object.fromEntries((settings.params ?? []).map(([param, value]) => [param, credentialParam([param]) ? '<redacted>' : value])),
    private_key_file: settings.privateKeyFile ?? null,
    resources: settings.resources ?? [],
    scopes: settings.scopes ?? [],
    secret: settings.hasStoredSecret ? 'stored' : 'none',
    timeout: settings.timeout ?? null,
    token_endpoint: settings.tokenEndpoint ?? null,
  }
}

/**
 * Validates the settings as a connection first, then stores the secret, then the settings: a
 * failure at any step leaves no client that points at a secret that is not there.
 */
export async function addClient(
  name: string,
  flags: ConnectionFlags,
  options: {replace?: boolean; store: () => Promise<SecretStore>},
): Promise<ClientView> {
  assertClientName(name)
  const existing = findClient(name)
  if (existing && !options.replace) {
    throw new ConfigError(`a client named "${name}" exists`, 'client_exists', {suggestions: ['pass --replace to replace it']})
  }

  const settings = settingsFromFlags(flags) as ClientSettings
  toConnection(settings, {clientName: name})
  const source = secretSourceOf(flags)
  const secretEntry = clientSecretEntry(name)
  if (source) {
    const secret = await readSecret(source, 'client secret')
    await (await options.store()).set(secretEntry, secret)
    settings.hasStoredSecret = true
  } else if (existing?.hasStoredSecret) {
    await (await options.store()).delete(secretEntry) // the old secret belonged to the old definition
  }

  await saveClient(name, settings)
  return clientView(name, settings)
}

export function showClient(name: string): ClientView {
  return clientView(name, getClient(name))
}

export function listClientViews(): ClientView[] {
  return listClients().map(([name, settings]) => clientView(name, settings))
}

/** Removes the settings and the stored secret. */
export async function removeClient(name: string, store: () => Promise<SecretStore>): Promise<{name: string; secret_removed: boolean}> {
  let settings: ClientSettings | undefined
  try {
    settings = getClient(name)
  } catch (error) {
    // A damaged entry (null) is what remove is for: its secret, if any, goes too.
    if (!(error instanceof ConfigError && error.code === 'invalid_client_entry')) throw error
  }

  const secretRemoved = settings === undefined || settings.hasStoredSecret ? await (await store()).delete(clientSecretEntry(name)) : false
  await deleteClient(name)
  return {name, secret_removed: secretRemoved}
}
