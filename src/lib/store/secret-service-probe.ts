import {existsSync} from 'node:fs'
import {connect, type Socket} from 'node:net'
import path from 'node:path'
import {MAX_TIMEOUT_SECONDS} from '../config/timeouts.js'

/**
 * Asks the Secret Service whether its default collection is unlocked, over a D-Bus connection of our
 * own, asynchronously and within a deadline. It exists because the native keyring module talks to
 * D-Bus synchronously on the main thread: with a hung bus it blocks forever, with a hung keyring
 * daemon for the 25 s D-Bus reply timeout, and no timer can fire meanwhile. So nothing calls the
 * native module before this probe has had an answer.
 *
 * Just enough of the D-Bus wire protocol for two method calls: SASL EXTERNAL, little-endian
 * messages with string arguments, and replies whose header fields and body are basic types or a
 * variant of one.
 */

export type SecretServiceState = {reason: string; state: 'unavailable'} | {state: 'locked'} | {state: 'unlocked'}

export interface ProbeOptions {
  /** Where DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR come from. Default process.env. */
  env?: NodeJS.ProcessEnv
  platform?: NodeJS.Platform
  /** Default: TOKENCTL_KEYCHAIN_TIMEOUT seconds, else 3 s. */
  timeoutMs?: number
}

const DEFAULT_TIMEOUT_MS = 3000
const MAX_MESSAGE_BYTES = 1 << 20

export function keychainTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const seconds = Number(env.TOKENCTL_KEYCHAIN_TIMEOUT)
  // Capped at tokenctl's longest timeout: a longer one overflows Node's timer and would fire at once.
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, MAX_TIMEOUT_SECONDS) * 1000 : DEFAULT_TIMEOUT_MS
}

// ---------------------------------------------------------------------------------------------
// The bus address

export type BusTarget = {path: string} | {reason: string}

