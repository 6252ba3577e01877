import {ConfigError} from '../errors.js'
import type {ConnectionFlags} from '../flags.js'
import {isSharedStore} from '../store/index.js'
import type {SecretStore, StoreBackendName} from '../store/types.js'
import {clientDpopKeyEntry, type DpopKeyMaterial, generateDpopKey, readDpopKeyFile} from '../oauth/dpop-keys.js'
import {type CertificateFacts, certificateFacts} from './certificates.js'
import {assertClientName, type ClientSettings, deleteClient, findClient, getClient, isMtlsMethod, listClients, saveClient} from './clients.js'
import {toConnection} from './connection.js'
import {clientCredentialEntry, clientSecretEntry, type FederatedTokenSource, federatedSourceText, type StoredCredentialKind} from './credentials.js'
import {materialOf, readCredentialSource} from './secrets.js'
import {credentialParam, credentialSourceOf, settingsFromFlags} from './settings.js'

/** A named client as list/show print it: every setting, and where its credential is kept — never the credential. */
export interface ClientView {
  alg: null | string
  assertion_audience: null | string
  audience: string[]
  auth_method: string
  /** What its tokens are bound to: the DPoP key's thumbprint (--dpop), or the certificate's (mutual TLS); never a key. */
  binding: null | {dpop_jkt?: string; 'x5t#S256'?: string}
  ca_file: null | string
  /** A certificate credential's public facts: SHA-256 thumbprint, validity, subject. */
  certificate: CertificateFacts | null
  client_id: string
  /** Which credential and where it is kept: "client secret in the keychain", "certificate in the file store"… */
  credential: string
  /** Where a federated token is read for every request (file, variable, GitHub Actions runner and audience); never the token. */
  federated_token: FederatedTokenSource | null
  issuer: null | string
  key_id: null | string
  name: string
  params: Record<string, string>
  resources: string[]
  scopes: string[]
  secret: 'none' | 'stored'
  send_x5c: boolean
  thumbprint: null | string
  timeout: null | number
  token_endpoint: null | string
}

/** The secure store's entry of a named client's credential: a secret as it is, a key or a certificate as CredentialMaterial JSON. */
function storeEntryOf(name: string, kind: StoredCredentialKind): string {
  return kind === 'secret' ? clientSecretEntry(name) : clientCredentialEntry(name)
}

const STORE_NAMES: Record<StoreBackendName, string> = {file: 'the file store', keychain: 'the keychain', redis: 'the shared store (Redis)'}

/** Where the store is, as far as it is known: `show` opens it to say, `list` does not. */
interface StoreFacts {
  backend?: StoreBackendName
  /** A shared store holds a secret for this client that this host's config.json does not know of. */
  sharedSecret?: boolean
}

function credentialText(settings: ClientSettings, store: StoreFacts): string {
  const where = store.backend ? STORE_NAMES[store.backend] : 'the secure store'
  if (settings.federatedToken) return `${federatedSourceText(settings.federatedToken)}, read for every request`
  if (settings.storedCredential === 'certificate') return `certificate in ${where}`
  if (settings.storedCredential === 'private_key') return `private key in ${where}`
  if (settings.storedCredential === 'secret') return `client secret in ${where}`
  if (store.sharedSecret) return `client secret in ${STORE_NAMES.redis}`
  if (settings.authMethod === 'none') return 'none (public client)'
  return 'none stored (give one with the credential flags or TOKENCTL_CLIENT_SECRET)'
}

/** base64url SHA-256 of a certificate, from its `openssl x509 -fingerprint -sha256` form: what a bound token's cnf names. */
const x5tOf = (fingerprint: string): string => Buffer.from(fingerprint.replaceAll(':', ''), 'hex').toString('base64url')

function bindingOf(settings: ClientSettings): ClientView['binding'] {
  if (settings.dpop && settings.dpopJkt) return {dpop_jkt: settings.dpopJkt}
  if (isMtlsMethod(settings.authMethod) && settings.certificate) return {'x5t#S256': x5tOf(settings.certificate.sha256_thumbprint)}
  return null
}

