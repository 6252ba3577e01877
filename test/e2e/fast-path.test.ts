/**
 * The fast path of bin/run.js (src/fast-path/) serves `token client`, `session refresh`, `call` and
 * `exec` without loading oclif. These tests prove that it changes nothing a user can see: every
 * command line below runs twice from the same state — once as users run it, once with
 * TOKENCTL_NO_FAST_PATH=1 (oclif for everything) — and stdout, stderr, exit code and any --output
 * file must be the same.
 * A module trace of each run says which path served it, so that a comparison of oclif with oclif
 * cannot pass for a proof. And the hit path must not load what a hit does not need (a behaviour,
 * checked by the trace; the time it takes is for `npm run bench`).
 */
import {strict as assert} from 'node:assert'
import {randomBytes} from 'node:crypto'
import {chmodSync, cpSync, existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {type ApiServer, useAuthServerWithApi} from '../helpers/api-server.js'
import {expectExit} from '../helpers/assertions.js'
import type {AuthServer} from '../helpers/auth-server.js'
import {type CliOptions, type CliResult, cliWithHome, runNode, tempHome} from '../helpers/cli.js'
import {type KeyringSession, startKeyring} from '../helpers/keyring.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = join(ROOT, 'bin', 'run.js')
const MODULE_TRACE = join(ROOT, 'bench', 'module-trace.mjs')
const MODULE_TRACE_CJS = join(ROOT, 'bench', 'module-trace.cjs')
const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'fast path tests'}
const OCLIF_ONLY = {TOKENCTL_NO_FAST_PATH: '1'}
const STORE_KEY = randomBytes(32).toString('base64')
const EXEC_INFO_V1 = '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}'

/** What a cache hit never needs: the framework, the OAuth and HTTP clients, JWT, config and Redis libraries, colours. */
const NOT_ON_A_HIT = ['@oclif/core', 'openid-client', 'oauth4webapi', 'undici', 'jose', 'ioredis', 'chalk']

interface TracedResult extends CliResult {
  /** Every module the run loaded (URLs). */
  modules: string[]
  /** The packages among them. */
  packages: Set<string>
}

/** `tokenctl ARGS` with a loader hook and a preload that list every module loaded (bench/module-trace.*). */
async function runTraced(args: string[], options: CliOptions): Promise<TracedResult> {
  const trace = join(tempHome(), 'modules.txt')
  const result = await runNode(['--no-warnings', '--require', MODULE_TRACE_CJS, '--loader', MODULE_TRACE, BIN, ...args], {...options, env: {...options.env, TOKENCTL_MODULE_TRACE: trace}})
  const modules = existsSync(trace)
    ? readFileSync(trace, 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(' ')[1])
    : []
  const packages = new Set(modules.flatMap((url) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []))
  return {...result, modules, packages}
}

const servedFast = (result: TracedResult) => !result.packages.has('@oclif/core')

/** What differs between two runs a second apart: seconds left, a response's Date. */
function withoutClock(text: string): string {
  return text
    .replaceAll(/"expires_in": \d+/g, '"expires_in": <seconds>')
    .replaceAll(/^date: .*$/gim, 'date: <date>')
    .replaceAll(/"date": "[^"]*"/g, '"date": <date>')
}

