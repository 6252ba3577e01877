import {X509Certificate} from 'node:crypto'
import {join, resolve} from 'node:path'

import {Flags, ux} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {tokenctlHome} from '../../lib/paths.js'

/** A free port is the default of the library; a person wants an issuer that stays the same across restarts. */
const DEFAULT_PORT = 8400

export default class DevIdp extends BaseCommand {
  static override description = `Runs a local authorization server (oidc-provider) to try every flow on, without a cloud tenant.
Client credentials, on-behalf-of (jwt-bearer and RFC 8693 token exchange), refresh tokens with rotation and reuse detection, the device flow, authorization code with PKCE through a loopback redirect (any user name signs in), revocation, JWT access tokens and a JWKS.
It listens on 127.0.0.1 only and answers only requests addressed to localhost, 127.0.0.1 or [::1] (a web page cannot reach it by DNS rebinding) and, from a browser, only its own pages; it keeps everything in memory, and prints its issuer, its clients with their fixed development secrets, its resources and commands to try; --json prints the same as one JSON line once it listens.
DPoP (RFC 9449): tokens are bound to the key of a client that sends a proof (the dpop client must), a nonce is asked for first, and the API checks proofs with a nonce of its own.
--tls: https with a CA of its own (its file printed; pass it to --ca-file), and a second port that asks for client certificates: the mtls_endpoint_aliases, an mtls client registered by its certificate (written beside the CA), certificate-bound tokens and the API that checks them.
Ctrl-C stops it.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --port 9000',
    '<%= config.bin %> <%= command.id %> --port 0 --json > idp.json &   # then: jq -r .issuer idp.json',
    '<%= config.bin %> <%= command.id %> --tls',
  ]

  static override flags = {
    port: Flags.integer({default: DEFAULT_PORT, description: 'port on 127.0.0.1 (0: a free one)', max: 65_535, min: 0}),
    'mtls-port': Flags.integer({dependsOn: ['tls'], description: 'with --tls: the port that asks for client certificates [default: 0, a free one]', max: 65_535, min: 0}),
    tls: Flags.boolean({description: 'serve https with a CA of its own, and mutual TLS on a second port'}),
    'tls-dir': Flags.string({dependsOn: ['tls'], description: 'where --tls keeps its CA and certificates [default: TOKENCTL_HOME/dev-idp]', helpValue: 'PATH'}),
  }

  static override summary = 'Run a local authorization server for development'

  async run(): Promise<void> {
    const {flags} = await this.parse(DevIdp)
    // Listening from the start: a Ctrl-C while the server starts stops it as soon as it is up.
    const signalled = untilSignal()
    // Loaded here, not at the top: oclif reads every command's module for its manifest and help.
    const {startDevIdp} = await import('../../lib/devidp/server.js')
    const {devIdpSummary, summaryText} = await import('../../lib/devidp/summary.js')
    const pki = flags.tls ? await (await import('../../lib/devidp/pki.js')).devPki(resolve(flags['tls-dir'] ?? join(tokenctlHome(), 'dev-idp'))) : undefined
    const idp = await startDevIdp({
      onError: (error) => process.stderr.write(`dev idp: server error: ${error.message}\n`),
      port: flags.port,
      ...(pki ? {mtlsClientCertificate: pki.clientCertificateOnly, mtlsPort: flags['mtls-port'], tls: {ca: pki.caCertificate, cert: pki.serverCertificate, key: pki.serverKey}} : {}),
    })
    const tlsFiles = pki ? {caFile: pki.caFile, caSha256: new X509Certificate(pki.caCertificate).fingerprint256, clientFile: pki.clientFile} : undefined
    const summary = devIdpSummary(idp, this.config.bin, tlsFiles)
    // One line, now: the command keeps running, so oclif's own --json output (at the end) is no use,
    // and this.log() is silent under --json.
    ux.stdout(this.jsonEnabled() ? JSON.stringify(summary) : summaryText(summary))
    process.stderr.write(`Listening on ${idp.issuer}. Ctrl-C stops it.\n`)
    await signalled
    await idp.stop()
    process.stderr.write('Stopped.\n')
  }
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
