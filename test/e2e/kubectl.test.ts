/**
 * `--format exec-credential`: tokenctl as kubectl's credential plugin. The ExecCredential on its own,
 * what KUBERNETES_EXEC_INFO changes (the apiVersion; whether `token user` may ask anyone to sign in),
 * and a real kubectl (whichever is on PATH: a current one reads v1, Debian's kubernetes-client 1.20
 * reads v1beta1) calling a Kubernetes API server (test/helpers/kube-api-server.ts) that checks the
 * token against the test authorization server's keys. The kubeconfig format and KUBERNETES_EXEC_INFO:
 * https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins
 */
import {strict as assert} from 'node:assert'
import {execFile} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {delimiter, join} from 'node:path'
import {promisify} from 'node:util'

import {decodeJwt} from 'jose'

import {approveDevice} from '../../src/lib/devidp/robot.js'
import {expectExit, stdoutJson} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {cleanEnvironment, cliWithHome, stderrMatch, tempHome} from '../helpers/cli.js'
import {type KubeApiServer, POD_NAME, startKubeApiServer} from '../helpers/kube-api-server.js'
import {missingPrerequisite} from '../helpers/prerequisites.js'

const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'kubectl tests'}
const BIN = join(process.cwd(), 'bin', 'run.js')
const V1 = 'client.authentication.k8s.io/v1'
const V1BETA1 = 'client.authentication.k8s.io/v1beta1'
const execInfo = (apiVersion: string, spec: Record<string, unknown> = {interactive: false}) => JSON.stringify({apiVersion, kind: 'ExecCredential', spec})
const DEVICE_PROMPT = /open (\S+) and enter the code (\S+)/
const run = promisify(execFile)

interface Kubectl {
  path: string
  /** The ExecCredential version it reads best: v1 from 1.22 on, else v1beta1. */
  apiVersion: string
  version: string
}

/** The kubectl on PATH, and what it reads; the suite skips nothing, so none is a failure saying how to get one. */
async function findKubectl(): Promise<Kubectl> {
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(folder, 'kubectl')
    const answer = await run(path, ['version', '--client', '-o', 'json']).catch(() => undefined)
    if (!answer) continue
    const {clientVersion} = JSON.parse(answer.stdout) as {clientVersion: {gitVersion: string; major: string; minor: string}}
    const minor = Number.parseInt(clientVersion.minor, 10)
    return {apiVersion: Number(clientVersion.major) > 1 || minor >= 22 ? V1 : V1BETA1, path, version: clientVersion.gitVersion}
  }

  return missingPrerequisite(
    'kubectl is not on PATH',
    "a kubectl, or Debian's kubernetes-client extracted as .ci/run does: apt-get download kubernetes-client && dpkg -x kubernetes-client_*.deb DIR, then DIR/usr/bin on PATH",
  )
}

