/**
 * npm run bench, the peers table: tokenctl's cache hit and one-request runs side by side with what a
 * CI job could run instead, measured in one run by hyperfine (warm-ups, medians): `node -e 0` (the
 * floor of any Node program), `tokenctl --version` (oclif's floor), MSAL for Python's cache hit
 * (Debian's python3-msal: a ConfidentialClientApplication with a persisted SerializableTokenCache and
 * http_cache, acquire_token_silent(account=None) then acquire_token_for_client, as its own CLI recipe
 * does), `curl | jq` making one token request, and tokenctl: the hits of `token client NAME`, of
 * `token client` with flags, of `session refresh --key` and `call`'s token lookup, on the file store
 * sealed with a store key (TOKENCTL_STORE_KEY, what CI and fleets are told to use) and with a
 * passphrase (scrypt), on the keychain, and on a Redis server with a store key (a fleet's), the same hit through oclif (TOKENCTL_NO_FAST_PATH=1), and
 * one token request with `--no-cache`. Ratios to `node -e 0` and to MSAL's hit, in wall time (hyperfine)
 * and in CPU time (user + system, medians of runs in turn: what a loaded machine disturbs least);
 * peak RSS, the median of those runs'.
 *
 * Everything talks to one authorization server over TLS (a throwaway CA): MSAL accepts only an https
 * authority. The runs that make a request trust the CA through NODE_EXTRA_CA_CERTS (Node then loads its
 * root certificates at start-up, ~20 ms, as it would at the first TLS connection to a public server),
 * MSAL through `verify=`, curl through `--cacert`; a hit makes no connection, so it runs without.
 * Every hit is checked to reach neither the token endpoint nor discovery.
 */
import {spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {type ApiServer, startApiServer} from '../test/helpers/api-server.js'
import {type AuthServer, startAuthServer} from '../test/helpers/auth-server.js'
import {findExecutable, type KeyringSession, startKeyring} from '../test/helpers/keyring.js'
import {type RedisServer, startRedis} from '../test/helpers/redis.js'
import {createTestPki, isPkiSkip, type TestPki} from '../test/helpers/tls.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const BIN = join(ROOT, 'bin', 'run.js')
const SYSTEM_PYTHON = '/usr/bin/python3'
const PASSPHRASE = 'bench-passphrase'
/** What MSAL sees as its tenant: it discovers at {authority}/v2.0/.well-known/openid-configuration (msal/authority.py). */
const TENANT_PATH = '/tenant/v2.0'
const SCOPE = 'read'

interface Row {
  argv: string[]
  env: NodeJS.ProcessEnv
  name: string
  /** Must make no token request (a hit): checked once before timing. */
  hit?: boolean
}

/** MSAL for Python's recipe for a command-line app (msal/application.py, http_cache), with a persisted token cache. */
const MSAL_SCRIPT = `
import atexit, os, pickle, sys
import msal

token_cache_file, http_cache_file = os.environ["MSAL_TOKEN_CACHE"], os.environ["MSAL_HTTP_CACHE"]
cache = msal.SerializableTokenCache()
if os.path.exists(token_cache_file):
    with open(token_cache_file) as f:
        cache.deserialize(f.read())
try:
    with open(http_cache_file, "rb") as f:
        http_cache = pickle.load(f)
except (FileNotFoundError, pickle.UnpicklingError):
    http_cache = {}
atexit.register(lambda: pickle.dump(http_cache, open(http_cache_file, "wb")))

app = msal.ConfidentialClientApplication(
    os.environ["MSAL_CLIENT_ID"], client_credential=os.environ["MSAL_CLIENT_SECRET"],
    authority=os.environ["MSAL_AUTHORITY"], validate_authority=False,
    token_cache=cache, http_cache=http_cache, verify=os.environ["MSAL_CA_FILE"])
scopes = [os.environ["MSAL_SCOPE"]]
result = app.acquire_token_silent(scopes, account=None) or app.acquire_token_for_client(scopes=scopes)
if "access_token" not in result:
    sys.exit("msal: %s" % result.get("error_description", result))
if cache.has_state_changed:
    with open(token_cache_file, "w") as f:
        f.write(cache.serialize())
print(result["access_token"])
`

function run(argv: string[], env: NodeJS.ProcessEnv, input?: string): Promise<{code: null | number; stderr: string; stdout: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {env, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stderr, stdout}))
    child.stdin.end(input)
  })
}

