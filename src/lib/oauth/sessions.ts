/**
 * The whole life of a long-running on-behalf-of session, as MSAL's long-running OBO process keeps
 * it (InitiateLongRunningProcessInWebApi / AcquireTokenInLongRunningProcess) — made safe for
 * several processes:
 *
 *   start    one OBO request with offline_access; its refresh token and access token are kept in
 *            the secure store under the session key (given, or base64url(SHA-256(assertion)) as
 *            MSAL allocates it).
 *   refresh  the stored access token while it is valid, else the refresh-token grant — under the
 *            session's exclusive lock, so overlapping cron jobs never present one refresh token
 *            twice (a rotating server would revoke the whole grant). The rotated refresh token is
 *            stored before the command returns; the old one is kept when none comes back.
 *            A dead refresh token marks the session needs_reauthentication (exit 5); a network
 *            failure leaves the stored session exactly as it was (exit 6).
 *   end      RFC 7009 revocation where the server has an endpoint, then the local session is gone.
 *
 * The session index (config/session-index.ts) serves `session list`: a non-secret file under
 * TOKENCTL_HOME with a local store, or entries of the store itself when it is shared (Redis), so
 * that every host of a fleet lists the same sessions. It is written with each record.
 */
import {X509Certificate} from 'node:crypto'

import {thumbprint} from '../config/certificates.js'
import {type ClientSettings, credentialLocationOf, findClient, isMtlsMethod} from '../config/clients.js'
import {type Connection, methodFits, toConnection} from '../config/connection.js'
import {credentialKind, type CredentialLocation, type CredentialSource, type FederatedCredentialSource, federatedSourceText, hasOwnCredential, variablesOf} from '../config/credentials.js'
import {materialOf, resolveCredential} from '../config/secrets.js'
import {sessionIndex, type SessionSummary} from '../config/session-index.js'
import {isSharedStore} from '../store/index.js'
import {sameStoreAdvice, storeSearched} from '../store/searched.js'
import {AuthorizationError, ConfigError, messageOf, ReauthenticationRequiredError, TokenctlError, UsageError} from '../errors.js'
import type {Runtime} from '../runtime.js'
import type {SecretStore} from '../store/types.js'
import type {ClientCertificate} from '../http/mtls.js'
import {dpopOwnerOf} from './client-credentials.js'
import type {ResourceProver} from './dpop.js'
import {type DpopKeyMaterial, dpopKeyMaterial} from './dpop-keys.js'
import type {GrantResult} from './grants.js'
import {sha256} from './obo.js'
import {type AccessToken, type Flavor, isUsable, isWellFormed, type TokenResult} from './token.js'

/** How the session began: on-behalf-of (either flavor), or a user's own sign-in (`token user --session-key`). */
export type SessionFlavor = 'sign-in' | Flavor

const KEY_PATTERN = /^[\w.:-]{1,128}$/

export function assertSessionKey(key: string): void {
  if (!KEY_PATTERN.test(key)) {
    throw new UsageError('a session key is 1–128 characters of A-Z a-z 0-9 . _ : -', 'invalid_session_key')
  }
}

/** MSAL's LongRunningWebApiSessionKeyAuto: base64url(SHA-256(assertion)), unpadded. */
export function automaticSessionKey(assertion: string): string {
  return sha256(assertion).toString('base64url')
}

const sessionEntry = (key: string): string => `session:${key}`

/** The client a session was started with, without its secret: a cron job needs nothing else. */
type SessionClient = ClientSettings & {name?: string}

/**
 * Where the session's refreshes find the client's credential, a location of config/credentials.ts:
 * the named client it was started from (its current credential, so rotating the client's rotates
 * every session's), the material kept inside this record (given on the command line or in
 * TOKENCTL_CLIENT_SECRET at start; it goes when the session goes), the source of a federated token,
 * read for every request (its file, its variable, the GitHub Actions runner — never the token), or
 * none (a public client).
 */
export type SessionCredential = Extract<CredentialLocation, {kind: 'kept' | 'named_client' | 'none'}> | {kind: 'given'; source: FederatedCredentialSource}

