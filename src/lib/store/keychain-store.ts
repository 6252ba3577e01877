import type {AsyncEntry, Credential} from '@napi-rs/keyring'
import {createRequire} from 'node:module'

import {StoreError, messageOf} from '../errors.js'
import {withLocalLock} from './local-lock.js'
import {probeSecretService, type SecretServiceState, sessionBusTarget} from './secret-service-probe.js'
import type {EntryOptions, LockOptions, SecretStore} from './types.js'

/**
 * The OS keychain backend: the Secret Service on Linux (pinned: never the kernel keyring, which
 * forgets everything at reboot), the Keychain on macOS, the Credential Manager on Windows. Each
 * entry is one keychain item: service = TOKENCTL_KEYCHAIN_SERVICE, account = the entry name.
 *
 * On Linux the native module blocks the main thread on D-Bus, so it is only called after the
 * asynchronous probe (secret-service-probe.ts) found the Secret Service answering and unlocked.
 * Residual risk: a daemon that stops answering after the probe's reply still blocks the native
 * calls. With the keyring daemon hung, the constructor and getPassword fail after their D-Bus reply
 * timeout (2 s measured here), but findCredentialsAsync (list) waits for ever, and then not even
 * process.exit ends the process; with the bus hung, everything waits for ever. The window is the
 * microseconds between the probe and the first call, then, since the probe is memoised, the rest of
 * this short-lived process. Only a separate process could bound it, at a cost on every call.
 *
 * Lifetimes: the keychain cannot be searched by anything but service, and a search reads every item's
 * secret, so the lifetimes of entries written with one (cached tokens) are kept in one more item of
 * the service, EXPIRIES, a JSON map name → epoch ms; a write without one (a session, a secret) does
 * not look there. A write with a lifetime records it there and deletes at most PRUNE_PER_WRITE
 * entries whose lifetime has ended: each delete is slow (a D-Bus connection of its own, and
 * gnome-keyring rewrites its whole keyring file: 60–100 ms with 1,000 items, measured here), so a
 * write pays for a few, and a backlog drains over later writes.
 */

export const DEFAULT_KEYCHAIN_SERVICE = 'tokenctl'
/** The item holding the lifetimes of the entries written with one (a name no caller's entry has). */
export const EXPIRIES = 'store:expiries'
export const PRUNE_PER_WRITE = 4

export function keychainService(env: NodeJS.ProcessEnv = process.env): string {
  const service = env.TOKENCTL_KEYCHAIN_SERVICE
  return service && service.trim() !== '' ? service : DEFAULT_KEYCHAIN_SERVICE
}

type KeyringModule = typeof import('@napi-rs/keyring')

const FILE_STORE_WAY_OUT = 'or use the encrypted file store: TOKENCTL_STORE=file with TOKENCTL_STORE_PASSPHRASE or TOKENCTL_STORE_PASSPHRASE_FILE'

// A CLI process is short-lived: one probe per session bus is enough. Keyed by the bus so that a
// process (a test) that switches buses probes each one.
const probes = new Map<string, Promise<SecretServiceState>>()
let keyringModule: Promise<KeyringModule> | undefined
// libdbus reads the session bus address once per process, at the native module's first connection,
// and keeps it; a later change of DBUS_SESSION_BUS_ADDRESS would make the probe check one bus while
// the native module writes to another.
let nativeBus: string | undefined

function probeKey(): string {
  const target = sessionBusTarget()
  return 'path' in target ? target.path : target.reason
}

function freshProbe(): Promise<SecretServiceState> {
  const probe = probeSecretService()
  probes.set(probeKey(), probe)
  return probe
}

function memoisedProbe(): Promise<SecretServiceState> {
  return probes.get(probeKey()) ?? freshProbe()
}

/**
 * Starts the probe and, where there is a session bus to probe, loads the native module meanwhile (loading
 * it talks to no one; only its calls do, and they still wait for the probe). True when there is a bus.
 */