describe('--format exec-credential: tokens for kubectl', function () {
  this.timeout(120_000)
  let server: AuthServer
  let cluster: KubeApiServer
  useAuthServer(
    (started) => {
      server = started
    },
    {deviceInterval: 1},
  )

  before(async () => {
    cluster = await startKubeApiServer({audience: server.resources.api, issuer: server.issuer, jwksUri: server.jwksUri})
  })
  after(async () => cluster?.stop())
  beforeEach(() => {
    cluster.requests.length = 0
  })

  const tokenRequests = () => server.tokenRequests.filter((request) => !request.fault)

  async function homeWithClient(secret = server.clients.basic.clientSecret) {
    const cli = cliWithHome({env: FILE_STORE})
    expectExit(await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: secret}), 0)
    return cli
  }

  it('prints one ExecCredential: v1beta1 unless KUBERNETES_EXEC_INFO names v1, the token, its expiry in RFC 3339, nothing else', async () => {
    const cli = await homeWithClient()
    const first = await cli.run(['token', 'client', 'ci', '--format', 'exec-credential'])
    expectExit(first, 0)
    assert.equal(first.stderr, '')
    assert.match(first.stdout, /^\{.*\}\n$/, 'one line of JSON')
    const credential = stdoutJson(first)
    assert.deepEqual(Object.keys(credential), ['apiVersion', 'kind', 'status'])
    assert.equal(credential.apiVersion, V1BETA1)
    assert.equal(credential.kind, 'ExecCredential')
    const {exp} = decodeJwt(credential.status.token)
    assert.equal(credential.status.expirationTimestamp, new Date(exp! * 1000).toISOString().replace('.000Z', 'Z'))
    assert.match(credential.status.expirationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)

    for (const apiVersion of [V1, V1BETA1]) {
      const asked = await cli.run(['token', 'client', 'ci', '--format', 'exec-credential'], {env: {KUBERNETES_EXEC_INFO: execInfo(apiVersion)}})
      expectExit(asked, 0)
      assert.deepEqual(stdoutJson(asked), {...credential, apiVersion})
    }

    assert.equal(tokenRequests().length, 1, 'the cache serves kubectl as it serves anyone')
  })

  it('a KUBERNETES_EXEC_INFO asking for another apiVersion (v1alpha1), or not JSON: exit 3 before any request', async () => {
    const cli = cliWithHome({env: FILE_STORE})
    const args = ['token', 'client', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'SECRET', '--format', 'exec-credential']
    for (const [value, message] of [
      [execInfo('client.authentication.k8s.io/v1alpha1'), /apiVersion "client.authentication.k8s.io\/v1alpha1".*set apiVersion: client.authentication.k8s.io\/v1 /],
      ['{"apiVersion":', /KUBERNETES_EXEC_INFO is not JSON/],
    ] as const) {
      const result = await cli.run(args, {env: {KUBERNETES_EXEC_INFO: value, SECRET: server.clients.basic.clientSecret}})
      expectExit(result, 3)
      assert.equal(result.stdout, '')
      assert.match(result.stderr, message)
    }

    assert.deepEqual(server.requests, [], 'not even discovery')
  })

  it('session refresh and token obo print it too', async () => {
    const cli = cliWithHome({env: FILE_STORE})
    expectExit(await cli.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret}), 0)
    const userToken = await server.mintUserToken({aud: 'api', sub: 'alice'})
    expectExit(await cli.run(['session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--key', 'k8s'], {input: userToken}), 0)
    const env = {KUBERNETES_EXEC_INFO: execInfo(V1), USER_TOKEN: userToken}
    for (const args of [
      ['session', 'refresh', '--key', 'k8s', '--format', 'exec-credential'],
      ['token', 'obo', 'api', '--assertion-env', 'USER_TOKEN', '--scope', 'read', '--format', 'exec-credential'],
    ]) {
      const result = await cli.run(args, {env})
      expectExit(result, 0)
      const credential = stdoutJson(result)
      assert.equal(credential.apiVersion, V1)
      assert.equal(decodeJwt(credential.status.token).sub, 'alice')
    }
  })

  describe('token user run by kubectl', () => {
    const signIn = (...extra: string[]) => ['token', 'user', '--issuer', server.issuer, '--client-id', 'cli', '--scope', 'access_as_user', '--format', 'exec-credential', ...extra]

    it('where nobody can answer (interactive: false; kubectl 1.20 says nothing and stdin is not a terminal): exit 5 at once, naming the sign-in to run', async () => {
      const cli = cliWithHome({env: FILE_STORE})
      for (const info of [execInfo(V1, {interactive: false}), execInfo(V1BETA1, {})]) {
        const result = await cli.run(signIn(), {env: {KUBERNETES_EXEC_INFO: info}})
        expectExit(result, 5)
        assert.equal(result.stdout, '')
        const advice = `tokenctl token user --issuer ${server.issuer} --client-id cli --scope access_as_user --session-key KEY`
        assert.ok(result.stderr.includes(advice), result.stderr)
        assert.ok(result.stderr.includes('tokenctl session refresh --key KEY --format exec-credential'), result.stderr)
      }

      const named = await cli.run(signIn('--session-key', 'me'), {env: {KUBERNETES_EXEC_INFO: execInfo(V1)}})
      expectExit(named, 5)
      assert.match(named.stderr, /--session-key me; then have the kubeconfig run tokenctl session refresh --key me --format exec-credential/)
      assert.deepEqual(server.requests, [], 'no request: no discovery, no device authorization')
    })

    it('where kubectl says a person is there (interactive: true): the device flow on stderr, the ExecCredential on stdout', async () => {
      const child = cliWithHome({env: FILE_STORE}).start(signIn('--device'), {env: {KUBERNETES_EXEC_INFO: execInfo(V1, {interactive: true})}})
      const [, verificationUri, userCode] = await stderrMatch(child, DEVICE_PROMPT)
      await approveDevice(verificationUri, {login: 'alice', userCode})
      const result = await child.result
      expectExit(result, 0)
      const credential = stdoutJson(result)
      assert.equal(credential.apiVersion, V1)
      assert.equal(decodeJwt(credential.status.token).sub, 'alice')
    })
  })

  describe('a real kubectl', () => {
    let kubectl: Kubectl
    before(async () => {
      kubectl = await findKubectl()
    })

    /** A kubeconfig whose user runs `tokenctl ARGS` (node bin/run.js: no PATH needed), as README.md shows it. */
    function kubeconfig(args: string[]): string {
      const file = join(tempHome(), 'kubeconfig')
      const config = {
        apiVersion: 'v1',
        clusters: [{cluster: {'certificate-authority': cluster.caFile, server: cluster.url}, name: 'test'}],
        contexts: [{context: {cluster: 'test', user: 'tokenctl'}, name: 'test'}],
        'current-context': 'test',
        kind: 'Config',
        users: [{name: 'tokenctl', user: {exec: {apiVersion: kubectl.apiVersion, args: [BIN, ...args], command: process.execPath, interactiveMode: 'Never'}}}],
      }
      writeFileSync(file, JSON.stringify(config)) // JSON is YAML
      return file
    }

    /** kubectl in a home of its own (its discovery cache goes to $HOME/.kube), with tokenctl's store settings. */
    async function kubectlRun(home: string, config: string, args: string[]) {
      const env = cleanEnvironment(home, {...FILE_STORE, HOME: tempHome(), KUBECONFIG: config})
      return run(kubectl.path, args, {env, timeout: 60_000}).then(
        ({stderr, stdout}) => ({code: 0, stderr, stdout}),
        (error: {code?: number; stderr?: string; stdout?: string}) => ({code: error.code ?? -1, stderr: error.stderr ?? '', stdout: error.stdout ?? ''}),
      )
    }

    it('kubectl get pods works through tokenctl (the API server verifies the token), and a second kubectl run makes no token request', async () => {
      const cli = await homeWithClient()
      const config = kubeconfig(['token', 'client', 'ci', '--format', 'exec-credential'])
      const first = await kubectlRun(cli.home, config, ['get', 'pods'])
      assert.equal(first.code, 0, `kubectl ${kubectl.version}: ${first.stderr}`)
      assert.match(first.stdout, new RegExp(`^${POD_NAME}\\s+Running$`, 'm'))
      assert.equal(tokenRequests().length, 1)
      const podRequests = cluster.requests.filter((request) => request.path === '/api/v1/namespaces/default/pods')
      assert.equal(podRequests.length, 1)
      assert.equal(podRequests[0].status, 200)
      assert.equal(podRequests[0].claims?.client_id, 'basic', 'the API server verified the token tokenctl fetched')

      const second = await kubectlRun(cli.home, config, ['get', '--raw', '/api/v1/namespaces'])
      assert.equal(second.code, 0, second.stderr)
      assert.equal(JSON.parse(second.stdout).items[0].metadata.name, 'default')
      assert.equal(tokenRequests().length, 1, 'the second kubectl run made a token request')
      const tokens = new Set(cluster.requests.map((request) => request.token))
      assert.deepEqual([...tokens], [podRequests[0].token], 'every request carried the one cached token')
    })

    it("a refused client: kubectl gets no credential and says why (tokenctl's line on its stderr); the cluster never sees a token", async () => {
      const cli = await homeWithClient('wrong-secret')
      const result = await kubectlRun(cli.home, kubeconfig(['token', 'client', 'ci', '--format', 'exec-credential']), ['get', 'pods'])
      assert.notEqual(result.code, 0)
      assert.match(result.stderr, /invalid_client/)
      assert.deepEqual(
        cluster.requests.filter((request) => request.token !== undefined),
        [],
      )
    })
  })
})