interface SessionRecord {
  access_token: AccessToken
  client: SessionClient
  created_at: string
  credential: SessionCredential
  /** --dpop: the session's own copy of the key it started with, for its whole life (a public client's refresh token is bound to it). */
  dpop?: DpopKeyMaterial
  flavor: SessionFlavor
  /** The scopes the server last said it granted (a token response's `scope`): what a refresh asks for. */
  granted_scopes: string[]
  key: string
  last_refreshed_at: null | string
  reauthentication?: SessionSummary['reauthentication']
  refresh_count: number
  refresh_token: string
  /** The scopes as requested, offline_access included. */
  scopes: string[]
  status: SessionSummary['status']
  token_endpoint: string
  version: 1
}

const GIVEN_ON_THE_COMMAND_LINE = 'given on the command line'

/** What `session show` says about the credential a refresh uses. */
function credentialDescription(credential: SessionCredential): string {
  switch (credential.kind) {
    case 'given': {
      return `${federatedSourceText(credential.source.from)}, read for every request`
    }

    case 'kept': {
      return 'kept with the session'
    }

    case 'named_client': {
      return `named client ${credential.name}`
    }

    case 'none': {
      return 'none (public client)'
    }
  }
}

/** base64url of a SHA-256 thumbprint written as `openssl x509 -fingerprint` does (AB:CD:…). */
const fingerprintToX5t = (fingerprint: string): string => Buffer.from(fingerprint.replaceAll(':', ''), 'hex').toString('base64url')

/** The certificate a session's mutual TLS presents, as a bound token's cnf names it; never the key. */
function certificateX5t(credential: SessionCredential): string | undefined {
  if (credential.kind === 'kept' && credential.material.kind === 'certificate') return thumbprint(new X509Certificate(credential.material.certificates[0]), 'sha256')
  const facts = credential.kind === 'named_client' ? findClient(credential.name)?.certificate : undefined
  return facts ? fingerprintToX5t(facts.sha256_thumbprint) : undefined
}

/** What the session's tokens are bound to: its DPoP key's thumbprint, or its client certificate's. */
function bindingOf(record: SessionRecord): SessionSummary['binding'] {
  if (record.dpop) return {dpop_jkt: record.dpop.jkt}
  if (!isMtlsMethod(record.client.authMethod)) return undefined
  const x5t = certificateX5t(record.credential)
  return x5t === undefined ? undefined : {'x5t#S256': x5t}
}

function summaryOf(record: SessionRecord, credential = credentialDescription(record.credential)): SessionSummary {
  const summary: SessionSummary = {
    access_token_expires_at: record.access_token.expires_at === undefined ? null : new Date(record.access_token.expires_at).toISOString(),
    client: record.client.name ?? record.client.clientId,
    client_id: record.client.clientId,
    created_at: record.created_at,
    credential,
    flavor: record.flavor,
    last_refreshed_at: record.last_refreshed_at,
    refresh_count: record.refresh_count,
    scopes: record.scopes,
    session_key: record.key,
    status: record.status,
    token_endpoint: record.token_endpoint,
  }
  if (record.reauthentication) summary.reauthentication = record.reauthentication
  const binding = bindingOf(record)
  if (binding) summary.binding = binding
  // Listed so that the browser of a sign-in never inherits them (config/stored-variables.ts).
  if (record.credential.kind === 'given') summary.credential_variables = variablesOf(record.credential.source)
  return summary
}

/** Not in this store: which one was searched, and how a cron job finds the one the session was started in. */
function unknownSession(key: string, store: SecretStore): ConfigError {
  return new ConfigError(`unknown session "${key}": not in ${storeSearched(store)}`, 'unknown_session', {
    suggestions: [sameStoreAdvice(store), 'tokenctl session list shows the sessions there; tokenctl session start creates one'],
  })
}

async function readRecord(store: SecretStore, key: string): Promise<SessionRecord | undefined> {
  const text = await store.get(sessionEntry(key))
  if (text === undefined) return undefined
  try {
    const record = JSON.parse(text) as SessionRecord
    // An access token tokenctl would not have kept (a damaged record: a header could not carry it, or
    // its expiry is out of range) is dropped, never printed: the next refresh replaces it.
    if (!isWellFormed(record.access_token)) record.access_token = {access_token: '', token_type: 'Bearer'}
    return record
  } catch {
    throw new ConfigError(`the stored session "${key}" is unreadable`, 'config_error', {
      suggestions: [`end it (tokenctl session end --key ${key} --no-revoke) and start it again`],
    })
  }
}

