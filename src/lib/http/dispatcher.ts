import type {Dispatcher} from 'undici'

import {readRegularFileSync} from '../bounded-read.js'
import {ConfigError, messageOf} from '../errors.js'
import {trackConnections} from './connections.js'
import {isLoopbackHost, loopbackCheckedLookup} from './destination.js'
import {type ClientCertificate, presenting} from './mtls.js'

export interface DispatcherOptions {
  /** An extra trusted CA bundle (PEM) for this command: --ca-file. */
  caFile?: string
  /** Mutual TLS: the certificate every connection presents (./mtls.ts). */
  clientCertificate?: ClientCertificate
  /** --timeout: bounds each wait of a request (see createDispatcher). Default 30. */
  timeoutSeconds?: number
}

function readPem(file: string, what: string): string {
  try {
    // A FIFO would block the whole process here: refused (bounded-read.ts).
    return readRegularFileSync(file).toString('utf8')
  } catch (error) {
    throw new ConfigError(`cannot read ${what} ${file}: ${messageOf(error)}`)
  }
}

/**
 * Node only adds NODE_EXTRA_CA_CERTS to its default TLS context; an explicit `ca` replaces that
 * context, so the bundled roots and the extra certificates are gathered here together.
 */
export async function trustedCas(caFile: string | undefined): Promise<string[] | undefined> {
  const extra = process.env.NODE_EXTRA_CA_CERTS
  if (!caFile) return undefined
  const {rootCertificates} = await import('node:tls')
  const cas = [...rootCertificates]
  if (extra) cas.push(readPem(extra, 'NODE_EXTRA_CA_CERTS'))
  cas.push(readPem(caFile, 'the CA file'))
  return cas
}

const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']

/** The proxy variable in effect, if any: then every request but those to loopback goes through undici's EnvHttpProxyAgent. */
export function proxyVariable(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return PROXY_VARIABLES.find((name) => env[name])
}

const DEFAULT_TIMEOUT_SECONDS = 30

function isLoopbackOrigin(origin: string | URL | undefined): boolean {
  if (origin === undefined) return false
  return isLoopbackHost(new URL(origin).hostname)
}

/**
 * One dispatcher for every request of a command:
 * - loopback destinations (127.0.0.0/8, ::1, localhost names) always directly, whatever
 *   HTTP_PROXY / NO_PROXY say, as Go's net/http does: what is sent in clear to 127.0.0.1 never leaves
 *   the machine. A localhost name is held to loopback by the connection's own lookup (destination.ts);
 * - everything else through HTTPS_PROXY / HTTP_PROXY / NO_PROXY (undici's EnvHttpProxyAgent);
 * - the command's trusted CAs for direct, proxied and tunnelled TLS, and its client certificate
 *   (mutual TLS) for the connections to the servers (never to the proxy);
 * - --timeout on every wait: DNS + connect + TLS (the connect timeout), the proxy's answer to
 *   CONNECT (the proxy client's headers timeout), the response headers, each pause in a body.
 * It is tracked, so the command destroys it when it ends (connections.ts).
 */
export async function createDispatcher(options: DispatcherOptions = {}): Promise<Dispatcher> {
  const {Agent, Dispatcher: DispatcherClass, EnvHttpProxyAgent, Pool} = await import('undici')
  const ca = await trustedCas(options.caFile)
  const timeoutMs = (options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000
  const connect = {...(ca ? {ca} : {}), ...presenting(options.clientCertificate), lookup: loopbackCheckedLookup, timeout: timeoutMs}
  const timeouts = {bodyTimeout: timeoutMs, headersTimeout: timeoutMs}
  const direct = new Agent({...timeouts, connect})
  if (!proxyVariable()) {
    trackConnections(direct)
    return direct
  }

  // proxyTunnel false: plain http goes to the proxy as an absolute-form request, as curl does;
  // many proxies refuse CONNECT to anything but 443. https is tunnelled (CONNECT) either way.
  const proxied = new EnvHttpProxyAgent({
    ...timeouts,
    clientFactory: (origin: URL, clientOptions: object) => new Pool(origin, {...clientOptions, ...timeouts}),
    connect,
    proxyTls: {...(ca ? {ca} : {}), lookup: loopbackCheckedLookup, timeout: timeoutMs},
    proxyTunnel: false,
    requestTls: connect,
  })

  class LoopbackAroundProxy extends DispatcherClass {
    override dispatch(request: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      return (isLoopbackOrigin(request.origin) ? direct : proxied).dispatch(request, handler)
    }

    override close(): Promise<void>
    override close(callback: () => void): void
    override close(callback?: () => void): Promise<void> | void {
      const closed = Promise.all([direct.close(), proxied.close()]).then(() => {})
      if (!callback) return closed
      closed.then(callback, callback)
    }

    override destroy(): Promise<void>
    override destroy(error: Error | null): Promise<void>
    override destroy(callback: () => void): void
    override destroy(error: Error | null, callback: () => void): void
    override destroy(first?: (() => void) | Error | null, second?: () => void): Promise<void> | void {
      const error = typeof first === 'function' ? null : (first ?? null)
      const callback = typeof first === 'function' ? first : second
      const destroyed = Promise.all([direct.destroy(error), proxied.destroy(error)]).then(() => {})
      if (!callback) return destroyed
      destroyed.then(callback, callback)
    }
  }

  const dispatcher = new LoopbackAroundProxy()
  trackConnections(dispatcher)
  return dispatcher
}