/** D-Bus escapes address values as %XX bytes. */
function unescapeAddressValue(value: string): string {
  return Buffer.from(
    value.replaceAll(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
    'latin1',
  ).toString('utf8')
}

/** The first unix-socket address in a D-Bus address list; abstract sockets as Node names them. */
export function parseBusAddress(addresses: string): BusTarget {
  for (const address of addresses.split(';')) {
    const colon = address.indexOf(':')
    if (colon < 0 || address.slice(0, colon) !== 'unix') continue
    const keys = new Map<string, string>()
    for (const pair of address.slice(colon + 1).split(',')) {
      const equals = pair.indexOf('=')
      if (equals > 0) keys.set(pair.slice(0, equals), unescapeAddressValue(pair.slice(equals + 1)))
    }

    const socketPath = keys.get('path')
    if (socketPath) return {path: socketPath}
    const abstract = keys.get('abstract')
    if (abstract) return {path: `\0${abstract}`}
  }

  return {reason: `no unix socket in the session bus address "${addresses}"`}
}

/** Where the session bus listens, as libdbus and zbus would find it. */
export function sessionBusTarget(env: NodeJS.ProcessEnv = process.env): BusTarget {
  const address = env.DBUS_SESSION_BUS_ADDRESS
  if (address) return parseBusAddress(address)
  const runtimeDir = env.XDG_RUNTIME_DIR
  if (runtimeDir) {
    const socketPath = path.join(runtimeDir, 'bus')
    if (existsSync(socketPath)) return {path: socketPath}
  }

  return {reason: 'no session bus (DBUS_SESSION_BUS_ADDRESS is not set and there is no $XDG_RUNTIME_DIR/bus)'}
}

// ---------------------------------------------------------------------------------------------
// Marshalling

const MESSAGE_TYPE = {methodCall: 1, methodReturn: 2, error: 3, signal: 4} as const
const FIELD = {path: 1, interface: 2, member: 3, errorName: 4, replySerial: 5, destination: 6, signature: 8} as const

export interface MethodCall {
  destination: string
  interface: string
  member: string
  path: string
  /** String arguments only: all that the probe sends. */
  args?: string[]
}

class Writer {
  private readonly bytes: number[] = []

  get length(): number {
    return this.bytes.length
  }

  align(boundary: number): void {
    while (this.bytes.length % boundary !== 0) this.bytes.push(0)
  }

  byte(value: number): void {
    this.bytes.push(value & 0xff)
  }

  uint32(value: number): void {
    this.align(4)
    this.bytes.push(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff)
  }

  setUint32(offset: number, value: number): void {
    this.bytes.splice(offset, 4, value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff)
  }

  /** 's' and 'o': 4-byte length, UTF-8, NUL. */
  string(value: string): void {
    const encoded = Buffer.from(value, 'utf8')
    this.uint32(encoded.length)
    this.bytes.push(...encoded, 0)
  }

  /** 'g': 1-byte length, ASCII, NUL. */
  signature(value: string): void {
    this.byte(value.length)
    this.bytes.push(...Buffer.from(value, 'ascii'), 0)
  }

  toBuffer(): Buffer {
    return Buffer.from(this.bytes)
  }
}

function headerField(writer: Writer, code: number, type: 'g' | 'o' | 's', value: string): void {
  writer.align(8) // each field is a struct
  writer.byte(code)
  writer.signature(type)
  if (type === 'g') writer.signature(value)
  else writer.string(value)
}

export function encodeMethodCall(call: MethodCall, serial: number): Buffer {
  const args = call.args ?? []
  const body = new Writer()
  for (const arg of args) body.string(arg)

  const message = new Writer()
  message.byte(0x6c) // 'l': little-endian
  message.byte(MESSAGE_TYPE.methodCall)
  message.byte(0) // flags: a reply is expected, auto-start allowed, as the native module would
  message.byte(1) // protocol version
  message.uint32(body.length)
  message.uint32(serial)
  message.uint32(0) // header field array length, patched below
  const fieldsStart = message.length // 16: already 8-aligned, so no padding before the first struct
  headerField(message, FIELD.path, 'o', call.path)
  headerField(message, FIELD.interface, 's', call.interface)
  headerField(message, FIELD.member, 's', call.member)
  headerField(message, FIELD.destination, 's', call.destination)
  if (args.length > 0) headerField(message, FIELD.signature, 'g', 's'.repeat(args.length))
  message.setUint32(12, message.length - fieldsStart)
  message.align(8) // the body starts on an 8-byte boundary
  return Buffer.concat([message.toBuffer(), body.toBuffer()])
}

export interface Message {
  body: Buffer
  bodyOffset: number
  errorName?: string
  littleEndian: boolean
  replySerial?: number
  serial: number
  signature: string
  type: number
}

type Basic = bigint | boolean | number | string

class Reader {
  constructor(
    private readonly buffer: Buffer,
    private readonly littleEndian: boolean,
    public offset: number,
    /** Alignment is relative to the message start; the body starts 8-aligned. */
    private readonly base = 0,
  ) {}

  align(boundary: number): void {
    const misalignment = (this.offset - this.base) % boundary
    if (misalignment !== 0) this.offset += boundary - misalignment
  }

  private need(count: number): void {
    if (this.offset + count > this.buffer.length) throw new Error('truncated D-Bus message')
  }

  byte(): number {
    this.need(1)
    return this.buffer[this.offset++]
  }

  uint32(): number {
    this.align(4)
    this.need(4)
    const value = this.littleEndian ? this.buffer.readUInt32LE(this.offset) : this.buffer.readUInt32BE(this.offset)
    this.offset += 4
    return value
  }

  string(): string {
    const length = this.uint32()
    this.need(length + 1)
    const value = this.buffer.toString('utf8', this.offset, this.offset + length)
    this.offset += length + 1
    return value
  }

  signature(): string {
    const length = this.byte()
    this.need(length + 1)
    const value = this.buffer.toString('ascii', this.offset, this.offset + length)
    this.offset += length + 1
    return value
  }

  fixed(size: number, read: (offset: number) => bigint | number): bigint | number {
    this.align(size)
    this.need(size)
    const value = read(this.offset)
    this.offset += size
    return value
  }

  basic(type: string): Basic {
    const b = this.buffer
    const le = this.littleEndian
    switch (type) {
      case 'y':
        return this.byte()
      case 'b':
        return this.uint32() !== 0
      case 'n':
        return this.fixed(2, (o) => (le ? b.readInt16LE(o) : b.readInt16BE(o)))
      case 'q':
        return this.fixed(2, (o) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o)))
      case 'i':
        return this.fixed(4, (o) => (le ? b.readInt32LE(o) : b.readInt32BE(o)))
      case 'u':
      case 'h':
        return this.uint32()
      case 'x':
        return this.fixed(8, (o) => (le ? b.readBigInt64LE(o) : b.readBigInt64BE(o)))
      case 't':
        return this.fixed(8, (o) => (le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)))
      case 'd':
        return this.fixed(8, (o) => (le ? b.readDoubleLE(o) : b.readDoubleBE(o)))
      case 's':
      case 'o':
        return this.string()
      case 'g':
        return this.signature()
      default:
        throw new Error(`unsupported D-Bus type '${type}'`)
    }
  }

  variant(): Basic {
    return this.basic(this.signature())
  }
}