/** The record in the store, then its summary in the index that goes with that store. */
async function writeRecord(store: SecretStore, record: SessionRecord): Promise<void> {
  await store.set(sessionEntry(record.key), JSON.stringify(record))
  await sessionIndex(async () => store).put(summaryOf(record))
}

function reauthenticationError(record: SessionRecord): ReauthenticationRequiredError {
  const {reauthentication} = record
  return new ReauthenticationRequiredError(
    `session "${record.key}" needs the user to sign in again (${reauthentication?.error ?? 'invalid_grant'} at ${reauthentication?.at ?? 'an earlier refresh'})`,
    reauthentication?.error ?? 'invalid_grant',
    {
      details: {description: reauthentication?.description, error_codes: reauthentication?.error_codes},
      suggestions: [restartAdvice(record)],
    },
  )
}

/** How a session that needs the user again is started anew: as it began, a sign-in or an on-behalf-of exchange. */
export function restartAdvice(record: Pick<SessionRecord, 'flavor' | 'key'>): string {
  return record.flavor === 'sign-in'
    ? `sign the user in again: tokenctl token user … --session-key ${record.key} --replace`
    : `start it again with a fresh user token: tokenctl session start … --key ${record.key} --replace`
}

/**
 * The named client a session follows, as it is now: its credential and how it signs. On a fleet, a
 * host that refreshes a session started elsewhere may not have the client in its config.json: the
 * shared store still holds the client's credential, found under the client's name.
 */
function followedClient(record: SessionRecord, followed: Extract<SessionCredential, {kind: 'named_client'}>): {credential: CredentialLocation; settings: Partial<ClientSettings>} {
  const {name} = followed
  const client = findClient(name)
  if (!client && isSharedStore()) return {credential: followed, settings: {}}
  if (!client) {
    throw new ConfigError(`session "${record.key}" takes its credential from client "${name}", which no longer exists`, 'unknown_client', {
      suggestions: [`add the client again (tokenctl client add ${name} …), or give the credential to session refresh (--client-secret-env VAR, --private-key-file PATH, --certificate-file PATH)`],
    })
  }

  const {alg, assertionAudience, authMethod, keyId, sendX5c, thumbprint} = client
  return {credential: credentialLocationOf(name, client), settings: {alg, assertionAudience: assertionAudience ?? record.client.assertionAudience, authMethod, keyId, sendX5c, thumbprint}}
}

/** The connection of a session's client, with what this run adds (a credential, a timeout…). */
function sessionConnection(record: SessionRecord, overrides: SessionOverrides): Connection {
  const {name, ...settings} = record.client
  let changed: Partial<ClientSettings> = {}
  let credential: CredentialLocation = record.credential
  if (overrides.credential) {
    credential = {kind: 'given', source: overrides.credential}
  } else if (record.credential.kind === 'named_client') {
    ;({credential, settings: changed} = followedClient(record, record.credential))
  }

  if (overrides.caFile) changed.caFile = overrides.caFile
  if (overrides.timeout) changed.timeout = overrides.timeout
  const merged = {...settings, ...changed}
  // The method the session started with was chosen for that credential: another may need another.
  if (merged.authMethod !== undefined && !methodFits(merged.authMethod, credentialKind(credential))) delete merged.authMethod
  const connection = toConnection(merged, {clientName: name, credential})
  if (record.dpop) connection.dpop = {kind: 'kept', material: record.dpop, session: record.key}
  return connection
}

/**
 * What a session keeps of the credential that started it: the named client to follow, a federated
 * token's source (never the token), or the credential itself (read once already for the start,
 * never read again from stdin).
 */
async function credentialToKeep(connection: Connection, key: string, runtime: Runtime): Promise<SessionCredential> {
  const location = connection.credential
  if (location.kind === 'kept') return {...location, session: key}
  // A named client's own credential is followed (on a fleet, the shared store may hold it whatever
  // this host's config.json says); one that only TOKENCTL_CLIENT_SECRET supplied is kept.
  if (location.kind === 'named_client' && (hasOwnCredential(location) || isSharedStore())) return {kind: 'named_client', name: location.name, stored: location.stored}
  const credential = await resolveCredential(connection, runtime.openStore)
  if (credential.kind === 'none') return {kind: 'none'}
  if (credential.kind === 'federated') return {kind: 'given', source: {from: credential.source, kind: 'federated'}}
  return {kind: 'kept', material: materialOf(credential), session: key}
}