/** What differs between two fetches of a token too: the token and its times. */
function withoutFreshness(text: string): string {
  return withoutClock(text)
    .replaceAll(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, '<jwt>')
    .replaceAll(/"(expires_at|iat|exp|nbf|jti)": ("[^"]*"|\d+)/g, '"$1": <time>')
}

/** Where two outputs part: the first line that differs, both ways. */
function firstDifference(fast: string, oclif: string): string {
  const [a, b] = [fast.split('\n'), oclif.split('\n')]
  const at = a.findIndex((line, index) => line !== b[index])
  const line = at === -1 ? a.length : at
  return `line ${line + 1}: ${JSON.stringify(a[line] ?? '(end)')} against oclif's ${JSON.stringify(b[line] ?? '(end)')}`
}

interface Case {
  args: string[]
  /** Whether the fast path serves it (else it must go to oclif). */
  fast: boolean
  env?: Record<string, string | undefined>
  input?: string
  /** The run fetches a token: tokens and times differ between the two runs. */
  fresh?: boolean
  /** Before each of the two runs (a fault for the token endpoint). */
  before?: () => void
  /** Changes each run's copy of the home before the run. */
  prepare?: (home: string) => void
  /** An --output file to compare, relative to the home. */
  output?: string
  name: string
}

describe('the fast path of bin/run.js answers as oclif does', function () {
  this.timeout(180_000)
  let server: AuthServer
  let api: ApiServer
  /** A home with client "ci" (its token cached), client "api" and sessions "nightly" and "spare": the state every case starts from. */
  let prepared: string
  useAuthServerWithApi((started, startedApi) => {
    server = started
    api = startedApi
  })

  before(async () => {
    const cli = cliWithHome({env: FILE_STORE})
    prepared = cli.home
    expectExit(await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: server.clients.basic.clientSecret}), 0)
    expectExit(await cli.run(['token', 'client', 'ci']), 0)
    expectExit(await cli.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret}), 0)
    for (const key of ['nightly', 'spare']) {
      const userToken = await server.mintUserToken({aud: 'api', sub: 'alice'})
      expectExit(await cli.run(['session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--key', key], {input: userToken}), 0)
    }
  })

  /** A copy of the prepared home, so that both runs of a case start from the same state. */
  function copyOfPrepared(): string {
    const home = tempHome()
    cpSync(prepared, home, {recursive: true})
    return home
  }

  async function runBothWays(c: Case): Promise<[TracedResult, TracedResult, string, string]> {
    const homes = [copyOfPrepared(), copyOfPrepared()]
    const results: TracedResult[] = []
    for (const [index, extra] of [{}, OCLIF_ONLY].entries()) {
      c.prepare?.(homes[index])
      c.before?.()
      // A refresh token is redeemed once: each run of a case that redeems one has a session of its own.
      const args = c.args.map((arg) => arg.replaceAll('HOME', homes[index]).replace(/^SESSION$/, index === 0 ? 'nightly' : 'spare'))
      results.push(await runTraced(args, {env: {...FILE_STORE, ...c.env, ...extra}, home: homes[index], input: c.input}))
    }

    return [results[0], results[1], homes[0], homes[1]]
  }

  const cases = (): Case[] => [
    {args: ['token', 'client', 'ci'], fast: true, name: 'a hit'},
    {args: ['token', 'client', 'ci', '--json'], fast: true, name: 'a hit, --json'},
    {args: ['token', 'client', 'ci', '--format', 'header'], fast: true, name: 'a hit, --format header'},
    {args: ['token', 'client', 'ci', '--format=env'], fast: true, name: 'a hit, --format=env'},
    {args: ['token:client', 'ci', '--format', 'token', '--min-ttl', '120'], fast: true, name: 'a hit, token:client, --format token --min-ttl 120'},
    {args: ['token', 'client', 'ci', '-o', 'HOME/out.txt'], fast: true, name: 'a hit, -o PATH', output: 'out.txt'},
    {args: ['token', 'client', 'ci', '--json', '--output', 'HOME/out.json'], fast: true, name: 'a hit, --json --output PATH', output: 'out.json'},
    {args: ['token', 'client', 'ci', '-o', '-'], fast: true, name: 'a hit, -o - (stdout)'},
    {
      args: ['token', 'client', '--issuer', 'ISSUER', '--client-id', 'basic', '--client-secret-env', 'WORKER_SECRET'],
      env: {WORKER_SECRET: server.clients.basic.clientSecret},
      fast: true,
      name: 'a hit with flags, no name',
    },
    {args: ['token', 'client', 'ci', '--force'], fast: true, fresh: true, name: 'a miss (--force)'},
    {args: ['token', 'client', 'ci', '--force', '--json'], fast: true, fresh: true, name: 'a miss, --json'},
    {args: ['token', 'client', 'ci', '--no-cache', '--format', 'header'], fast: true, fresh: true, name: 'one request, --no-cache'},
    {args: ['token', 'client', 'ci', '--scope', 'read', '--force', '-o', 'HOME/t'], fast: true, fresh: true, name: 'a miss with --scope and -o', output: 't'},
    {args: ['token', 'client', 'ci', '--audience', 'urn:a', '--audience', 'urn:b', '--force', '--json'], fast: true, fresh: true, name: 'a miss with --audience twice (it repeats)'},
    {
      args: ['token', 'client', 'ci', '--force'],
      before: () => server.injectTokenFaults({body: {error: 'invalid_client', error_description: 'client \u001B[31mdisabled\u001B[0m by policy'}, status: 401}),
      fast: true,
      name: 'a server error with control characters in its description',
    },
    {
      args: ['token', 'client', 'ci', '--force', '--json', '-o', 'HOME/never'],
      before: () => server.injectTokenFaults({body: {error: 'unauthorized_client'}, status: 400}),
      fast: true,
      name: 'a server error, --json -o PATH (left untouched)',
      output: 'never',
    },
    {
      args: ['token', 'client', '--token-endpoint', 'TOKEN_ENDPOINT', '--client-id', 'basic', '--client-secret-stdin', '--no-cache', '--json'],
      fast: true,
      fresh: true,
      input: server.clients.basic.clientSecret,
      name: 'one request, the secret from stdin',
    },
    {args: ['token', 'client'], fast: true, name: 'neither a name nor flags'},
    {args: ['token', 'client', 'nosuch'], fast: true, name: 'an unknown client'},
    {args: ['token', 'client', 'nosuch', '--json'], fast: true, name: 'an unknown client, --json'},
    {args: ['token', 'client', 'ci'], env: {TOKENCTL_STORE_PASSPHRASE: undefined}, fast: true, name: 'no store passphrase'},
    {args: ['token', 'client', 'ci', '--json'], env: {TOKENCTL_STORE_PASSPHRASE: 'wrong'}, fast: true, name: 'a wrong store passphrase, --json'},
    {args: ['token', 'client', 'ci'], env: {TOKENCTL_STORE_KEY: STORE_KEY}, fast: true, name: 'a store key and a passphrase both set'},
    {args: ['token', 'client', 'ci', '--json'], env: {TOKENCTL_STORE_KEY: STORE_KEY, TOKENCTL_STORE_PASSPHRASE: undefined}, fast: true, name: 'a store sealed with a passphrase, a key set'},
    {args: ['session', 'refresh', '--key', 'nightly'], env: {TOKENCTL_STORE_KEY: 'c2hvcnQ=', TOKENCTL_STORE_PASSPHRASE: undefined}, fast: true, name: 'a store key that is not one'},
    {args: ['token', 'client', 'ci', '-o', 'HOME/no/such/folder/t'], fast: true, name: '-o into a folder that does not exist'},
    {args: ['token', 'client', 'ci'], fast: true, name: 'a TOKENCTL_HOME others can write', prepare: (home) => chmodSync(home, 0o777)},
    {args: ['session', 'refresh', '--key', 'nightly'], fast: true, name: 'a store file others can read', prepare: (home) => chmodSync(join(home, 'store.enc'), 0o644)},
    {args: ['token', 'client', 'ci', '--format', 'nope'], fast: false, name: 'a --format outside its options'},
    {args: ['token', 'client', 'ci', '--min-ttl', '-1'], fast: false, name: 'a negative --min-ttl'},
    {args: ['token', 'client', 'ci', '--min-ttl', 'soon'], fast: false, name: 'a --min-ttl that is not a number'},
    {args: ['token', 'client', 'ci', '--timeout', '0'], fast: false, name: '--timeout below its minimum'},
    {args: ['token', 'client', 'ci', '--timeout', '2147484', '--force'], fast: false, name: '--timeout above its maximum'},
    {args: ['token', 'client', 'ci', '--ca-file=', '--force'], fast: false, name: 'an empty value after ='},
    {args: ['token', 'client', 'ci', '--client-secret-file', '', '--force'], fast: false, name: 'an empty value as its own word'},
    {args: ['token', 'client', ''], fast: false, name: 'an empty NAME'},
    {args: ['call', 'API/echo', '--client', 'ci', '-d', ''], fast: false, name: "call -d '' (an empty body: oclif reads it)"},
    {args: ['token', 'client', '--client-secret-env', 'not a name', '--client-id', 'x'], fast: false, name: 'a secret where a variable name goes'},
    {args: ['token', 'client', 'ci', '--client-secret', 'abc'], fast: false, name: 'a secret flag that does not exist'},
    {args: ['token', 'client', 'ci', '--bogus'], fast: false, name: 'an unknown flag'},
    {args: ['token', 'client', 'ci', '--scope'], fast: false, name: 'a flag without its value'},
    {args: ['token', 'client', 'ci', '--no-cache', '--force'], fast: false, name: 'exclusive flags'},
    {args: ['token', 'client', '--certificate-password-env', 'P', '--client-id', 'x'], fast: false, name: 'a flag without the flag it depends on'},
    {args: ['token', 'client', 'ci', 'extra'], fast: false, name: 'an unexpected argument'},
    {args: ['token', 'client', '--scope', 'read', 'ci'], fast: false, name: 'a word after a repeatable flag (oclif takes it as a value)'},
    {args: ['token', 'client', 'ci', '--format', 'header', '--format', 'env'], fast: false, name: 'a flag given twice'},
    {args: ['token', 'client', 'ci', '--verbose'], fast: false, name: '--verbose'},
    {args: ['token', 'client', 'ci', '--help'], fast: false, name: '--help'},
    {args: ['token', 'client', 'ci', '-h'], fast: false, name: '-h'},
    {args: ['token', 'client', 'ci', '--scop', 'read'], fast: false, name: 'a misspelt flag (the closest one named)'},
    {args: ['token', 'client', 'ci', '--json'], env: {TOKENCTL_CONTENT_TYPE: 'json'}, fast: false, name: 'TOKENCTL_CONTENT_TYPE'},
    {args: ['session', 'refresh', '--key', 'nightly'], fast: true, name: 'session refresh, a hit'},
    {args: ['session', 'refresh', '--key', 'nightly', '--json', '--format', 'header'], fast: true, name: 'session refresh, a hit, --json'},
    {args: ['session', 'refresh', '--key', 'SESSION', '--force', '--json'], fast: true, fresh: true, name: 'session refresh --force (a refresh grant)'},
    {args: ['session', 'refresh', '--key', 'nosuch'], fast: true, name: 'session refresh, an unknown session'},
    {args: ['session', 'refresh', '--session-key', 'nightly'], fast: true, name: 'session refresh --session-key, a hit'},
    {args: ['session', 'refresh', '--session-key=nightly', '--json'], fast: true, name: 'session refresh --session-key=KEY --json'},
    {args: ['session', 'refresh', '--key', 'nightly', '--session-key', 'nightly'], fast: false, name: 'one flag under two spellings'},
    {args: ['session', 'refresh'], fast: false, name: 'session refresh without --key'},
    {args: ['session', 'refresh', '--key'], fast: false, name: 'session refresh, --key without its value'},
    {args: ['call'], fast: false, name: 'call without a URL'},
    {args: ['call', 'API/echo?x=1', '--client', 'ci'], fast: true, name: 'call, a cached token'},
    {args: ['call', 'API/echo', '--client', 'ci', '--json'], fast: true, name: 'call --json'},
    {args: ['call', 'API/echo', '--session', 'nightly', '-i', '-H', 'X-Test: 1', '-d', '{"a":1}'], fast: true, name: 'call -i -H -d with a session'},
    {args: ['call', 'API/echo', '--client', 'ci', '-o', 'HOME/body'], fast: true, name: 'call -o PATH', output: 'body'},
    {args: ['call', 'API/status/503', '--client', 'ci', '--retries', '0'], fast: true, name: 'call, an API error status'},
    {args: ['call', 'API/echo', '--client', 'nosuch'], fast: true, name: 'call, an unknown client'},
    {args: ['call', 'API/echo', '--session-key', 'nightly'], fast: true, name: 'call --session-key'},
    {args: ['call', 'API/echo'], fast: true, name: 'call without a token source'},
    {args: ['call', 'not a url', '--client', 'ci'], fast: true, name: 'call, not a URL'},
    {args: ['call', 'API/echo', '--client', 'ci', '--retries', '-1'], fast: false, name: 'call, --retries below its minimum'},
    {args: ['token', 'client', 'ci', '--format', 'exec-credential'], fast: true, name: 'a hit, --format exec-credential'},
    {args: ['token', 'client', 'ci', '--format', 'exec-credential'], env: {KUBERNETES_EXEC_INFO: EXEC_INFO_V1}, fast: true, name: 'a hit for kubectl, v1'},
    {
      args: ['token', 'client', 'ci', '--format', 'exec-credential'],
      env: {KUBERNETES_EXEC_INFO: '{"apiVersion":"client.authentication.k8s.io/v1alpha1"}'},
      fast: true,
      name: 'kubectl asks for v1alpha1',
    },
    {args: ['session', 'refresh', '--key', 'nightly', '--format', 'exec-credential'], env: {KUBERNETES_EXEC_INFO: EXEC_INFO_V1}, fast: true, name: 'session refresh, a hit for kubectl'},
    {args: ['exec', 'ci', '--', 'sh', '-c', 'echo ${#ACCESS_TOKEN} "$@"; exit 3', 'sh', '--help', '-x'], fast: true, name: "exec, a hit (--help after -- is the command's)"},
    {args: ['exec', '--client', 'ci', '--env', 'T', '--', 'sh', '-c', 'test -n "$T" && cat'], fast: true, input: 'from stdin', name: 'exec --client --env, stdin'},
    {args: ['exec', '--session', 'SESSION', '--', 'sh', '-c', 'test -n "$ACCESS_TOKEN"'], fast: true, name: 'exec --session, a hit'},
    {args: ['exec', '--session-key', 'SESSION', '--', 'sh', '-c', 'test -n "$ACCESS_TOKEN"'], fast: true, name: 'exec --session-key, a hit'},
    {args: ['exec', 'ci', '--', 'tokenctl-no-such-command'], fast: true, name: 'exec, no such command (127)'},
    {args: ['exec', 'ci'], fast: true, name: 'exec without a command'},
    {args: ['exec', 'nosuch', '--', 'true'], fast: true, name: 'exec, an unknown client'},
    {args: ['exec', 'ci', 'true'], fast: false, name: 'exec, a command without --'},
    {args: ['exec', 'ci', '--env', 'NOT A NAME', '--', 'true'], fast: false, name: 'exec --env that is not a name'},
    {args: ['exec', 'ci', '--json', '--', 'true'], fast: false, name: 'exec --json (it has none)'},
  ]

  it('every command line: the same stdout, stderr, exit code and --output file both ways, served by the path expected', async () => {
    const differences: string[] = []
    for (const c of cases()) {
      c.args = c.args.map((arg) =>
        arg
          .replace(/^ISSUER$/, server.issuer)
          .replace(/^TOKEN_ENDPOINT$/, server.tokenEndpoint)
          .replace(/^API/, api.url),
      )
      const [fast, oclif, fastHome, oclifHome] = await runBothWays(c)
      const normal = (text: string) =>
        (c.fresh ? withoutFreshness(text) : withoutClock(text)).replaceAll(fastHome, 'HOME').replaceAll(oclifHome, 'HOME').replaceAll('spare', 'SESSION').replaceAll('nightly', 'SESSION')
      const label = `${c.name} (tokenctl ${c.args.join(' ')})`
      if (servedFast(fast) !== c.fast) differences.push(`${label}: served by ${servedFast(fast) ? 'the fast path' : 'oclif'}`)
      if (servedFast(oclif)) differences.push(`${label}: TOKENCTL_NO_FAST_PATH=1 did not reach oclif`)
      if (fast.code !== oclif.code) differences.push(`${label}: exit ${fast.code} against oclif's ${oclif.code}`)
      if (normal(fast.stdout) !== normal(oclif.stdout)) differences.push(`${label}: stdout ${firstDifference(normal(fast.stdout), normal(oclif.stdout))}`)
      if (normal(fast.stderr) !== normal(oclif.stderr)) differences.push(`${label}: stderr ${firstDifference(normal(fast.stderr), normal(oclif.stderr))}`)
      if (c.output) {
        const read = (home: string) => (existsSync(join(home, c.output!)) ? normal(readFileSync(join(home, c.output!), 'utf8')) : '(no file)')
        if (read(fastHome) !== read(oclifHome)) differences.push(`${label}: --output file ${firstDifference(read(fastHome), read(oclifHome))}`)
      }
    }

    assert.deepEqual(differences, [])
  })

  it('the build describes every fast-path command: none was left to oclif for a flag the table cannot describe', async () => {
    const {FAST_COMMANDS} = await import('../../src/fast-path/commands.js')
    const table = JSON.parse(readFileSync(join(ROOT, 'dist', 'fast-path', 'table.json'), 'utf8')) as Record<string, unknown>
    assert.deepEqual(Object.keys(table).sort(), Object.keys(FAST_COMMANDS).sort())
  })

  it('a cache hit loads none of oclif, openid-client, undici, jose, conf, ioredis or chalk; one request loads no oclif', async () => {
    const home = copyOfPrepared()
    const runs: Array<[string[], string[]]> = [
      [['token', 'client', 'ci'], NOT_ON_A_HIT],
      [['token', 'client', 'ci', '--json', '-o', join(home, 'out.json')], NOT_ON_A_HIT],
      [['session', 'refresh', '--key', 'nightly'], NOT_ON_A_HIT],
      [['call', `${api.url}/echo`, '--client', 'ci'], NOT_ON_A_HIT],
      [['exec', 'ci', '--', 'true'], NOT_ON_A_HIT],
      [
        ['token', 'client', 'ci', '--no-cache'],
        ['@oclif/core', 'ioredis', 'chalk'],
      ],
    ]
    for (const [args, absent] of runs) {
      const result = await runTraced(args, {env: FILE_STORE, home})
      expectExit(result, 0)
      assert.ok(
        result.modules.some((url) => url.endsWith('/dist/fast-path/bundle.cjs')),
        'the trace lists the modules loaded',
      )
      assert.deepEqual(
        absent.filter((name) => result.packages.has(name)),
        [],
        `tokenctl ${args.join(' ')} loaded them`,
      )
    }

    // The same trace shows oclif where it does run, so the absences above are not a blind trace.
    const oclif = await runTraced(['token', 'client', 'ci'], {env: {...FILE_STORE, ...OCLIF_ONLY}, home})
    assert.ok(oclif.packages.has('@oclif/core'))
  })

  it('a file store sealed with a key: a hit and one request answer as oclif does; the hit loads none of what it does not need', async () => {
    const env = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_KEY: STORE_KEY, TOKENCTL_STORE_PASSPHRASE: undefined}
    const cli = cliWithHome({env})
    expectExit(await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: server.clients.basic.clientSecret}), 0)
    expectExit(await cli.run(['token', 'client', 'ci']), 0)
    for (const args of [
      ['token', 'client', 'ci'],
      ['token', 'client', 'ci', '--json', '--format', 'env'],
      ['token', 'client', 'ci', '--no-cache', '--format', 'header'],
    ]) {
      const fast = await runTraced(args, {env, home: cli.home})
      const oclif = await runTraced(args, {env: {...env, ...OCLIF_ONLY}, home: cli.home})
      expectExit(fast, 0)
      const normal = args.includes('--no-cache') ? withoutFreshness : withoutClock
      assert.deepEqual([fast.code, normal(fast.stdout), normal(fast.stderr)], [oclif.code, normal(oclif.stdout), normal(oclif.stderr)])
      assert.ok(servedFast(fast) && !servedFast(oclif))
      if (!args.includes('--no-cache'))
        assert.deepEqual(
          NOT_ON_A_HIT.filter((name) => fast.packages.has(name)),
          [],
        )
    }
  })

  describe('with the OS keychain (a private Secret Service)', () => {
    let keyring: KeyringSession
    before(async function () {
      const started = await startKeyring()
      if ('skip' in started) throw new Error(`the keychain tests need a Secret Service: ${started.skip}`)
      keyring = started
    })
    after(async () => keyring?.stop())

    it('a hit: the same output both ways, and none of the libraries a hit does not need', async () => {
      const env = {...keyring.env, TOKENCTL_KEYCHAIN_SERVICE: `tokenctl-fast-path-${process.pid}`}
      const cli = cliWithHome({env})
      expectExit(await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: server.clients.basic.clientSecret}), 0)
      expectExit(await cli.run(['token', 'client', 'ci']), 0)
      for (const args of [
        ['token', 'client', 'ci'],
        ['token', 'client', 'ci', '--json', '--format', 'env'],
      ]) {
        const fast = await runTraced(args, {env, home: cli.home})
        const oclif = await runTraced(args, {env: {...env, ...OCLIF_ONLY}, home: cli.home})
        expectExit(fast, 0)
        // Two processes, maybe a second apart: their seconds left may differ (withoutClock, as above).
        assert.deepEqual([fast.code, withoutClock(fast.stdout), withoutClock(fast.stderr)], [oclif.code, withoutClock(oclif.stdout), withoutClock(oclif.stderr)])
        assert.deepEqual(
          NOT_ON_A_HIT.filter((name) => fast.packages.has(name)),
          [],
        )
        // The trace sees what is required (CommonJS) as well as what is imported.
        assert.ok(fast.packages.has('@napi-rs/keyring') && oclif.packages.has('@oclif/core'))
      }
    })
  })
})