function defaultAuthMethod(settings: ClientSettings): string {
  if (settings.federatedToken) return 'federated'
  return settings.storedCredential === 'certificate' || settings.storedCredential === 'private_key' ? 'private_key_jwt' : 'client_secret_basic'
}

export function clientView(name: string, settings: ClientSettings, store: StoreFacts = {}): ClientView {
  return {
    alg: settings.alg ?? null,
    assertion_audience: settings.assertionAudience ?? null,
    audience: settings.audience ?? [],
    auth_method: settings.authMethod ?? defaultAuthMethod(settings),
    binding: bindingOf(settings),
    ca_file: settings.caFile ?? null,
    certificate: settings.certificate ?? null,
    client_id: settings.clientId,
    credential: credentialText(settings, store),
    federated_token: settings.federatedToken ?? null,
    issuer: settings.issuer ?? null,
    key_id: settings.keyId ?? null,
    name,
    // A credential in a config.json edited by hand: shown by name only (token requests refuse it).
    params: Object.fromEntries((settings.params ?? []).map(([param, value]) => [param, credentialParam([param]) ? '<redacted>' : value])),
    resources: settings.resources ?? [],
    scopes: settings.scopes ?? [],
    secret: settings.storedCredential === 'secret' || store.sharedSecret ? 'stored' : 'none',
    send_x5c: settings.sendX5c === true,
    thumbprint: settings.storedCredential === 'certificate' ? (settings.thumbprint ?? 'sha256') : null,
    timeout: settings.timeout ?? null,
    token_endpoint: settings.tokenEndpoint ?? null,
  }
}

/**
 * Validates the settings and reads (and checks) the credential first, then stores the credential,
 * then the settings: a failure at any step leaves no client that points at a credential that is not
 * there, and a bad certificate is refused before anything is written.
 */
export async function addClient(name: string, flags: ConnectionFlags, options: {replace?: boolean; store: () => Promise<SecretStore>}): Promise<ClientView> {
  assertClientName(name)
  const existing = findClient(name)
  if (existing && !options.replace) {
    throw new ConfigError(`a client named "${name}" exists`, 'client_exists', {suggestions: ['pass --replace to replace it']})
  }

  const settings = settingsFromFlags(flags) as ClientSettings
  const source = credentialSourceOf(flags)
  toConnection(settings, {clientName: name, credential: source ? {kind: 'given', source} : {kind: 'named_client', name}})
  // A federated source is kept as its location, in config.json: its token is read for every request,
  // and need not exist yet (a pod's projected token, a CI job's variable appear where the client is used).
  const credential = source && source.kind !== 'federated' ? await readCredentialSource(source) : undefined
  const dpopKey = settings.dpop ? await dpopKeyToKeep(name, settings, existing, options.store) : undefined
  delete settings.dpopKeyFile
  if (source?.kind === 'federated') {
    settings.federatedToken = source.from
  } else if (credential?.kind === 'secret') {
    await (await options.store()).set(clientSecretEntry(name), credential.secret)
    settings.storedCredential = credential.kind
  } else if (credential?.kind === 'certificate' || credential?.kind === 'private_key') {
    await (await options.store()).set(clientCredentialEntry(name), JSON.stringify(materialOf(credential)))
    settings.storedCredential = credential.kind
    if (credential.kind === 'certificate') settings.certificate = certificateFacts(credential.certificate.chain[0])
  }

  if (dpopKey) {
    await (await options.store()).set(clientDpopKeyEntry(name), JSON.stringify(dpopKey))
    settings.dpopJkt = dpopKey.jkt
  }

  // What the old definition stored and this one does not belonged to the old definition.
  const oldEntry = existing?.storedCredential && storeEntryOf(name, existing.storedCredential)
  if (oldEntry && oldEntry !== (settings.storedCredential && storeEntryOf(name, settings.storedCredential))) await (await options.store()).delete(oldEntry)
  if (existing?.dpop && !settings.dpop) await (await options.store()).delete(clientDpopKeyEntry(name))
  await saveClient(name, settings)
  return clientView(name, settings)
}