function snapshotOf(connection: Connection): SessionClient {
  const client: SessionClient = {
    alg: connection.alg,
    assertionAudience: connection.assertionAudience,
    audience: connection.audience.length > 0 ? connection.audience : undefined,
    authMethod: connection.authMethod,
    caFile: connection.caFile,
    clientId: connection.clientId,
    issuer: connection.issuer?.href,
    keyId: connection.keyId,
    name: connection.clientName,
    params: connection.params,
    resources: connection.resources,
    sendX5c: connection.sendX5c,
    thumbprint: connection.thumbprint,
    timeout: connection.timeoutSeconds,
    tokenEndpoint: connection.tokenEndpoint?.href,
  }
  for (const field of Object.keys(client) as Array<keyof SessionClient>) if (client[field] === undefined) delete client[field]
  return client
}

export interface StartOptions {
  assertion: string
  flavor?: Flavor
  /** An explicit key; without one the key is allocated from the assertion. */
  key?: string
  replace?: boolean
}

export interface SessionResult {
  /** Mutual TLS: the certificate its client presents, for the requests its certificate-bound token is sent with (`call`). */
  certificate?: () => Promise<ClientCertificate | undefined>
  /** --dpop: proofs with the session's key for the requests its token is sent with (`call`, `--format header --url`). */
  proofs?: () => Promise<ResourceProver>
  result: TokenResult
  summary: SessionSummary
}

/**
 * A session's result, with what its token is bound to: the proofs of its DPoP key (the key itself
 * stays inside), the certificate its client presents with mutual TLS.
 */
function sessionResult(record: SessionRecord, result: TokenResult, summary: SessionSummary, connection: () => Connection, runtime: Runtime): SessionResult {
  const {dpop} = record
  const answer: SessionResult = {result, summary}
  if (dpop) answer.proofs = async () => (await import('./dpop.js')).resourceProverWith(dpop)
  if (isMtlsMethod(record.client.authMethod)) {
    answer.certificate = async () => {
      const [{presentedCertificate}, used] = [await import('./grants.js'), connection()]
      return presentedCertificate(used, await resolveCredential(used, runtime.openStore))
    }
  }

  return answer
}

/** Refuses a key that is taken, unless replacing it is allowed: checked before a person signs in or an assertion is spent. */
export async function assertSessionKeyFree(store: SecretStore, key: string, mayReplace: boolean): Promise<void> {
  if (!mayReplace && (await store.get(sessionEntry(key))) !== undefined) {
    throw new ConfigError(`a session with key "${key}" exists`, 'session_exists', {
      suggestions: ['pass --replace to replace it, or end it first (tokenctl session end)'],
    })
  }
}

export interface NewSession {
  flavor: SessionFlavor
  key: string
  mayReplace: boolean
  /** The scopes to send again with every refresh; offline_access is added. */
  scopes: string[]
}

/** Why a server sends no refresh token, by how the session began. */
const NO_REFRESH_TOKEN_ADVICE: Record<SessionFlavor, string> = {
  entra: 'the web API must be allowed offline_access at the authorization server; tokenctl token obo gets a one-off token without a session',
  rfc8693:
    'the client must be allowed refresh tokens in token exchange (tokenctl asked with offline_access, then with requested_token_type refresh_token): in Keycloak, set the client\'s "Allow refresh token in Standard Token Exchange" to "Same session" (Advanced tab), with "Use refresh tokens" on; tokenctl token obo gets a one-off token without a session',
  'sign-in': 'the client must be allowed refresh tokens (offline_access) at the authorization server',
}

