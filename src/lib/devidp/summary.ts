/**
 * What `tokenctl dev idp` prints once it listens: the issuer, the endpoints, the clients with their
 * secrets, the resources and commands to try, as JSON (`--json`) or as text for a person.
 */
import {DEVICE_CODE_GRANT, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT} from '../oauth/urns.js'
import {type DevClients, type DevIdpClient, type FederatedIdentityCredential, grantTypesOf, LOOPBACK_REDIRECT_URI} from './clients.js'
import {API_RESOURCE, API_SCOPES, OTHER_RESOURCE, WEB_API_AUDIENCE, WEB_API_RESOURCE, WEB_API_SCOPE} from './configuration.js'
import type {DevIdp} from './server.js'

export interface DevIdpSummary {
  issuer: string
  authorization_endpoint: string
  device_authorization_endpoint: string
  token_endpoint: string
  revocation_endpoint: string
  jwks_uri: string
  /** The protected API beside the server: GET `${api_url}/echo` with a token for a downstream API. */
  api_url: string
  /** Seconds between device-flow polls; faster ones get slow_down. */
  device_interval: number
  clients: Array<{
    client_id: string
    auth_method: string
    client_secret?: string
    grant_types: string[]
    redirect_uris?: string[]
    /** A federated client: the external tokens it accepts (issuer, subject, audience, exactly). */
    federated_credentials?: Array<{issuer: string; subject: string; audience: string}>
    /** Its tokens must be DPoP-bound: a token request without a proof is refused. */
    dpop_bound?: true
    /** A mutual-TLS client: the file holding its certificate and key, for --certificate-file. */
    certificate_file?: string
  }>
  /** `--tls`: the CA of its own (the file to trust, and its SHA-256 fingerprint), and the port that asks for client certificates. */
  tls?: {ca_file: string; ca_sha256: string; mtls_origin: string; mtls_api_url: string}
  /** The imitation of the GitHub Actions runner's token service: what a job's environment would hold. */
  github_actions: {issuer: string; request_url: string; request_token: string; subject: string}
  resources: Array<{resource: string; audience: string; scopes: string[]; use: string}>
  /** Shell commands to try, one per line. */
  examples: string[]
}

/** Where `dev idp --tls` wrote its CA and the `mtls` client's certificate. */
export interface TlsFiles {
  caFile: string
  /** As `openssl x509 -noout -fingerprint -sha256` prints it. */
  caSha256: string
  clientFile: string
}

export function devIdpSummary(idp: DevIdp<DevClients>, bin = 'tokenctl', files?: TlsFiles): DevIdpSummary {
  return {
    issuer: idp.issuer,
    authorization_endpoint: idp.authorizationEndpoint,
    device_authorization_endpoint: idp.deviceAuthorizationEndpoint,
    token_endpoint: idp.tokenEndpoint,
    revocation_endpoint: idp.revocationEndpoint,
    jwks_uri: idp.jwksUri,
    api_url: idp.apiUrl,
    device_interval: idp.deviceInterval,
    clients: Object.values<DevIdpClient>(idp.clients).map((client) => ({
      client_id: client.clientId,
      auth_method: client.authMethod,
      ...(client.clientSecret === undefined ? {} : {client_secret: client.clientSecret}),
      grant_types: grantTypesOf(client),
      ...(client.redirectUris === undefined ? {} : {redirect_uris: client.redirectUris}),
      ...(client.federatedCredentials === undefined ? {} : {federated_credentials: client.federatedCredentials.map((credential) => federatedCredential(idp, credential))}),
      ...(client.dpopBound ? {dpop_bound: true as const} : {}),
      ...(client.certificate === undefined || files === undefined ? {} : {certificate_file: files.clientFile}),
    })),
    ...(idp.mtls && files ? {tls: {ca_file: files.caFile, ca_sha256: files.caSha256, mtls_origin: idp.mtls.origin, mtls_api_url: idp.mtls.apiUrl}} : {}),
    github_actions: {
      issuer: idp.githubActions.issuer,
      request_url: idp.githubActions.requestUrl,
      request_token: idp.githubActions.requestToken,
      subject: idp.githubActions.subject,
    },
    resources: [
      {resource: API_RESOURCE, audience: API_RESOURCE, scopes: API_SCOPES.split(' '), use: 'downstream API: client credentials, OBO results (the default)'},
      {resource: OTHER_RESOURCE, audience: OTHER_RESOURCE, scopes: API_SCOPES.split(' '), use: 'a second downstream API'},
      {resource: WEB_API_RESOURCE, audience: WEB_API_AUDIENCE, scopes: [WEB_API_SCOPE], use: `user tokens for the web API "${WEB_API_AUDIENCE}": the OBO assertion`},
    ],
    examples: examples(idp, bin, files),
  }
}

/** A federated credential's issuer as tokens name it (one on this server is given as a path). */
function federatedCredential(idp: DevIdp<DevClients>, credential: FederatedIdentityCredential): FederatedIdentityCredential {
  return {...credential, issuer: credential.issuer.startsWith('/') ? `${new URL(idp.issuer).origin}${credential.issuer}` : credential.issuer}
}