/**
 * The DPoP key a named client keeps in the secure store: --dpop-key-file's, else the key it already
 * has when it is added again (its cached tokens and anything bound to it stay good), else a new one.
 */
async function dpopKeyToKeep(name: string, settings: ClientSettings, existing: ClientSettings | undefined, store: () => Promise<SecretStore>): Promise<DpopKeyMaterial> {
  if (settings.dpopKeyFile !== undefined) return readDpopKeyFile(settings.dpopKeyFile)
  if (existing?.dpop && existing.dpopJkt) {
    const kept = await (await store()).get(clientDpopKeyEntry(name))
    if (kept !== undefined) {
      try {
        const material = JSON.parse(kept) as DpopKeyMaterial
        if (material.jkt === existing.dpopJkt && typeof material.jwk?.d === 'string') return material
      } catch {
        // an unreadable kept key: a new one, as below
      }
    }
  }

  return generateDpopKey()
}

/**
 * `client show`: the store is opened to say which one keeps the credential, and, on a fleet, whether
 * the shared store holds a secret that another host stored. A store that does not answer changes
 * only that: the settings are shown all the same.
 */
export async function showClient(name: string, openStore: () => Promise<SecretStore>): Promise<ClientView> {
  const settings = getClient(name)
  const store: StoreFacts = {}
  const stored = settings.storedCredential !== undefined
  if (stored || isSharedStore()) {
    try {
      const opened = await openStore()
      store.backend = opened.backend
      if (!stored) store.sharedSecret = (await opened.get(clientSecretEntry(name))) !== undefined
    } catch {
      // Where the credential is kept is still said, without naming the store.
    }
  }

  return clientView(name, settings, store)
}

const EXPIRY_WARNING_DAYS = 30
const DAY_MS = 24 * 60 * 60 * 1000

/** A certificate that expires within 30 days (or has expired): what to tell before requests start failing. */
export function expiryWarning(view: ClientView, now = Date.now()): string | undefined {
  if (!view.certificate) return undefined
  const notAfter = Date.parse(view.certificate.not_after)
  const renew = `register a new certificate for ${view.client_id} and run tokenctl client add ${view.name} --replace … --certificate-file NEW`
  if (notAfter <= now) return `the certificate of client "${view.name}" expired on ${view.certificate.not_after}: ${renew}`
  const days = Math.ceil((notAfter - now) / DAY_MS)
  if (days > EXPIRY_WARNING_DAYS) return undefined
  return `the certificate of client "${view.name}" expires on ${view.certificate.not_after} (in ${days} day${days === 1 ? '' : 's'}): ${renew}`
}

export function listClientViews(): ClientView[] {
  return listClients().map(([name, settings]) => clientView(name, settings))
}

/** Removes the settings and the stored credential. */
export async function removeClient(name: string, store: () => Promise<SecretStore>): Promise<{name: string; secret_removed: boolean}> {
  let settings: ClientSettings | undefined
  try {
    settings = getClient(name)
  } catch (error) {
    // A damaged entry (null) is what remove is for: its credential, if any, goes too.
    if (!(error instanceof ConfigError && error.code === 'invalid_client_entry')) throw error
  }

  let removed = false
  // A damaged entry does not say what it stored: both entries go.
  const entries = settings === undefined ? [clientSecretEntry(name), clientCredentialEntry(name)] : settings.storedCredential ? [storeEntryOf(name, settings.storedCredential)] : []
  if (settings === undefined || settings.dpop) entries.push(clientDpopKeyEntry(name))
  for (const entry of entries) removed = (await (await store()).delete(entry)) || removed
  await deleteClient(name)
  return {name, secret_removed: removed}
}