/** The length of the first complete message in buffer, or undefined while more bytes are needed. */
export function messageLength(buffer: Buffer): number | undefined {
  if (buffer.length < 16) return undefined
  const littleEndian = buffer[0] === 0x6c
  if (!littleEndian && buffer[0] !== 0x42) throw new Error('not a D-Bus message')
  const bodyLength = littleEndian ? buffer.readUInt32LE(4) : buffer.readUInt32BE(4)
  const fieldsLength = littleEndian ? buffer.readUInt32LE(12) : buffer.readUInt32BE(12)
  const total = Math.ceil((16 + fieldsLength) / 8) * 8 + bodyLength
  if (total > MAX_MESSAGE_BYTES) throw new Error('D-Bus message too large')
  return buffer.length >= total ? total : undefined
}

export function decodeMessage(buffer: Buffer): Message {
  const littleEndian = buffer[0] === 0x6c
  const reader = new Reader(buffer, littleEndian, 1)
  const type = reader.byte()
  reader.byte() // flags
  reader.byte() // protocol version
  const bodyLength = reader.uint32()
  const serial = reader.uint32()
  const fieldsEnd = reader.uint32() + 16
  const message: Message = {body: buffer, bodyOffset: 0, littleEndian, serial, signature: '', type}
  while (reader.offset < fieldsEnd) {
    reader.align(8)
    const code = reader.byte()
    const value = reader.variant()
    if (code === FIELD.replySerial) message.replySerial = Number(value)
    else if (code === FIELD.errorName) message.errorName = String(value)
    else if (code === FIELD.signature) message.signature = String(value)
  }

  message.bodyOffset = Math.ceil(fieldsEnd / 8) * 8
  if (message.bodyOffset + bodyLength > buffer.length) throw new Error('truncated D-Bus message')
  return message
}

/** The body's first value, for replies of signature 'v' (a property) or 's' (an error's text). */
export function firstBodyValue(message: Message): Basic | undefined {
  if (message.signature === '') return undefined
  const reader = new Reader(message.body, message.littleEndian, message.bodyOffset, message.bodyOffset)
  const type = message.signature[0]
  return type === 'v' ? reader.variant() : reader.basic(type)
}

// ---------------------------------------------------------------------------------------------
// The probe

const HELLO: MethodCall = {
  destination: 'org.freedesktop.DBus',
  interface: 'org.freedesktop.DBus',
  member: 'Hello',
  path: '/org/freedesktop/DBus',
}

const GET_LOCKED: MethodCall = {
  args: ['org.freedesktop.Secret.Collection', 'Locked'],
  destination: 'org.freedesktop.secrets',
  interface: 'org.freedesktop.DBus.Properties',
  member: 'Get',
  path: '/org/freedesktop/secrets/aliases/default',
}

const GET_SERIAL = 2

function errorState(name: string, text: string | undefined): SecretServiceState {
  const detail = text ? `${name}: ${text}` : name
  if (name === 'org.freedesktop.DBus.Error.ServiceUnknown' || name === 'org.freedesktop.DBus.Error.NameHasNoOwner') {
    return {reason: `no Secret Service on the session bus (${detail})`, state: 'unavailable'}
  }

  // gnome-keyring answers UnknownObject/UnknownMethod, KeePassXC NoSuchObject, for a missing alias.
  if (/UnknownObject|UnknownMethod|UnknownInterface|NoSuchObject/.test(name)) {
    return {reason: `the Secret Service has no default keyring (${detail})`, state: 'unavailable'}
  }

  return {reason: `the Secret Service failed (${detail})`, state: 'unavailable'}
}

/**
 * libuv before 1.48 (Node 20 ships 1.46) connects to an abstract socket with the name padded by NULs
 * to the full sockaddr_un, which is another name to the kernel: such a Node cannot reach a bus that
 * dbus-daemon < 1.13 or an explicit `unix:abstract=` listens on. Newer dbus-daemons use socket files.
 */
export function canReachAbstractSockets(libuvVersion: string = process.versions.uv ?? '0'): boolean {
  const [major = 0, minor = 0] = libuvVersion.split('.').map(Number)
  return major > 1 || (major === 1 && minor >= 48)
}

