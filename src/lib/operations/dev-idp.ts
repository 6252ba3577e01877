/** `dev idp`: the local authorization server, running until Ctrl-C (or a service manager's SIGTERM). */
import {X509Certificate} from 'node:crypto'
import {join, resolve} from 'node:path'

import type {CommandShell} from '../command-shell.js'
import {tokenctlHome} from '../paths.js'
import type * as DevIdp from './dev-idp.flags.js'
import type {CommandInput} from './input.js'

export interface DevIdpInput extends CommandInput<typeof DevIdp> {
  /** The name the printed commands use (oclif's config.bin). */
  bin: string
}

export async function devIdp({bin, flags}: DevIdpInput, shell: CommandShell): Promise<void> {
  // Listening from the start: a Ctrl-C while the server starts stops it as soon as it is up.
  const signalled = untilSignal()
  // Loaded here: oclif reads every command's module (and what it imports) for its manifest and help.
  const {startDevIdp} = await import('../devidp/server.js')
  const {devIdpSummary, summaryText} = await import('../devidp/summary.js')
  // --tls: a CA of its own and the certificates it issued, kept in a folder and used again by later starts.
  const pki = flags.tls ? await (await import('../devidp/pki.js')).devPki(resolve(flags['tls-dir'] ?? join(tokenctlHome(), 'dev-idp'))) : undefined
  const idp = await startDevIdp({
    onError: (error) => process.stderr.write(`dev idp: server error: ${error.message}\n`),
    port: flags.port,
    ...(pki ? {mtlsClientCertificate: pki.clientCertificateOnly, mtlsPort: flags['mtls-port'], tls: {ca: pki.caCertificate, cert: pki.serverCertificate, key: pki.serverKey}} : {}),
  })
  const tlsFiles = pki ? {caFile: pki.caFile, caSha256: new X509Certificate(pki.caCertificate).fingerprint256, clientFile: pki.clientFile} : undefined
  const summary = devIdpSummary(idp, bin, tlsFiles)
  // Now, as one line under --json: the command keeps running, so a result at the end is no use,
  // and shell.log() is silent under --json.
  process.stdout.write(`${shell.json ? JSON.stringify(summary) : summaryText(summary)}\n`)
  process.stderr.write(`Listening on ${idp.issuer}. Ctrl-C stops it.\n`)
  await signalled
  await idp.stop()
  process.stderr.write('Stopped.\n')
}

/** Ctrl-C or a service manager's SIGTERM: the normal way to stop, so exit 0. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve(signal)
    }

    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