/** No refresh token, no session: exit 4, with the server's refusal when it refused to issue one. */
function noRefreshToken(granted: GrantResult, flavor: SessionFlavor): AuthorizationError {
  const refused = granted.refreshTokenRefused
  const said = refused?.details.description?.split(/\r?\n/, 1)[0]
  const why = refused ? ` (asked for one by requested_token_type, it answered ${refused.code}${said ? `: ${said}` : ''})` : ''
  return new AuthorizationError(`the authorization server returned no refresh token${why}, so there is no session to keep`, 'no_refresh_token', {
    details: refused?.details,
    suggestions: [NO_REFRESH_TOKEN_ADVICE[flavor]],
  })
}

/**
 * Keeps a grant's refresh token (and its access token) as a session, under the session's lock.
 * No refresh token, no session: exit 4 no_refresh_token.
 */
export async function keepSession(connection: Connection, granted: GrantResult, session: NewSession, runtime: Runtime): Promise<SessionResult> {
  if (!granted.refreshToken) throw noRefreshToken(granted, session.flavor)

  const scopes = session.scopes.includes('offline_access') ? session.scopes : [...session.scopes, 'offline_access']
  const record: SessionRecord = {
    access_token: granted.token,
    client: snapshotOf(connection),
    created_at: new Date().toISOString(),
    credential: await credentialToKeep(connection, session.key, runtime),
    dpop: await dpopKeyMaterial(dpopOwnerOf(connection), runtime.openStore),
    flavor: session.flavor,
    granted_scopes: grantedScopes(granted, scopes),
    key: session.key,
    last_refreshed_at: null,
    refresh_count: 0,
    refresh_token: granted.refreshToken,
    scopes,
    status: 'active',
    token_endpoint: granted.tokenEndpoint ?? (connection.tokenEndpoint ?? connection.issuer!).href,
    version: 1,
  }
  const store = await runtime.openStore()
  await store.withLock(sessionEntry(session.key), async () => {
    await assertSessionKeyFree(store, session.key, session.mayReplace) // someone may have taken the key meanwhile
    await writeRecord(store, record)
  })
  return sessionResult(record, {source: 'identity_provider', token: granted.token}, summaryOf(record), () => connection, runtime)
}

/** `session start`: one OBO request that must bring a refresh token; the session is stored under its key. */
export async function startSession(connection: Connection, options: StartOptions, runtime: Runtime): Promise<SessionResult> {
  if (options.key !== undefined) assertSessionKey(options.key)
  const key = options.key ?? automaticSessionKey(options.assertion)
  // MSAL's automatic key names the user's session: starting again with the same assertion replaces it.
  const mayReplace = options.replace === true || options.key === undefined
  await assertSessionKeyFree(await runtime.openStore(), key, mayReplace) // never spend a user's assertion for nothing
  const {requestOboSession} = await import('./grants.js')
  const granted = await requestOboSession(connection, {assertion: options.assertion, flavor: options.flavor}, runtime)
  return keepSession(connection, granted, {flavor: granted.token.flavor ?? 'entra', key, mayReplace, scopes: connection.scopes}, runtime)
}

/**
 * The scopes a token response granted (RFC 6749 §5.1: its `scope`, or, when it says none, what was
 * asked for), or those granted before when a refresh response says none.
 */
function grantedScopes(granted: GrantResult, before: string[]): string[] {
  const said = granted.token.scope?.split(' ').filter(Boolean)
  return said && said.length > 0 ? said : before
}

/** What `session refresh` / `session end` may add to the stored client for this run. */
export interface SessionOverrides {
  caFile?: string
  /** A credential given on the command line, instead of the session's for this run. */
  credential?: CredentialSource
  timeout?: number
}

export interface RefreshOptions extends SessionOverrides {
  force?: boolean
  minTtlSeconds?: number
}

