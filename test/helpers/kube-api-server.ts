/**
 * A Kubernetes API server small enough for `kubectl get pods` and `kubectl get --raw PATH`, for the
 * tests of `--format exec-credential`: it verifies the bearer token of every request as a cluster
 * set up for an OIDC issuer does (signature against the issuer's JWKS, `iss`, `exp`, `aud`), and
 * answers anything else 401 with a Status, as kube-apiserver does.
 *
 * https only: kubectl sends credentials (runs an exec plugin at all) only to a server it reaches
 * over TLS (client-go's clientcmd reads a user's credentials only for a TLS transport), so the server
 * has a CA of its own (./tls.ts), whose file a kubeconfig names as `certificate-authority`.
 *
 * What it serves (the legacy discovery documents, which every kubectl reads when a server offers no
 * aggregated discovery; https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api):
 * - `/version`, `/api` (APIVersions), `/apis` (an empty APIGroupList), `/api/v1` (APIResourceList:
 *   namespaces and pods);
 * - `/api/v1/namespaces` and `/api/v1/namespaces/default/pods`: lists of one item, as a Table when
 *   the client asks for one (`Accept: …;as=Table`, what `kubectl get` asks), else as the list.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'
import {createServer} from 'node:https'
import type {JSONWebKeySet, JWTPayload} from 'jose'

import {bearerToken, bearerVerifier} from '../../src/lib/devidp/protected-api.js'
import {closeServer, listenOnLoopback} from '../../src/lib/http/loopback.js'
import {requireTestPki, type TestPki} from './tls.js'

export const POD_NAME = 'tokenctl-test-pod'

export interface KubeApiServerOptions {
  issuer: string
  /** The issuer's JWKS URI (fetched and cached), or its keys. */
  jwksUri: string | JSONWebKeySet
  /** Tokens must carry it in `aud` (an API server's --oidc-client-id, or Entra's AKS server app). */
  audience: string | string[]
}

export interface KubeRequest {
  method: string
  /** Without the query string. */
  path: string
  /** The bearer token presented, if any. */
  token?: string
  /** The verified claims; absent when the request was refused. */
  claims?: JWTPayload
  status?: number
}

export interface KubeApiServer {
  /** `https://127.0.0.1:PORT`. */
  url: string
  /** The CA that signed the server's certificate (PEM file), for the kubeconfig's `certificate-authority`. */
  caFile: string
  requests: KubeRequest[]
  /** Failures of the server itself (a JWKS it could not fetch). */
  errors: Error[]
  stop(): Promise<void>
}

const NAMESPACE = {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'default', uid: 'ns-default'}, spec: {}, status: {phase: 'Active'}}
const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {name: POD_NAME, namespace: 'default', uid: 'pod-1'},
  spec: {containers: [{image: 'busybox', name: 'main'}]},
  status: {phase: 'Running'},
}

const DISCOVERY: Record<string, unknown> = {
  '/version': {gitVersion: 'v1.32.0', major: '1', minor: '32', platform: 'linux/amd64'},
  '/api': {kind: 'APIVersions', serverAddressByClientCIDRs: [{clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1'}], versions: ['v1']},
  '/apis': {apiVersion: 'v1', groups: [], kind: 'APIGroupList'},
  '/api/v1': {
    apiVersion: 'v1',
    groupVersion: 'v1',
    kind: 'APIResourceList',
    resources: [
      {kind: 'Namespace', name: 'namespaces', namespaced: false, shortNames: ['ns'], singularName: 'namespace', verbs: ['get', 'list']},
      {kind: 'Pod', name: 'pods', namespaced: true, shortNames: ['po'], singularName: 'pod', verbs: ['get', 'list']},
    ],
  },
}

const LISTS: Record<string, {columns: string[]; item: typeof NAMESPACE | typeof POD; kind: string; row: string[]}> = {
  '/api/v1/namespaces': {columns: ['Name', 'Status'], item: NAMESPACE, kind: 'NamespaceList', row: ['default', 'Active']},
  '/api/v1/namespaces/default/pods': {columns: ['Name', 'Status'], item: POD, kind: 'PodList', row: [POD_NAME, 'Running']},
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, {'cache-control': 'no-store', 'content-type': 'application/json'})
  response.end(JSON.stringify(body))
}

function status(code: number, reason: string, message: string) {
  return {apiVersion: 'v1', code, kind: 'Status', message, metadata: {}, reason, status: 'Failure'}
}

/** `kubectl get` asks for a server-side Table (meta.k8s.io v1, or v1beta1 from older kubectl). */
function table(list: (typeof LISTS)[string], accept: string) {
  const apiVersion = /as=Table;v=v1;g=meta\.k8s\.io/.test(accept) ? 'meta.k8s.io/v1' : 'meta.k8s.io/v1beta1'
  return {
    apiVersion,
    columnDefinitions: list.columns.map((name) => ({description: '', format: name === 'Name' ? 'name' : '', name, priority: 0, type: 'string'})),
    kind: 'Table',
    metadata: {resourceVersion: '1'},
    rows: [
      {
        cells: list.row,
        object: {apiVersion, kind: 'PartialObjectMetadata', metadata: list.item.metadata},
      },
    ],
  }
}

export async function startKubeApiServer(options: KubeApiServerOptions, pki?: TestPki): Promise<KubeApiServer> {
  const tls = pki ?? (await requireTestPki({caName: 'tokenctl test cluster CA'}))
  const verify = await bearerVerifier({audience: options.audience, issuer: options.issuer, keys: options.jwksUri})
  const requests: KubeRequest[] = []
  const errors: Error[] = []

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'https://127.0.0.1').pathname
    const token = bearerToken(request.headers.authorization)
    const record: KubeRequest = {method: request.method ?? 'GET', path, ...(token === undefined ? {} : {token})}
    requests.push(record)
    response.once('finish', () => (record.status = response.statusCode))
    const verification = await verify(token)
    if ('problem' in verification) return send(response, 401, status(401, 'Unauthorized', `Unauthorized: ${verification.problem}`))
    record.claims = verification.claims
    if (request.method !== 'GET') return send(response, 405, status(405, 'MethodNotAllowed', 'this test server only reads'))
    if (Object.hasOwn(DISCOVERY, path)) return send(response, 200, DISCOVERY[path])
    const list = Object.hasOwn(LISTS, path) ? LISTS[path] : undefined
    if (!list) return send(response, 404, status(404, 'NotFound', `the server could not find the requested resource (${path})`))
    const accept = request.headers.accept ?? ''
    if (accept.includes('as=Table')) return send(response, 200, table(list, accept))
    send(response, 200, {apiVersion: 'v1', items: [list.item], kind: list.kind, metadata: {resourceVersion: '1'}})
  }

  const server = createServer({cert: tls.serverCert, key: tls.serverKey}, (request, response) => {
    request.resume()
    request.once('end', () => {
      handle(request, response).catch((error: unknown) => {
        errors.push(error instanceof Error ? error : new Error(String(error)))
        if (!response.headersSent) send(response, 500, status(500, 'InternalError', 'the test API server failed'))
      })
    })
  })
  const port = await listenOnLoopback(server)
  return {
    caFile: tls.caCertPath,
    errors,
    requests,
    async stop() {
      await closeServer(server)
      if (!pki) tls.remove()
    },
    url: `https://127.0.0.1:${port}`,
  }
}