async function mustRun(argv: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  const result = await run(argv, env, input)
  if (result.code !== 0) throw new Error(`${argv.slice(0, 6).join(' ')} failed (${result.code}): ${result.stderr}`)
  return result.stdout
}

/** A small environment of the bench's own, alike for every row (no proxy, no NODE_OPTIONS, no session bus unless given). */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {HOME: process.env.HOME, LANG: 'C.UTF-8', NO_COLOR: '1', PATH: process.env.PATH, ...extra}
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name]
  return env
}

/** The issuer's keys, fetched over its TLS with the bench's CA (the API server of the `call` rows verifies tokens with them). */
function fetchJwks(url: string, ca: string): Promise<{keys: never[]}> {
  return new Promise((resolve, reject) => {
    request(url, {ca}, (response) => {
      let body = ''
      response.on('data', (chunk) => (body += chunk))
      response.on('end', () => resolve(JSON.parse(body)))
    })
      .on('error', reject)
      .end()
  })
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/** A row's times in ms: the median and quartiles of its runs. */
interface Timing {
  median: number
  q1: number
  q3: number
}

function timing(values: number[]): Timing {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (fraction: number) => sorted[Math.floor((sorted.length - 1) * fraction)]
  return {median: median(values), q1: at(0.25), q3: at(0.75)}
}

/** Times in ms, by hyperfine (warm-ups, then `runs` runs of each, one command after the other). */
async function timeWithHyperfine(rows: Row[], runs: number, directory: string): Promise<Map<string, Timing>> {
  const exported = join(directory, 'hyperfine.json')
  const args = ['-N', '--warmup', '3', '--runs', String(runs), '--export-json', exported, '--style', 'none']
  for (const row of rows) {
    // `env` carries each row's own environment; every row pays the same exec of env.
    const words = ['/usr/bin/env', '-i', ...Object.entries(row.env).map(([name, value]) => `${name}=${value}`), ...row.argv]
    if (words.some((word) => /["'\s\\]/.test(word))) throw new Error(`bench: a word with a space or quote in ${row.name}`)
    args.push('--command-name', row.name, words.join(' '))
  }

  await mustRun([findExecutable('hyperfine')!, ...args], process.env)
  const {results} = JSON.parse(readFileSync(exported, 'utf8')) as {results: Array<{command: string; times: number[]}>}
  return new Map(results.map((result) => [result.command, timing(result.times.map((seconds) => seconds * 1000))]))
}

/** Without hyperfine: the same medians from runs in turn (each row once per round, so load hits them alike). */
async function timeRoundRobin(rows: Row[], runs: number): Promise<Map<string, Timing>> {
  const times = new Map<string, number[]>(rows.map((row) => [row.name, []]))
  for (const row of rows) for (let i = 0; i < 3; i++) await run(row.argv, row.env)
  for (let i = 0; i < runs; i++) {
    for (const row of rows) {
      const started = process.hrtime.bigint()
      await run(row.argv, row.env)
      times.get(row.name)!.push(Number(process.hrtime.bigint() - started) / 1e6)
    }
  }

  return new Map([...times].map(([name, values]) => [name, timing(values)]))
}

/**
 * Each row's CPU time (user + system) and peak RSS, run by run, from the kernel's accounting of each
 * waited-for child (wait4): the rows in turn, `runs` rounds, so a busy machine weighs on them alike.
 * hyperfine reports only the mean CPU time, which one run slowed by a neighbour drags up.
 */
const RUSAGE_SCRIPT = `
import json, os, sys
rows, runs = json.load(sys.stdin), int(sys.argv[1])
cpu, rss = [[] for _ in rows], [[] for _ in rows]
null = os.open(os.devnull, os.O_RDWR)
for _ in range(runs):
    for index, row in enumerate(rows):
        pid = os.fork()
        if pid == 0:
            os.dup2(null, 0); os.dup2(null, 1); os.dup2(null, 2)
            os.execve(row["argv"][0], row["argv"], row["env"])
        _, status, usage = os.wait4(pid, 0)
        if status != 0:
            sys.exit("%s failed (%d)" % (" ".join(row["argv"][:6]), status))
        cpu[index].append((usage.ru_utime + usage.ru_stime) * 1000)
        rss[index].append(usage.ru_maxrss / 1024)
print(json.dumps({"cpu": cpu, "rss": rss}))
`

interface Usage {
  /** CPU ms: the median and quartiles of the runs. */
  cpu: Timing
  /** Peak RSS in MiB: the median of the runs' peaks. */
  rss: number
}

async function usageOf(rows: Row[], runs: number): Promise<Map<string, Usage>> {
  const input = JSON.stringify(rows.map(({argv, env}) => ({argv, env})))
  const {cpu, rss} = JSON.parse(await mustRun([SYSTEM_PYTHON, '-c', RUSAGE_SCRIPT, String(runs)], process.env, input)) as {cpu: number[][]; rss: number[][]}
  return new Map(rows.map((row, index) => [row.name, {cpu: timing(cpu[index]), rss: median(rss[index])}]))
}

/** A home with client "ci" and session "nightly", tokens cached: the state of a CI runner's second job. */
async function prepareHome(env: NodeJS.ProcessEnv, server: AuthServer): Promise<void> {
  const add = (name: string, clientId: string) =>
    mustRun(
      [process.execPath, BIN, 'client', 'add', name, '--issuer', server.issuer, '--client-id', clientId, '--scope', SCOPE, '--client-secret-stdin'],
      env,
      server.clients[clientId as 'basic'].clientSecret,
    )
  await add('ci', 'basic')
  await mustRun([process.execPath, BIN, 'token', 'client', 'ci'], env)
  await add('api', 'api')
  const userToken = await server.mintUserToken({aud: 'api', sub: 'alice'})
  await mustRun([process.execPath, BIN, 'session', 'start', 'api', '--assertion-stdin', '--scope', SCOPE, '--key', 'nightly'], env, userToken)
}

function tokenctlRows(store: string, env: NodeJS.ProcessEnv, server: AuthServer, api: ApiServer, tls: NodeJS.ProcessEnv): Row[] {
  const tokenctl = (...args: string[]) => [process.execPath, BIN, ...args]
  const flags = ['--issuer', server.issuer, '--client-id', 'basic', '--client-secret-env', 'CLIENT_SECRET', '--scope', SCOPE]
  const withSecret = {...env, CLIENT_SECRET: server.clients.basic.clientSecret}
  return [
    {argv: tokenctl('token', 'client', 'ci'), env, hit: true, name: `tokenctl token client ci, hit, ${store}`},
    {argv: tokenctl('token', 'client', ...flags), env: withSecret, hit: true, name: `tokenctl token client --issuer … --client-id …, hit, ${store}`},
    {argv: tokenctl('session', 'refresh', '--key', 'nightly'), env, hit: true, name: `tokenctl session refresh --key nightly, hit, ${store}`},
    {argv: tokenctl('call', `${api.url}/echo`, '--client', 'ci'), env, hit: true, name: `tokenctl call URL --client ci (cached token, one API call), ${store}`},
    {argv: tokenctl('token', 'client', 'ci', '--format', 'exec-credential'), env, hit: true, name: `tokenctl token client ci --format exec-credential (kubectl), hit, ${store}`},
    {argv: tokenctl('exec', 'ci', '--', 'true'), env, hit: true, name: `tokenctl exec ci -- true, hit, ${store}`},
    {argv: tokenctl('token', 'client', 'ci', '--no-cache'), env: {...env, ...tls}, name: `tokenctl token client ci --no-cache (one request; secret in the store), ${store}`},
  ]
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length)
}

/** The peers table (see the top of this file); prints why it is skipped where something is missing. */
export async function peersTable(options: {keyring?: KeyringSession; runs: number}): Promise<void> {
  console.log('\npeers: a cache hit and one token request, side by side (hyperfine, medians)')
  const pki = await createTestPki({caName: 'tokenctl bench CA'})
  if (isPkiSkip(pki)) {
    console.log(`  skipped: ${pki.skipReason}`)
    return
  }

  const directory = mkdtempSync(join(tmpdir(), 'tokenctl-bench-peers-'))
  let server: AuthServer | undefined
  let api: ApiServer | undefined
  let redis: RedisServer | undefined
  try {
    const startedRedis = await startRedis()
    if ('skip' in startedRedis) console.log(`  Redis rows skipped: ${startedRedis.skip}`)
    else redis = startedRedis
    server = await startAuthServer({issuerPath: TENANT_PATH, tls: {cert: pki.serverCert, key: pki.serverKey}})
    api = await startApiServer({audience: server.resources.api, issuer: server.issuer, jwksUri: await fetchJwks(server.jwksUri, pki.caCert)})
    // BENCH_PEERS=regex: only the rows it matches, beside the peers (node -e 0, MSAL, curl).
    const only = process.env.BENCH_PEERS ? new RegExp(process.env.BENCH_PEERS) : undefined
    const rows = (await peerRows({...options, redis}, server, api, pki, directory)).filter((row) => !only || !row.argv.includes(BIN) || only.test(row.name))
    // Every hit really is one: none of them may reach the authorization server (discovery included).
    for (const row of rows.filter((r) => r.hit)) await mustRun(row.argv, row.env)
    server.resetCounters()
    for (const row of rows.filter((r) => r.hit)) await mustRun(row.argv, row.env)
    if (server.requests.length > 0) throw new Error(`bench: ${server.requests.length} request(s) to the authorization server during the hits`)

    const hyperfine = findExecutable('hyperfine')
    if (!hyperfine) console.log('  hyperfine is not installed: medians of runs in turn instead')
    const runs = Math.min(options.runs, 40)
    const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
    const loadBefore = load()
    const times = hyperfine ? await timeWithHyperfine(rows, runs, directory) : await timeRoundRobin(rows, runs)
    const usage = await usageOf(rows, runs)
    console.log(
      `  ${runs} runs of each after 3 warm-ups, timed, then ${runs} rounds of all rows in turn for CPU time and memory; Node ${process.version}; load average ${loadBefore} before, ${load()} after`,
    )
    console.log('  ms: median wall time [first–third quartile]; CPU ms: median user + system time [quartiles], which a loaded machine disturbs far less; peak RSS: median of the runs')
    const cpuOf = (row: Row | undefined) => row && usage.get(row.name)!.cpu.median
    const node = times.get('node -e 0')!
    const nodeRow = rows.find((row) => row.name === 'node -e 0')
    const msalRow = rows.find((row) => row.name.startsWith('MSAL'))
    const msal = msalRow && times.get(msalRow.name)
    // A name is a table cell: its own | escaped.
    const label = (row: Row) => row.name.replaceAll('|', '\\|')
    const width = Math.max(...rows.map((row) => label(row).length))
    const ratio = (value: number | undefined, to: number | undefined) => (value === undefined || to === undefined ? '–' : (value / to).toFixed(2))
    const span = ({median: middle, q1, q3}: Timing) => `${middle.toFixed(1)} [${q1.toFixed(0)}–${q3.toFixed(0)}]`
    console.log(`\n| ${pad('', width)} | ms [q1–q3] | × node -e 0 | × MSAL hit | CPU ms [q1–q3] | CPU × node -e 0 | CPU × MSAL hit | peak RSS MiB |`)
    console.log(`|${'-'.repeat(width + 2)}|---:|---:|---:|---:|---:|---:|---:|`)
    for (const row of rows) {
      const wall = times.get(row.name)!
      const {cpu, rss} = usage.get(row.name)!
      const cpuCells = `${span(cpu)} | ${ratio(cpu.median, cpuOf(nodeRow))} | ${ratio(cpu.median, cpuOf(msalRow))}`
      console.log(`| ${pad(label(row), width)} | ${span(wall)} | ${ratio(wall.median, node.median)} | ${ratio(wall.median, msal?.median)} | ${cpuCells} | ${rss.toFixed(1)} |`)
    }
  } finally {
    await redis?.dispose()
    await api?.stop()
    await server?.stop()
    pki.remove()
    rmSync(directory, {force: true, recursive: true})
  }
}

async function peerRows(options: {keyring?: KeyringSession; redis?: RedisServer}, server: AuthServer, api: ApiServer, pki: TestPki, directory: string): Promise<Row[]> {
  const home = (name: string) => mkdtempSync(join(directory, `${name}-`))
  const base = cleanEnv({})
  const tls = {NODE_EXTRA_CA_CERTS: pki.caCertPath}
  const fileEnv = {...base, TOKENCTL_HOME: home('file'), TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}
  await prepareHome({...fileEnv, ...tls}, server)
  const keyEnv = {...base, TOKENCTL_HOME: home('key'), TOKENCTL_STORE: 'file', TOKENCTL_STORE_KEY: randomBytes(32).toString('base64')}
  await prepareHome({...keyEnv, ...tls}, server)
  const rows: Row[] = [
    {argv: [process.execPath, '-e', '0'], env: base, name: 'node -e 0'},
    {argv: [process.execPath, BIN, '--version'], env: fileEnv, name: 'tokenctl --version (oclif)'},
  ]

  const msalMissing = !existsAndImports(SYSTEM_PYTHON, 'msal')
  if (msalMissing) {
    console.log(`  MSAL for Python skipped: ${SYSTEM_PYTHON} cannot import msal (apt-get install python3-msal)`)
  } else {
    const script = join(directory, 'msal_hit.py')
    writeFileSync(script, MSAL_SCRIPT)
    const msalEnv = {
      ...cleanEnv({}),
      MSAL_AUTHORITY: server.issuer.replace(/\/v2\.0$/, ''),
      MSAL_CA_FILE: pki.caCertPath,
      MSAL_CLIENT_ID: 'basic',
      MSAL_CLIENT_SECRET: server.clients.basic.clientSecret!,
      MSAL_HTTP_CACHE: join(directory, 'msal.http_cache'),
      MSAL_SCOPE: SCOPE,
      MSAL_TOKEN_CACHE: join(directory, 'msal.token_cache.json'),
    }
    await mustRun([SYSTEM_PYTHON, script], msalEnv) // fills both of its caches
    rows.push({argv: [SYSTEM_PYTHON, script], env: msalEnv, hit: true, name: 'MSAL for Python, cache hit'})
  }

  const curl = findExecutable('curl')
  const jq = findExecutable('jq')
  if (curl && jq) {
    const script = join(directory, 'curl-jq.sh')
    writeFileSync(script, 'curl -sf --cacert "$CA" -u "basic:$CLIENT_SECRET" -d grant_type=client_credentials -d "scope=$SCOPE" "$TOKEN_ENDPOINT" | jq -r .access_token\n')
    const env = {...cleanEnv({}), CA: pki.caCertPath, CLIENT_SECRET: server.clients.basic.clientSecret, SCOPE, TOKEN_ENDPOINT: server.tokenEndpoint}
    rows.push({argv: ['/bin/sh', script], env, name: 'curl | jq -r .access_token (one request)'})
  } else {
    console.log('  curl | jq skipped: curl or jq is not installed')
  }

  rows.push(...tokenctlRows('file store, key', keyEnv, server, api, tls))
  rows.push(...tokenctlRows('file store, passphrase', fileEnv, server, api, tls))
  rows.push({
    argv: [process.execPath, BIN, 'token', 'client', 'ci'],
    env: {...keyEnv, TOKENCTL_NO_FAST_PATH: '1'},
    hit: true,
    name: 'the same hit through oclif (TOKENCTL_NO_FAST_PATH=1), file store, key',
  })
  rows.push({
    argv: [process.execPath, BIN, 'token', 'client', '--token-endpoint', server.tokenEndpoint, '--client-id', 'basic', '--client-secret-env', 'CLIENT_SECRET', '--scope', SCOPE, '--no-cache'],
    env: {...base, ...tls, CLIENT_SECRET: server.clients.basic.clientSecret, TOKENCTL_HOME: home('ephemeral')},
    name: 'tokenctl token client --token-endpoint … --no-cache (one request, no store, as curl)',
  })
  if (options.keyring) {
    const keychainEnv = {...base, ...options.keyring.env, TOKENCTL_HOME: home('keychain'), TOKENCTL_KEYCHAIN_SERVICE: `tokenctl-bench-peers-${process.pid}`}
    await prepareHome({...keychainEnv, ...tls}, server)
    rows.push(...tokenctlRows('keychain', keychainEnv, server, api, tls))
  } else {
    console.log('  keychain rows skipped: no Secret Service could be started')
  }

  if (options.redis) {
    // A fleet's store: one Redis server on this machine, sealed with a store key (its hits, and one request).
    const redisEnv = {...base, ...options.redis.env, TOKENCTL_HOME: home('redis'), TOKENCTL_REDIS_PREFIX: `tokenctl-bench-${process.pid}:`, TOKENCTL_STORE_KEY: randomBytes(32).toString('base64')}
    await prepareHome({...redisEnv, ...tls}, server)
    const wanted = /^tokenctl (token client ci, hit|session refresh|token client ci --no-cache)/
    rows.push(...tokenctlRows('Redis, key', redisEnv, server, api, tls).filter((row) => wanted.test(row.name)))
  }

  return rows
}

function existsAndImports(python: string, module: string): boolean {
  return spawnSync(python, ['-c', `import ${module}`], {stdio: 'ignore'}).status === 0
}

// `npm run bench:peers`: this table alone (BENCH_RUNS runs of each, default 30).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const keyring = await startKeyring()
  if ('skip' in keyring) console.log(`keychain rows skipped: ${keyring.skip}`)
  try {
    await peersTable({keyring: 'skip' in keyring ? undefined : keyring, runs: Number(process.env.BENCH_RUNS ?? 30)})
  } finally {
    if (!('skip' in keyring)) await keyring.stop()
  }
}