/** `session refresh`: the cron job's command. */
export async function refreshSession(key: string, options: RefreshOptions, runtime: Runtime): Promise<SessionResult> {
  assertSessionKey(key)
  const startedAt = Date.now()
  const store = await runtime.openStore()
  const usable = (record: SessionRecord) => isUsable(record.access_token, options.minTtlSeconds)
  const described = (record: SessionRecord) => summaryOf(record, options.credential ? GIVEN_ON_THE_COMMAND_LINE : undefined)
  const cached = (record: SessionRecord): SessionResult => sessionResult(record, {source: 'cache', token: record.access_token}, described(record), () => sessionConnection(record, options), runtime)
  const current = async () => {
    const record = await readRecord(store, key)
    if (!record) throw unknownSession(key, store)
    if (record.status === 'needs_reauthentication') throw reauthenticationError(record)
    return record
  }

  const seen = await current()
  if (!options.force && usable(seen)) return cached(seen)
  return store.withLock(
    sessionEntry(key),
    async () => {
      const record = await current()
      // Whoever held the lock before us may have just refreshed: that token is as fresh as --force asks.
      const refreshedMeanwhile = record.last_refreshed_at !== null && Date.parse(record.last_refreshed_at) >= startedAt
      if (usable(record) && (!options.force || refreshedMeanwhile)) return cached(record)
      const {requestRefresh} = await import('./grants.js')
      const scopes = record.granted_scopes
      let granted
      try {
        granted = await requestRefresh(sessionConnection(record, options), record.refresh_token, scopes, runtime)
      } catch (error) {
        if (!(error instanceof ReauthenticationRequiredError)) throw error
        await markNeedsReauthentication(store, record, error)
        throw new ReauthenticationRequiredError(error.message, error.code, {
          cause: error.cause,
          details: error.details,
          suggestions: [...error.suggestions, restartAdvice(record)],
        }) // anything else (network, 5xx, timeout, refused) leaves the stored session untouched
      }

      const refreshed: SessionRecord = {
        ...record,
        access_token: granted.token,
        granted_scopes: grantedScopes(granted, scopes),
        last_refreshed_at: new Date().toISOString(),
        refresh_count: record.refresh_count + 1,
        refresh_token: granted.refreshToken ?? record.refresh_token,
        token_endpoint: granted.tokenEndpoint ?? record.token_endpoint,
      }
      await writeRecord(store, refreshed)
      return sessionResult(refreshed, {source: 'identity_provider', token: granted.token}, described(refreshed), () => sessionConnection(refreshed, options), runtime)
    },
    {onWait: () => runtime.hooks.progress?.({message: `waiting for another tokenctl refreshing session ${key}`, state: 'waiting'})},
  )
}

async function markNeedsReauthentication(store: SecretStore, record: SessionRecord, error: TokenctlError): Promise<void> {
  await writeRecord(store, {
    ...record,
    reauthentication: {
      at: new Date().toISOString(),
      description: error.details.description,
      error: error.code,
      error_codes: error.details.error_codes,
    },
    status: 'needs_reauthentication',
  })
}

/** `session list`: from the session index; a local store is not opened (a shared one holds the index). */
export function listSessions(runtime: Runtime): Promise<SessionSummary[]> {
  return sessionIndex(runtime.openStore).list()
}

/** `session show`: from the stored record itself, which is authoritative. */
export async function showSession(key: string, runtime: Runtime): Promise<SessionSummary> {
  assertSessionKey(key)
  const store = await runtime.openStore()
  const record = await readRecord(store, key)
  if (!record) throw unknownSession(key, store)
  return summaryOf(record)
}

export interface EndResult {
  revocation: 'failed' | 'not_supported' | 'revoked' | 'skipped'
  session_key: string
  /** Why the revocation failed; the session is removed all the same. */
  warning?: string
}

/** `session end`: revoke the refresh token where the server can (a failure is a warning), then remove the session. */
export async function endSession(key: string, options: SessionOverrides & {revoke: boolean}, runtime: Runtime): Promise<EndResult> {
  assertSessionKey(key)
  const store = await runtime.openStore()
  // Looked up before the lock, whose file would be the first thing written in an empty home.
  if (!(await readRecord(store, key))) throw unknownSession(key, store)
  return store.withLock(sessionEntry(key), async () => {
    const record = await readRecord(store, key)
    if (!record) throw unknownSession(key, store)
    const result: EndResult = {revocation: 'skipped', session_key: key}
    if (options.revoke) {
      try {
        const {revokeRefreshToken} = await import('./grants.js')
        result.revocation = await revokeRefreshToken(sessionConnection(record, options), record.refresh_token, runtime)
      } catch (error) {
        result.revocation = 'failed'
        result.warning = messageOf(error)
      }
    }

    await store.delete(sessionEntry(key))
    await sessionIndex(async () => store).remove(key)
    return result
  })
}