function connectionErrorState(error: NodeJS.ErrnoException, socketPath: string): SecretServiceState {
  const abstract = socketPath.startsWith('\0')
  const where = abstract ? `abstract socket ${socketPath.slice(1)}` : socketPath
  if (abstract && error.code === 'ECONNREFUSED' && !canReachAbstractSockets()) {
    const version = `Node.js ${process.version} (libuv ${process.versions.uv})`
    return {reason: `${version} cannot connect to the session bus on the ${where}; Node.js 22 can`, state: 'unavailable'}
  }

  if (error.code === 'ENOENT') return {reason: `no session bus at ${where}`, state: 'unavailable'}
  if (error.code === 'ECONNREFUSED') return {reason: `connection to the session bus refused (${where})`, state: 'unavailable'}
  return {reason: `cannot connect to the session bus at ${where}: ${error.message}`, state: 'unavailable'}
}

/** Reads the D-Bus conversation; returns the probe's answer once there is one. */
function conversation(socket: Socket): (chunk: Buffer) => SecretServiceState | undefined {
  let authenticated = false
  let pending = Buffer.alloc(0)

  return (chunk) => {
    pending = Buffer.concat([pending, chunk])
    if (!authenticated) {
      const end = pending.indexOf('\r\n')
      if (end < 0) return pending.length > 4096 ? {reason: 'malformed authentication reply', state: 'unavailable'} : undefined
      const line = pending.toString('ascii', 0, end)
      pending = pending.subarray(end + 2)
      if (line.startsWith('REJECTED')) return {reason: 'the session bus rejected authentication', state: 'unavailable'}
      if (!line.startsWith('OK ')) return {reason: `unexpected authentication reply "${line.slice(0, 40)}"`, state: 'unavailable'}
      authenticated = true
      // Hello must come first on a bus connection; the Get may follow it without waiting.
      socket.write(Buffer.concat([Buffer.from('BEGIN\r\n'), encodeMethodCall(HELLO, 1), encodeMethodCall(GET_LOCKED, GET_SERIAL)]))
    }

    for (let length = messageLength(pending); length !== undefined; length = messageLength(pending)) {
      const message = decodeMessage(pending.subarray(0, length))
      pending = pending.subarray(length)
      if (message.replySerial !== GET_SERIAL) continue // Hello's reply, NameAcquired
      if (message.type === MESSAGE_TYPE.error) {
        const text = firstBodyValue(message)
        return errorState(message.errorName ?? 'unknown error', typeof text === 'string' ? text : undefined)
      }

      if (message.type === MESSAGE_TYPE.methodReturn) {
        const locked = firstBodyValue(message)
        if (typeof locked !== 'boolean') return {reason: 'the Secret Service sent an unexpected Locked property', state: 'unavailable'}
        return locked ? {state: 'locked'} : {state: 'unlocked'}
      }
    }

    return undefined
  }
}

/**
 * Whether the Secret Service answers and its default collection is unlocked. Never throws, never
 * takes longer than the timeout, and leaves no socket or timer behind. Only Linux is probed: the
 * other platforms' keychains do not go through D-Bus.
 */
export function probeSecretService(options: ProbeOptions = {}): Promise<SecretServiceState> {
  const env = options.env ?? process.env
  if ((options.platform ?? process.platform) !== 'linux') return Promise.resolve({state: 'unlocked'})
  const target = sessionBusTarget(env)
  if ('reason' in target) return Promise.resolve({reason: target.reason, state: 'unavailable'})
  const timeoutMs = options.timeoutMs ?? keychainTimeoutMs(env)

  return new Promise((resolve) => {
    const socket = connect({path: target.path})
    const read = conversation(socket)
    let settled = false
    const finish = (state: SecretServiceState) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(state)
    }

    const timer = setTimeout(() => finish({reason: `timeout after ${timeoutMs / 1000} s waiting for the Secret Service`, state: 'unavailable'}), timeoutMs)
    socket.on('connect', () => {
      const uid = String(process.getuid?.() ?? 0)
      socket.write(`\0AUTH EXTERNAL ${Buffer.from(uid, 'ascii').toString('hex')}\r\n`)
    })
    socket.on('data', (chunk: Buffer) => {
      try {
        const state = read(chunk)
        if (state) finish(state)
      } catch (error) {
        finish({reason: `malformed reply from the session bus: ${(error as Error).message}`, state: 'unavailable'})
      }
    })
    socket.on('error', (error) => finish(connectionErrorState(error, target.path)))
    socket.on('close', () => finish({reason: 'the session bus closed the connection', state: 'unavailable'}))
  })
}
