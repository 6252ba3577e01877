import {readFileSync} from 'node:fs'
import type {Dispatcher} from 'undici'

import {ConfigError, messageOf} from '../errors.js'

export interface DispatcherOptions {
  /** An extra trusted CA bundle (PEM) for this command: --ca-file. */
  caFile?: string
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8')
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

/** The proxy variable in effect, if any: then every request goes through undici's EnvHttpProxyAgent. */
export function proxyVariable(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return PROXY_VARIABLES.find((name) => env[name])
}

/**
 * One dispatcher for every request of a command: HTTPS_PROXY / HTTP_PROXY / NO_PROXY through
 * undici's EnvHttpProxyAgent, and the command's trusted CAs for both direct and proxied TLS.
 */
export async function createDispatcher(options: DispatcherOptions = {}): Promise<Dispatcher> {
  const {EnvHttpProxyAgent} = await import('undici')
  const ca = await trustedCas(options.caFile)
  const tls = ca ? {ca} : undefined
  // proxyTunnel false: plain http goes to the proxy as an absolute-form request, as curl does;
  // many proxies refuse CONNECT to anything but 443. https is tunnelled (CONNECT) either way.
  return new EnvHttpProxyAgent({connect: tls, proxyTls: tls, proxyTunnel: false, requestTls: tls})
}