/** Lines to paste, in order: name the three clients, then try each flow with them, then a secretless CI job. */
function examples(idp: DevIdp<DevClients>, bin: string, files?: TlsFiles): string[] {
  const {worker, api, cli, workload, dpop, mtls} = idp.clients
  const runner = idp.githubActions
  const ca = files ? ` --ca-file ${files.caFile}` : ''
  const issuer = `--issuer ${idp.issuer}${ca}`
  const withTls =
    mtls && files && idp.mtls
      ? [
          `${bin} client add mtls ${issuer} --client-id ${mtls.clientId} --auth-method ${mtls.authMethod} --certificate-file ${files.clientFile}`,
          `${bin} call ${idp.mtls.apiUrl}/echo --client mtls${ca}`,
        ]
      : []
  return [
    `printf %s ${worker.clientSecret} | ${bin} client add worker ${issuer} --client-id ${worker.clientId} --client-secret-stdin`,
    `printf %s ${api.clientSecret} | ${bin} client add api ${issuer} --client-id ${api.clientId} --client-secret-stdin`,
    `${bin} client add cli ${issuer} --client-id ${cli.clientId} --auth-method none`,
    `${bin} token client worker --scope read`,
    `${bin} call ${idp.apiUrl}/echo --client worker${ca}`,
    `${bin} token user cli --scope ${WEB_API_SCOPE} --device | ${bin} token obo api --assertion-stdin --scope read | ${bin} token decode`,
    `ACTIONS_ID_TOKEN_REQUEST_URL='${runner.requestUrl}' ACTIONS_ID_TOKEN_REQUEST_TOKEN=${runner.requestToken} ${bin} token client ${issuer} --client-id ${workload.clientId} --federated-token-github --scope read`,
    `printf %s ${dpop.clientSecret} | ${bin} client add dpop ${issuer} --client-id ${dpop.clientId} --client-secret-stdin --dpop`,
    `${bin} call ${idp.apiUrl}/echo --client dpop${ca}`,
    ...withTls,
  ]
}

const GRANT_NAMES: Record<string, string> = {
  [JWT_BEARER_GRANT]: 'jwt-bearer (OBO)',
  [TOKEN_EXCHANGE_GRANT]: 'token-exchange (OBO, RFC 8693)',
  [DEVICE_CODE_GRANT]: 'device_code',
  authorization_code: 'authorization_code + PKCE',
}

export function summaryText(summary: DevIdpSummary): string {
  const pad = (text: string, width: number) => text.padEnd(width)
  const idWidth = Math.max(...summary.clients.map((client) => client.client_id.length)) + 2
  const resourceWidth = Math.max(...summary.resources.map((resource) => resource.resource.length)) + 2
  const clients = summary.clients.flatMap((client) => {
    const auth = client.auth_method === 'none' ? 'none (public client)' : client.auth_method
    const secret = client.client_secret === undefined ? '' : `   secret ${client.client_secret}`
    const indent = ' '.repeat(2 + idWidth)
    const redirect = (client.redirect_uris ?? []).map((uri) => `${indent}redirect ${uri}${uri === LOOPBACK_REDIRECT_URI ? ' (any port)' : ''}`)
    const trusts = (client.federated_credentials ?? []).map((trust) => `${indent}trusts iss ${trust.issuer}, sub ${trust.subject}, aud ${trust.audience}`)
    const bound = client.dpop_bound ? [`${indent}must use DPoP (--dpop): its tokens are bound to the client's key`] : []
    const certificate = client.certificate_file ? [`${indent}certificate ${client.certificate_file} (its tokens are bound to it)`] : []
    return [
      `  ${pad(client.client_id, idWidth)}${auth}${secret}`,
      `${indent}${client.grant_types.map((grant) => GRANT_NAMES[grant] ?? grant).join(', ')}`,
      ...redirect,
      ...trusts,
      ...bound,
      ...certificate,
    ]
  })
  const resources = summary.resources.map((resource) => `  ${pad(resource.resource, resourceWidth)}${pad(resource.scopes.join(' '), 16)}${resource.use}`)
  return [
    'A local authorization server for development: state in memory, 127.0.0.1 only, any user name signs in.',
    '',
    `issuer     ${summary.issuer}`,
    `discovery  ${summary.issuer}/.well-known/openid-configuration`,
    `api        ${summary.api_url}/echo (any token for ${API_RESOURCE}: echoes its claims), ${summary.api_url}/reject-first/ID (401 for the first token per ID)`,
    "           DPoP-bound tokens need Authorization: DPoP and a proof with the API's own nonce",
    ...(summary.tls
      ? [
          `ca         ${summary.tls.ca_file} (trust it with --ca-file), SHA-256 ${summary.tls.ca_sha256}`,
          `mtls       ${summary.tls.mtls_origin} asks for client certificates: the mtls_endpoint_aliases, and ${summary.tls.mtls_api_url}/echo for certificate-bound tokens`,
        ]
      : []),
    '',
    'clients',
    ...clients,
    '',
    `github actions runner (its OIDC token service, for --federated-token-github)`,
    `  ACTIONS_ID_TOKEN_REQUEST_URL=${summary.github_actions.request_url}`,
    `  ACTIONS_ID_TOKEN_REQUEST_TOKEN=${summary.github_actions.request_token}`,
    `  issuer ${summary.github_actions.issuer}, sub ${summary.github_actions.subject}`,
    '',
    'resources (scopes; a token\'s aud is the resource, api://api\'s is "api")',
    ...resources,
    '',
    'try (the first three lines name the clients; the secret goes to your secure store)',
    ...summary.examples.map((line) => `  ${line}`),
  ].join('\n')
}