export function warmUpKeychain(): boolean {
  if (!('path' in sessionBusTarget())) return false
  void memoisedProbe()
  keyringModule ??= loadKeyring()
  keyringModule.catch(() => {}) // a failure to load is reported by native(), if the command gets there
  return true
}

/**
 * The native module, by require: import() would first make Node scan its CommonJS loader for named
 * exports (about 10 ms measured, on every keychain read).
 */
function loadKeyring(): Promise<KeyringModule> {
  return new Promise((resolve) => {
    resolve(createRequire(import.meta.url)('@napi-rs/keyring') as KeyringModule)
  })
}

/** Forgets the memoised probe results; for tests that change a daemon's state within one process. */
export function forgetKeychainProbes(): void {
  probes.clear()
}

function lockedError(): StoreError {
  return new StoreError('the keychain is locked (the Secret Service default collection)', 'store_locked', {
    suggestions: ['unlock the keyring (log in to the desktop session, or run `gnome-keyring-daemon --unlock`)', FILE_STORE_WAY_OUT],
  })
}

function unavailableError(reason: string): StoreError {
  return new StoreError(`the keychain is not available: ${reason}`, 'store_unavailable', {
    suggestions: ['start a Secret Service (gnome-keyring, KeePassXC) in this D-Bus session', FILE_STORE_WAY_OUT],
  })
}

function stateError(state: SecretServiceState): StoreError | undefined {
  if (state.state === 'locked') return lockedError()
  if (state.state === 'unavailable') return unavailableError(state.reason)
  return undefined
}

export type KeychainProbe = {code: 'store_locked' | 'store_unavailable'; ok: false; reason: string} | {ok: true}

/** Whether a keychain answers now, for TOKENCTL_STORE=auto; the result is reused by KeychainStore. */
export async function probeKeychain(): Promise<KeychainProbe> {
  const state = await memoisedProbe()
  if (state.state === 'unlocked') return {ok: true}
  if (state.state === 'locked') return {code: 'store_locked', ok: false, reason: 'the keychain is locked'}
  return {code: 'store_unavailable', ok: false, reason: state.reason}
}

/** The native module's messages name D-Bus and platform failures, never a stored value; still, make sure. */
function redact(message: string, secret: string | undefined): string {
  return secret ? message.replaceAll(secret, '***') : message
}

/**
 * Maps the native module's failures (keyring-core's error kinds, as the binding words them). Exported
 * for tests. Word boundaries matter: libdbus's "did not receive a reply" text says "blocked".
 */
export function nativeError(error: unknown, action: string, secret?: string): StoreError {
  const message = redact(messageOf(error), secret)
  if (/\blocked\b|IsLocked|unlock/i.test(message)) return lockedError()
  if (/platform (secure storage )?failure|couldn't access platform|dbus|zbus/i.test(message)) return unavailableError(message)

  return new StoreError(`the keychain failed to ${action}: ${message}`, 'store_error')
}

export interface KeychainStoreOptions {
  /** What probeKeychain() just said, so that an answering keychain is not probed again. */
  probe?: KeychainProbe
  /** Default: TOKENCTL_KEYCHAIN_SERVICE, else "tokenctl". */
  service?: string
}

export class KeychainStore implements SecretStore {
  readonly backend = 'keychain'
  readonly location: string
  readonly service: string
  private readonly entries = new Map<string, AsyncEntry>()
  private probed: boolean

  constructor(options: KeychainStoreOptions = {}) {
    const service = options.service ?? keychainService()
    this.service = service
    this.probed = options.probe?.ok === true
    this.location = process.platform === 'linux' ? `Secret Service, service "${service}"` : `OS keychain, service "${service}"`
  }

  async check(): Promise<void> {
    const error = stateError(await freshProbe())
    if (error) throw error
  }

  async delete(name: string): Promise<boolean> {
    const entry = await this.entry(name)
    try {
      return await entry.deleteCredential()
    } catch (error) {
      throw nativeError(error, `delete "${name}"`)
    }
  }

  async get(name: string): Promise<string | undefined> {
    const entry = await this.entry(name)
    try {
      return (await entry.getPassword()) ?? undefined
    } catch (error) {
      throw nativeError(error, `read "${name}"`)
    }
  }

  async list(prefix: string): Promise<string[]> {
    const accounts = (await this.credentials()).map((credential) => credential.account)
    return [...new Set(accounts.filter((account) => account.startsWith(prefix) && account !== EXPIRIES))].sort()
  }

  async set(name: string, value: string, options: EntryOptions = {}): Promise<void> {
    // The lifetime first: a write pruning meanwhile then sees the new one, and never deletes the entry just written.
    if (options.expiresAt !== undefined) await this.recordExpiry(name, options.expiresAt)
    await this.write(name, value)
  }

  withLock<T>(name: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    // Qualified by service: two keychain services are two stores whose entries never collide.
    return withLocalLock(`keychain\0${this.service}\0${name}`, fn, options)
  }

  /** Every item of the service, secrets included. */
  private async credentials(): Promise<Credential[]> {
    const keyring = await this.native()
    try {
      // On Linux this searches the Secret Service alone (secret-service crate over zbus, off the
      // main thread); it never falls back to the kernel keyring. It reads every item's secret too,
      // and fails as a whole (IsLocked) if any item of this service sits in a locked collection.
      return await keyring.findCredentialsAsync(this.service)
    } catch (error) {
      throw nativeError(error, 'list its entries')
    }
  }

  /** EXPIRIES, or undefined when there is none yet (or it does not read as one: it starts again). */
  private async readExpiries(): Promise<Map<string, number> | undefined> {
    const text = await this.get(EXPIRIES)
    if (text === undefined) return undefined
    try {
      return new Map(Object.entries(JSON.parse(text) as object).filter((pair): pair is [string, number] => typeof pair[1] === 'number'))
    } catch {
      return undefined
    }
  }

  /** Records name's lifetime in EXPIRIES, and deletes up to PRUNE_PER_WRITE entries whose lifetime has ended. */
  private async recordExpiry(name: string, expiresAt: number): Promise<void> {
    await this.withLock(EXPIRIES, async () => {
      const expiries = (await this.readExpiries()) ?? new Map<string, number>()
      const now = Date.now()
      const ended = [...expiries].filter(([, at]) => at <= now).slice(0, PRUNE_PER_WRITE)
      for (const [other] of ended) {
        await this.delete(other)
        expiries.delete(other)
      }

      expiries.set(name, expiresAt)
      await this.write(EXPIRIES, JSON.stringify(Object.fromEntries(expiries)))
    })
  }

  private async write(name: string, value: string): Promise<void> {
    const entry = await this.entry(name)
    try {
      await entry.setPassword(value)
    } catch (error) {
      throw nativeError(error, `write "${name}"`, value)
    }
  }

  /** The native module, loaded on first use and only once the probe says the keychain answers. */
  private async native(): Promise<KeyringModule> {
    if (!this.probed) {
      const error = stateError(await memoisedProbe())
      if (error) throw error
      this.probed = true
    }

    const bus = probeKey()
    nativeBus ??= bus
    if (nativeBus !== bus) {
      throw new StoreError('the session bus changed since this process first used the keychain', 'store_error', {
        suggestions: ['use one DBUS_SESSION_BUS_ADDRESS per process'],
      })
    }

    keyringModule ??= loadKeyring()
    try {
      return await keyringModule
    } catch (loadError) {
      keyringModule = undefined
      throw new StoreError(`the keychain module cannot be loaded: ${messageOf(loadError)}`, 'store_unavailable', {cause: loadError})
    }
  }

  private async entry(name: string): Promise<AsyncEntry> {
    const known = this.entries.get(name)
    if (known) return known
    const keyring = await this.native()
    try {
      // The constructor connects to D-Bus synchronously: see the residual risk above.
      const entry = new keyring.AsyncEntry(this.service, name, {linux: {store: 'secret-service'}})
      this.entries.set(name, entry)
      return entry
    } catch (error) {
      throw nativeError(error, `open "${name}"`)
    }
  }
}
