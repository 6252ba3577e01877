/**
 * npm run bench — timings of tokenctl against its floors and against curl, side by side in one run.
 * Never part of the tests: figures go to stdout for the closing notes and the README.
 *
 * Measures (issue 2):
 *  - cache-hit `token client`: median wall time as a ratio to `tokenctl --version` (the oclif floor)
 *    and to `node -e 0`, for the file store and (where a Secret Service can be started) the keychain;
 *    peak RSS; the modules the hit path loads (no openid-client, undici or oidc-provider);
 *  - cache miss with discovery cached: HTTP requests made (expected: exactly one) and the wall time
 *    added over the server's own response time;
 *  - 10 concurrent cold-cache runs: token requests made and total wall time.
 *
 * And the peers table (bench/peers.ts): the cache hit and one token request side by side with MSAL for
 * Python's cache hit, curl | jq and `node -e 0`, over TLS, by hyperfine.
 *
 * And (issue 6, the Redis store, where `redis-server` is installed):
 *  - cache-hit and refresh (`--force`) wall time on redis side by side with the keychain and the file store;
 *  - what loading the Redis client costs (`import('ioredis')` against `node -e 0`);
 *  - fleet throughput: three homes × 5 processes refreshing one session in a loop for 30 s, every run
 *    redeeming the refresh token (`--force --min-ttl` beyond the token's life, so that no run can
 *    reuse a token a concurrent run just fetched): refreshes per second, token requests,
 *    refresh-token reuse events (goal: 0).
 *
 * And (issue 22, the fleet on replicated Redis, where redis-sentinel is installed too): for one server, a
 * Sentinel set (a primary, a replica, three sentinels) and a Cluster (three masters, three replicas),
 * side by side: the cache hit and a refresh (`session refresh --force`: the lock, the grant and the
 * rotated refresh token written, each acknowledged by a replica where there is one), and the fleet's
 * refreshes per second on each.
 *
 * And (issue 10): the timings that used to be upper bounds in the tests (bench/timings.ts), and the
 * scores of the last `npm run mutation` (reports/mutation/*.json; the run itself is too slow for the
 * bench: run it on its own). `BENCH_ONLY=timings`, `BENCH_ONLY=mutation` or `BENCH_ONLY=redis` (the
 * topologies) prints only those.
 *
 * And (issue 19): hit and miss on a file store holding 4,000 expired OBO entries, beside a store
 * without them, before and after the write that leaves them out (`BENCH_ONLY=expired` for this alone).
 *
 * And (issue 21, DPoP): a DPoP cache hit beside the bearer one — checked to make no proof (no token
 * request, and neither jose nor openid-client loaded) — and a DPoP miss (one request, the server's
 * nonce remembered from the last run) beside the bearer miss, with their ratios. `BENCH_ONLY=dpop`.
 */
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {type ApiServer, expectedLargeBodySha256, startApiServer} from '../test/helpers/api-server.js'
import {type AuthServer, startAuthServer} from '../test/helpers/auth-server.js'
import {sealEnvelope} from '../src/lib/store/envelope.js'
import {FileStore} from '../src/lib/store/file-store.js'
import {findExecutable, startKeyring} from '../test/helpers/keyring.js'
import {type RedisServer, startRedis} from '../test/helpers/redis.js'
import {type RedisTopology, requireRedisCluster, requireSentinelSet} from '../test/helpers/redis-topologies.js'
import {mutationScores} from './mutation-scores.js'
import {timingFigures} from './timings.js'
import {peersTable} from './peers.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const BIN = join(ROOT, 'bin', 'run.js')
const RUNS = Number(process.env.BENCH_RUNS ?? 30)
const PASSPHRASE = 'bench passphrase'

interface Case {
  argv: string[]
  env: NodeJS.ProcessEnv
  name: string
  /** Run before each run of the case, untimed (to put a store back as it was). */
  prepare?: () => void
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

/** This machine's environment as a user has it, minus anything that would change what tokenctl does. */
function baseEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(TOKENCTL_|DBUS_SESSION_BUS_ADDRESS$|XDG_RUNTIME_DIR$|(https?|no|all)_proxy$)/i.test(name)) env[name] = value
  }

  Object.assign(env, {NO_COLOR: '1', TOKENCTL_HOME: home}, extra)
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name]
  return env
}

/** Asynchronous on purpose: the authorization server answers from this very process. */
async function run(argv: string[], env: NodeJS.ProcessEnv, input?: string): Promise<{ms: number; stderr: string; stdout: string}> {
  const started = process.hrtime.bigint()
  const child = spawn(argv[0], argv.slice(1), {env, stdio: ['pipe', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  child.stdin.end(input)
  const code = await new Promise<null | number>((resolve) => child.on('close', resolve))
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (code !== 0) throw new Error(`${argv.join(' ')} failed (${code}): ${stderr}`)
  return {ms, stderr, stdout}
}

/** Runs every case RUNS times, round-robin, so that load on the machine hits them all alike. */
async function timeSideBySide(cases: Case[], runs = RUNS): Promise<Map<string, number>> {
  for (const c of cases) for (const [name, value] of Object.entries(c.env)) if (value === undefined) delete c.env[name]
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]))
  const once = async (c: Case) => {
    c.prepare?.()
    return (await run(c.argv, c.env)).ms
  }

  for (const c of cases) await once(c) // warm the file system cache
  for (let i = 0; i < runs; i++) for (const c of cases) times.get(c.name)!.push(await once(c))
  return new Map([...times].map(([name, values]) => [name, median(values)]))
}

/** Peak RSS (KiB) and CPU time (user + system, ms) of one run, from the kernel's accounting of a waited-for child. */
async function childUsage(c: Case): Promise<undefined | {cpuMs: number; rssKiB: number}> {
  const python = findExecutable('python3')
  if (!python) return undefined
  const script =
    'import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); u = resource.getrusage(resource.RUSAGE_CHILDREN); print(u.ru_maxrss, (u.ru_utime + u.ru_stime) * 1000)'
  c.prepare?.()
  const [rssKiB, cpuMs] = (await run([python, '-c', script, ...c.argv], c.env)).stdout.trim().split(' ').map(Number)
  return {cpuMs, rssKiB}
}

async function peakRssKiB(c: Case): Promise<number | undefined> {
  return (await childUsage(c))?.rssKiB
}

/** The module URLs the command loads: ES modules through a loader hook, CommonJS ones (the fast path's bundle) at exit. */
async function loadedModules(c: Case): Promise<string[]> {
  const trace = join(mkdtempSync(join(tmpdir(), 'tokenctl-bench-')), 'modules.txt')
  const hook = join(ROOT, 'bench', 'module-trace.mjs')
  const preload = join(ROOT, 'bench', 'module-trace.cjs')
  await run([process.execPath, '--no-warnings', '--require', preload, '--loader', hook, ...c.argv.slice(1)], {...c.env, TOKENCTL_MODULE_TRACE: trace})
  return readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ')[1])
}

async function addClient(env: NodeJS.ProcessEnv, server: AuthServer): Promise<void> {
  await run([process.execPath, BIN, 'client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], env, server.clients.basic.clientSecret)
  await run([process.execPath, BIN, 'token', 'client', 'ci'], env) // fills discovery and token caches
}

function line(label: string, ms: number, floors: {node: number; version: number}): string {
  return `${label.padEnd(44)} ${ms.toFixed(1).padStart(7)} ms   ${(ms / floors.version).toFixed(2)}× --version   ${(ms / floors.node).toFixed(2)}× node -e 0`
}

async function cacheMissFigures(server: AuthServer, env: NodeJS.ProcessEnv, store: string, command = ['token', 'client', 'ci'], runs = Math.max(5, Math.floor(RUNS / 2))): Promise<void> {
  const added: number[] = []
  const walls: number[] = []
  const requestCounts: number[] = []
  for (let i = 0; i < runs; i++) {
    server.resetCounters()
    const result = await run([process.execPath, BIN, ...command, '--force', '--verbose'], env)
    const trace = /POST \S+ → 200 in (\d+) ms/.exec(result.stderr)
    requestCounts.push(server.requests.length)
    walls.push(result.ms)
    if (trace) added.push(result.ms - Number(trace[1]))
  }

  console.log(`\n${command.join(' ')} --force --verbose (${store}), discovery cached, ${walls.length} runs (--verbose is served by oclif, not the fast path: see the peers table for --no-cache)`)
  console.log(`  HTTP requests per run:            ${[...new Set(requestCounts)].join(', ')} (expected: 1, the token request)`)
  console.log(`  median wall time:                 ${median(walls).toFixed(1)} ms`)
  console.log(`  median added over the response:   ${median(added).toFixed(1)} ms (wall time minus the exchange's own time in the --verbose trace)`)
}

/** Runs `tokenctl ARGS` n times at once; the wall time of the whole batch in ms. */
async function concurrently(n: number, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = Date.now()
  await Promise.all(
    Array.from(
      {length: n},
      () =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, [BIN, ...args], {env, stdio: 'ignore'})
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')}: exit ${code}`))))
        }),
    ),
  )
  return Date.now() - started
}

async function concurrentColdFigures(server: AuthServer, env: NodeJS.ProcessEnv): Promise<void> {
  // A cold cache entry: a scope nobody has asked for yet in this home.
  server.resetCounters()
  const wall = await concurrently(10, ['token', 'client', 'ci', '--scope', 'read'], env)
  console.log(`\n10 concurrent cold-cache runs (file store): ${server.tokenRequests.length} token request(s), ${wall} ms in all`)
}

/** A session of the web API client "api" for a user, started in the home of env. */
async function startSession(server: AuthServer, env: NodeJS.ProcessEnv): Promise<void> {
  await run([process.execPath, BIN, 'client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], env, server.clients.api.clientSecret)
  const userToken = await server.mintUserToken({aud: 'api', sub: 'alice'})
  await run([process.execPath, BIN, 'session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--key', 'nightly'], env, userToken)
}

/**
 * Three homes (hosts) × 5 processes, each refreshing one shared session in a loop for `seconds`,
 * every run redeeming the (rotating) refresh token under the fleet-wide lock: the rate, the token
 * requests it took, and reuse events.
 */
async function fleetFigures(server: AuthServer, envs: NodeJS.ProcessEnv[], topology = 'redis', seconds = Number(process.env.BENCH_FLEET_SECONDS ?? 30)): Promise<void> {
  const perHome = 5
  server.resetCounters()
  const deadline = Date.now() + seconds * 1000
  let runs = 0
  let failures = 0
  const started = Date.now()
  const loop = async (env: NodeJS.ProcessEnv) => {
    while (Date.now() < deadline) {
      const code = await new Promise<null | number>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'session', 'refresh', '--key', 'fleet', '--force', '--min-ttl', '86400'], {env, stdio: 'ignore'})
        child.on('exit', resolve)
      })
      if (code === 0) runs++
      else failures++
    }
  }

  await Promise.all(envs.flatMap((env) => Array.from({length: perHome}, () => loop(env))))
  const elapsed = (Date.now() - started) / 1000
  const grants = server.refreshTokenUses.length
  console.log(`\nfleet on ${topology}: ${envs.length} homes × ${perHome} processes refreshing one session in a loop for ${seconds} s (session refresh --force --min-ttl 86400: every run redeems)`)
  console.log(`  refreshes:         ${runs} ok, ${failures} failed, ${(runs / elapsed).toFixed(1)} per second fleet-wide`)
  console.log(
    `  token requests:    ${server.tokenRequests.length} (refresh-token grants: ${grants}, each refresh token presented once: ${new Set(server.refreshTokenUses.map((use) => use.sha256)).size === grants})`,
  )
  console.log(`  reuse events:      ${server.reuseDetected} (goal: 0); every grant answered 200: ${server.refreshTokenUses.every((use) => use.status === 200)}`)
}

/** Three homes on one Redis, a session of their own started on the first; the others share only Redis. */
async function fleetHomes(server: AuthServer, redisEnv: NodeJS.ProcessEnv, home: () => string, prefix: string): Promise<NodeJS.ProcessEnv[]> {
  const fleet = [0, 1, 2].map(() => baseEnv(home(), {...redisEnv, TOKENCTL_REDIS_PREFIX: prefix, TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}))
  await run([process.execPath, BIN, 'client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], fleet[0], server.clients.api.clientSecret)
  const userToken = await server.mintUserToken({aud: 'api', sub: 'fleet'})
  await run([process.execPath, BIN, 'session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--key', 'fleet'], fleet[0], userToken)
  return fleet
}

/**
 * One server, Sentinel and Cluster side by side (round-robin, medians): a cache hit, and a refresh
 * that redeems (the lock, the grant, the rotated refresh token and the session index written, each
 * acknowledged by a replica where the primary has one); then the fleet's throughput on each.
 */
async function topologyFigures(server: AuthServer, redis: RedisServer, home: () => string): Promise<void> {
  const topologies: Array<[string, Record<string, string>]> = [['one server', redis.env]]
  const started: RedisTopology[] = []
  try {
    for (const [name, start] of [
      ['Sentinel (primary + replica, 3 sentinels)', requireSentinelSet],
      ['Cluster (3 masters + 3 replicas)', requireRedisCluster],
    ] as const) {
      try {
        const topology = await start()
        started.push(topology)
        topologies.push([name, topology.env])
      } catch (error) {
        console.log(`
${name} figures skipped: ${(error as Error).message}`)
      }
    }

    const floor: Case = {argv: [process.execPath, '-e', '0'], env: baseEnv(home()), name: 'node -e 0'}
    const hits: Case[] = [floor]
    const refreshes: Case[] = [floor]
    for (const [name, env] of topologies) {
      const topologyEnv = baseEnv(home(), {...env, TOKENCTL_REDIS_PREFIX: 'tokenctl-topologies:', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE})
      await addClient(topologyEnv, server)
      await startSession(server, topologyEnv)
      hits.push({argv: [process.execPath, BIN, 'token', 'client', 'ci'], env: topologyEnv, name})
      refreshes.push({argv: [process.execPath, BIN, 'session', 'refresh', '--key', 'nightly', '--force'], env: topologyEnv, name})
    }

    const runs = Math.max(5, Math.floor(RUNS / 2))
    const hit = await timeSideBySide(hits, runs)
    server.resetCounters()
    const refresh = await timeSideBySide(refreshes, runs)
    console.log(`
the fleet's Redis by topology: ${runs} runs of each, round-robin; medians (node -e 0: ${hit.get('node -e 0')!.toFixed(1)} ms)`)
    console.log(`  ${'topology'.padEnd(44)} ${'cache hit'.padStart(10)} ${'refresh --force'.padStart(16)}`)
    for (const [name] of topologies) console.log(`  ${name.padEnd(44)} ${`${hit.get(name)!.toFixed(1)} ms`.padStart(10)} ${`${refresh.get(name)!.toFixed(1)} ms`.padStart(16)}`)
    console.log(`  (refresh: the grant at a local server included; ${server.reuseDetected} refresh-token reuse(s) over ${server.refreshTokenUses.length} grants)`)

    for (const [index, [name, env]] of topologies.entries()) await fleetFigures(server, await fleetHomes(server, env, home, `tokenctl-fleet-${index}:`), name)
  } finally {
    for (const topology of started) await topology.dispose()
  }
}

async function concurrentRefreshFigures(server: AuthServer, env: NodeJS.ProcessEnv): Promise<void> {
  server.resetCounters()
  const wall = await concurrently(20, ['session', 'refresh', '--key', 'nightly', '--force'], env)
  console.log(`\n20 concurrent session refresh --force of one key (file store): ${wall} ms in all, ${server.tokenRequests.length} token request(s), ${server.reuseDetected} refresh-token reuse(s)`)
}

const LARGE_BYTES = 50 * 1024 * 1024

/** The 50 MB download through `call` and through curl: peak RSS and throughput. */
async function downloadFigures(api: ApiServer, env: NodeJS.ProcessEnv, token: string): Promise<void> {
  expectedLargeBodySha256(LARGE_BYTES) // the server hashes each size once, before its first answer: not in the timings
  const url = `${api.url}/large?bytes=${LARGE_BYTES}`
  const tokenctl: Case = {argv: ['/bin/sh', '-c', `exec ${process.execPath} ${BIN} call '${url}' --client ci > /dev/null`], env, name: 'call'}
  const curl: Case = {argv: ['/bin/sh', '-c', `exec curl -sf -H "Authorization: Bearer $TOKEN" '${url}' -o /dev/null`], env: {...env, TOKEN: token}, name: 'curl'}
  console.log(`\n50 MB download to /dev/null (median of ${Math.max(3, Math.floor(RUNS / 4))} runs)`)
  const medians = await timeSideBySide([tokenctl, curl], Math.max(3, Math.floor(RUNS / 4)))
  for (const c of [tokenctl, curl]) {
    const ms = medians.get(c.name)!
    const rss = await peakRssKiB({...c, argv: c.argv})
    console.log(
      `  ${c.name.padEnd(8)} ${ms.toFixed(0).padStart(6)} ms  ${(LARGE_BYTES / 1024 / 1024 / (ms / 1000)).toFixed(0).padStart(5)} MB/s  peak RSS ${rss === undefined ? '?' : (rss / 1024).toFixed(1)} MiB`,
    )
  }
}

/**
 * DPoP beside bearer, in one home: the hits (medians, ratio), what the DPoP hit loads (no proof: no
 * jose, no openid-client) and sends (nothing), and the misses (--force: requests per run, medians,
 * ratio). The dev server asks for a nonce first: a DPoP miss is one request only because the last
 * run's nonce is remembered.
 */
async function dpopFigures(server: AuthServer, env: NodeJS.ProcessEnv, store: string, runs = RUNS): Promise<void> {
  await run([process.execPath, BIN, 'client', 'add', 'dpop', '--issuer', server.issuer, '--client-id', 'dpop', '--client-secret-stdin', '--dpop'], env, server.clients.dpop.clientSecret)
  await run([process.execPath, BIN, 'token', 'client', 'dpop'], env)
  const tokenctl = (...args: string[]) => [process.execPath, BIN, ...args]
  const hits: Case[] = [
    {argv: [process.execPath, '-e', '0'], env, name: 'node -e 0'},
    {argv: tokenctl('token', 'client', 'ci'), env, name: `bearer cache hit (token client ci, ${store})`},
    {argv: tokenctl('token', 'client', 'dpop'), env, name: `DPoP cache hit (token client dpop, ${store})`},
  ]
  server.resetCounters()
  await run(hits[2].argv, env)
  const modules = await loadedModules(hits[2])
  const proofModules = modules.filter((url) => /openid-client|oauth4webapi|jose/.test(url))
  console.log(`
DPoP beside bearer (${store}; ${runs} runs each, round-robin, medians)`)
  console.log(`  DPoP cache hit: ${server.requests.length} request(s) sent, proof modules loaded: ${proofModules.length === 0 ? 'none (no proof made)' : proofModules.join(', ')}`)
  const medians = await timeSideBySide(hits, runs)
  const [floor, bearerHit, dpopHit] = hits.map((c) => medians.get(c.name)!)
  for (const c of hits) console.log(`  ${c.name.padEnd(52)} ${medians.get(c.name)!.toFixed(1).padStart(7)} ms`)
  console.log(`  DPoP hit / bearer hit: ${(dpopHit / bearerHit).toFixed(2)}×; over node -e 0: ${(dpopHit - floor).toFixed(1)} ms against ${(bearerHit - floor).toFixed(1)} ms`)

  const misses: Case[] = [
    {argv: tokenctl('token', 'client', 'ci', '--force'), env, name: `bearer miss (token client ci --force, ${store})`},
    {argv: tokenctl('token', 'client', 'dpop', '--force'), env, name: `DPoP miss (token client dpop --force, ${store})`},
  ]
  const requests: Record<string, number[]> = {}
  for (const c of misses) {
    requests[c.name] = []
    for (let i = 0; i < 3; i++) {
      server.resetCounters()
      await run(c.argv, c.env)
      requests[c.name].push(server.tokenRequests.length)
    }
  }

  const missMedians = await timeSideBySide(misses, Math.max(5, Math.floor(runs / 2)))
  for (const c of misses) console.log(`  ${c.name.padEnd(52)} ${missMedians.get(c.name)!.toFixed(1).padStart(7)} ms   token requests per run: ${[...new Set(requests[c.name])].join(', ')}`)
  console.log(`  DPoP miss / bearer miss: ${(missMedians.get(misses[1].name)! / missMedians.get(misses[0].name)!).toFixed(2)}×`)
}

async function dpopOnly(): Promise<void> {
  const server = await startAuthServer()
  const keyring = await startKeyring()
  const homes: string[] = []
  try {
    const home = mkdtempSync(join(tmpdir(), 'tokenctl-bench-dpop-'))
    homes.push(home)
    const fileEnv = baseEnv(home, {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE})
    await addClient(fileEnv, server)
    await dpopFigures(server, fileEnv, 'file store')
    if (!('skip' in keyring)) {
      const keychainHome = mkdtempSync(join(tmpdir(), 'tokenctl-bench-dpop-'))
      homes.push(keychainHome)
      const keychainEnv = baseEnv(keychainHome, {...keyring.env, TOKENCTL_KEYCHAIN_SERVICE: `tokenctl-bench-dpop-${process.pid}`})
      await addClient(keychainEnv, server)
      await dpopFigures(server, keychainEnv, 'keychain')
    }
  } finally {
    await server.stop()
    if (!('skip' in keyring)) await keyring.stop()
    for (const directory of homes) rmSync(directory, {force: true, recursive: true})
  }
}

async function main(): Promise<void> {
  const server = await startAuthServer()
  const api = await startApiServer({audience: server.resources.api, issuer: server.issuer, jwksUri: server.jwksUri})
  const keyring = await startKeyring()
  const redis = await startRedis()
  const homes: string[] = []
  const home = () => {
    const directory = mkdtempSync(join(tmpdir(), 'tokenctl-bench-'))
    homes.push(directory)
    return directory
  }

  try {
    const fileHome = home()
    const fileEnv = baseEnv(fileHome, {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE})
    await addClient(fileEnv, server)
    await startSession(server, fileEnv)
    const cases: Case[] = [
      {argv: [process.execPath, '-e', '0'], env: fileEnv, name: 'node -e 0'},
      {argv: [process.execPath, BIN, '--version'], env: fileEnv, name: 'tokenctl --version'},
      {argv: [process.execPath, BIN, 'token', 'client', 'ci'], env: fileEnv, name: 'token client ci (cache hit, file store)'},
      {argv: [process.execPath, BIN, 'session', 'refresh', '--key', 'nightly'], env: fileEnv, name: 'session refresh (cache hit, file store)'},
      {argv: [process.execPath, BIN, 'call', `${api.url}/echo`, '--client', 'ci'], env: fileEnv, name: 'call /echo --client ci (cached token)'},
    ]
    let keychainEnv: NodeJS.ProcessEnv | undefined
    if ('skip' in keyring) {
      console.log(`keychain figures skipped: ${keyring.skip}`)
    } else {
      const keychainHome = home()
      keychainEnv = baseEnv(keychainHome, {...keyring.env, TOKENCTL_KEYCHAIN_SERVICE: `tokenctl-bench-${process.pid}`})
      await addClient(keychainEnv, server)
      await startSession(server, keychainEnv)
      cases.push({argv: [process.execPath, BIN, 'token', 'client', 'ci'], env: keychainEnv, name: 'token client ci (cache hit, keychain)'})
    }

    let redisEnv: NodeJS.ProcessEnv | undefined
    const redisHome = (): NodeJS.ProcessEnv => baseEnv(home(), {...(redis as RedisServer).env, TOKENCTL_STORE_PASSPHRASE: PASSPHRASE})
    if ('skip' in redis) {
      console.log(`redis figures skipped: ${redis.skip}`)
    } else {
      redisEnv = redisHome()
      await addClient(redisEnv, server)
      await startSession(server, redisEnv)
      // A session refresh cache hit costs what a token client cache hit costs (within 1 ms on every store): one row each.
      cases.push({argv: [process.execPath, BIN, 'token', 'client', 'ci'], env: redisEnv, name: 'token client ci (cache hit, redis)'})
    }

    const curl = findExecutable('curl')
    const token = JSON.parse((await run([process.execPath, BIN, 'token', 'client', 'ci', '--json'], fileEnv)).stdout).access_token as string
    if (curl) {
      const script = `curl -sf -H "Authorization: Bearer $TOKEN" ${api.url}/echo`
      cases.push({argv: ['/bin/sh', '-c', script], env: {...fileEnv, TOKEN: token}, name: 'curl -H "Authorization: Bearer …" /echo'})
    }

    // The peers: MSAL for Python's hit, curl | jq, the fast path and oclif, over TLS (bench/peers.ts).
    await peersTable({keyring: 'skip' in keyring ? undefined : keyring, runs: RUNS})

    console.log(`\nthe stores, in this machine's environment: ${RUNS} runs of each, round-robin; medians. Node ${process.version}, ${process.platform}-${process.arch}`)
    const tables: Array<[string, Case[]]> = [['', cases]]
    for (const [title, variant] of tables) {
      if (title) console.log(`\n${title}`)
      const medians = await timeSideBySide(variant)
      const floors = {node: medians.get('node -e 0')!, version: medians.get('tokenctl --version')!}
      for (const c of variant) console.log(line(c.name, medians.get(c.name)!, floors))
    }

    if (redisEnv) {
      const importIoredis = `await import(${JSON.stringify(join(ROOT, 'node_modules', 'ioredis', 'built', 'index.js'))})`
      const floor: Case = {argv: [process.execPath, '-e', '0'], env: redisEnv, name: 'node -e 0'}
      const loading: Case = {argv: [process.execPath, '--input-type=module', '-e', importIoredis], env: redisEnv, name: 'ioredis'}
      const medians = await timeSideBySide([floor, loading], Math.max(5, Math.floor(RUNS / 3)))
      console.log(
        `\nloading the Redis client: node -e "await import('ioredis')" ${medians.get('ioredis')!.toFixed(1)} ms against node -e 0 ${medians.get('node -e 0')!.toFixed(1)} ms: ${(medians.get('ioredis')! - medians.get('node -e 0')!).toFixed(1)} ms`,
      )
    }

    console.log('\npeak RSS (one run each)')
    for (const c of cases.filter((c) => /^(token|session)/.test(c.name))) {
      const kib = await peakRssKiB(c)
      if (kib !== undefined) console.log(`  ${c.name.padEnd(42)} ${(kib / 1024).toFixed(1)} MiB`)
    }

    for (const c of [cases[2], cases[3]]) {
      const modules = await loadedModules(c)
      const heavy = modules.filter((url) => /@oclif\/core|openid-client|oauth4webapi|undici|oidc-provider|jose|ioredis|chalk/.test(url))
      console.log(`\n${c.name}: ${modules.length} modules loaded; oclif, openid-client, undici, oidc-provider, jose, ioredis, chalk among them: ${heavy.length === 0 ? 'none' : heavy.join(', ')}`)
    }

    await cacheMissFigures(server, fileEnv, 'file store')
    if (keychainEnv) await cacheMissFigures(server, keychainEnv, 'keychain')
    await cacheMissFigures(server, fileEnv, 'file store', ['session', 'refresh', '--key', 'nightly'])
    const fewer = Math.max(5, Math.floor(RUNS / 3))
    if (keychainEnv) await cacheMissFigures(server, keychainEnv, 'keychain', ['session', 'refresh', '--key', 'nightly'], fewer)
    if (redisEnv) {
      await cacheMissFigures(server, redisEnv, 'redis', ['token', 'client', 'ci'], fewer)
      await cacheMissFigures(server, redisEnv, 'redis', ['session', 'refresh', '--key', 'nightly'], fewer)
    }
    await dpopFigures(server, fileEnv, 'file store')
    if (keychainEnv) await dpopFigures(server, keychainEnv, 'keychain')
    await concurrentColdFigures(server, fileEnv)
    await concurrentRefreshFigures(server, fileEnv)
    if (curl) await downloadFigures(api, fileEnv, token)
    if (redisEnv) await topologyFigures(server, redis as RedisServer, home)
  } finally {
    await api.stop()
    await server.stop()
    if (!('skip' in keyring)) await keyring.stop()
    if (!('skip' in redis)) await redis.dispose()
    for (const directory of homes) rmSync(directory, {force: true, recursive: true})
  }
}

/** `BENCH_ONLY=redis`: the fleet's Redis by topology alone. */
async function redisOnly(): Promise<void> {
  const server = await startAuthServer()
  const redis = await startRedis()
  const homes: string[] = []
  try {
    if ('skip' in redis) {
      console.log(`redis figures skipped: ${redis.skip}`)
      return
    }

    await topologyFigures(server, redis, () => {
      const directory = mkdtempSync(join(tmpdir(), 'tokenctl-bench-'))
      homes.push(directory)
      return directory
    })
  } finally {
    await server.stop()
    if (!('skip' in redis)) await redis.dispose()
    for (const directory of homes) rmSync(directory, {force: true, recursive: true})
  }
}

const EXPIRED_ENTRIES = 4000

/**
 * What debugging on-behalf-of from a shell leaves in the file store: one OBO entry per user token,
 * EXPIRED_ENTRIES of them, long expired. A home with the client "ci" (its secret and cached token),
 * the web API "api" and one real OBO token, copied EXPIRED_ENTRIES times with past expiries and their
 * lifetimes recorded as tokenctl records them. Returns the file's bytes, to put back before each run
 * that must meet them.
 */
async function homeWithExpiredEntries(server: AuthServer, env: NodeJS.ProcessEnv): Promise<Buffer> {
  await addClient(env, server)
  await run([process.execPath, BIN, 'client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], env, server.clients.api.clientSecret)
  await run([process.execPath, BIN, 'token', 'obo', 'api', '--assertion-stdin', '--scope', 'read'], env, await server.mintUserToken({aud: 'api', sub: 'alice'}))
  const file = join(env.TOKENCTL_HOME!, 'store.enc')
  const store = new FileStore({file, passphrase: PASSPHRASE})
  const entries: Record<string, string> = {}
  for (const name of await store.list('')) entries[name] = (await store.get(name))!
  const tokens = Object.entries(entries).filter(([name]) => name.startsWith('token:'))
  const obo = tokens.map(([, value]) => JSON.parse(value) as {flavor?: string}).find((token) => token.flavor)
  if (!obo) throw new Error('no OBO token was cached')
  const now = Date.now()
  const expires: Record<string, number> = {}
  for (let i = 0; i < EXPIRED_ENTRIES; i++) {
    const name = `token:${createHash('sha256').update(`user token ${i}`).digest('hex')}`
    const expiresAt = now - (i + 1) * 60_000
    entries[name] = JSON.stringify({...obo, expires_at: expiresAt})
    expires[name] = expiresAt
  }

  const sealed = await sealEnvelope(Buffer.from(JSON.stringify({entries, expires}), 'utf8'), PASSPHRASE)
  writeFileSync(file, sealed, {mode: 0o600})
  return sealed
}

/**
 * (issue 19) Hit (`token client ci`) and miss (`token client ci --force`: one token request, one
 * write) on a file store holding EXPIRED_ENTRIES expired OBO entries, beside a store without them:
 * before any write (each run meets them all), the write that leaves them out, and after it. Median
 * wall time and median CPU time (user + system, which a busy shared machine disturbs far less), peak
 * RSS. Goal: after that write, within 1.05× of the store without them.
 */
async function expiredEntriesFigures(): Promise<void> {
  const server = await startAuthServer()
  const homes: string[] = []
  const fileEnv = () => {
    const directory = mkdtempSync(join(tmpdir(), 'tokenctl-bench-'))
    homes.push(directory)
    return baseEnv(directory, {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE})
  }

  try {
    const emptyEnv = fileEnv()
    await addClient(emptyEnv, server)
    const expiredEnv = fileEnv()
    const expired = await homeWithExpiredEntries(server, expiredEnv)
    const restore = () => writeFileSync(join(expiredEnv.TOKENCTL_HOME!, 'store.enc'), expired, {mode: 0o600})
    const prunedEnv = fileEnv()
    await homeWithExpiredEntries(server, prunedEnv)
    const prunedFile = join(prunedEnv.TOKENCTL_HOME!, 'store.enc')
    await run([process.execPath, BIN, 'token', 'client', 'ci', '--force'], prunedEnv) // the write that leaves them out
    const left = await new FileStore({file: prunedFile, passphrase: PASSPHRASE}).list('')
    if (left.length > 4) throw new Error(`${left.length} entries left after the first write`)

    const hit = [process.execPath, BIN, 'token', 'client', 'ci']
    const miss = [...hit, '--force']
    const tables: Array<[string, Case[]]> = [
      [
        'token client ci (hit)',
        [
          {argv: hit, env: emptyEnv, name: 'store without them'},
          {argv: hit, env: expiredEnv, name: `${EXPIRED_ENTRIES} expired, no write since`, prepare: restore},
          {argv: hit, env: prunedEnv, name: 'after the next write left them out'},
        ],
      ],
      [
        'token client ci --force (miss: one token request, one write)',
        [
          {argv: miss, env: emptyEnv, name: 'store without them'},
          {argv: miss, env: expiredEnv, name: `${EXPIRED_ENTRIES} expired: the write that leaves them out`, prepare: restore},
          {argv: miss, env: prunedEnv, name: 'after that write'},
        ],
      ],
    ]
    console.log(`
${EXPIRED_ENTRIES} expired OBO entries in the file store (${(expired.length / 1024 / 1024).toFixed(1)} MB sealed; ${(statSync(prunedFile).size / 1024).toFixed(1)} KB once left out), beside a store without them: ${RUNS} runs each, round-robin, medians; median CPU time and peak RSS of ${RUNS} more. Node ${process.version}`)
    for (const [title, cases] of tables) {
      const medians = await timeSideBySide(cases)
      const usage = new Map<string, Array<{cpuMs: number; rssKiB: number}>>(cases.map((c) => [c.name, []]))
      for (let i = 0; i < RUNS; i++) {
        for (const c of cases) {
          const used = await childUsage(c)
          if (used) usage.get(c.name)!.push(used)
        }
      }

      const cpu = (c: Case) => median(usage.get(c.name)!.map((used) => used.cpuMs))
      const rss = (c: Case) => median(usage.get(c.name)!.map((used) => used.rssKiB)) / 1024
      const [wallBase, cpuBase] = [medians.get(cases[0].name)!, cpu(cases[0])]
      console.log(`  ${title}`)
      for (const c of cases) {
        const [wall, cpuMs] = [medians.get(c.name)!, cpu(c)]
        console.log(
          `    ${c.name.padEnd(48)} wall ${wall.toFixed(1).padStart(6)} ms ${(wall / wallBase).toFixed(2)}×   CPU ${cpuMs.toFixed(1).padStart(6)} ms ${(cpuMs / cpuBase).toFixed(2)}×   peak RSS ${rss(c).toFixed(1)} MiB`,
        )
      }
    }
  } finally {
    await server.stop()
    for (const directory of homes) rmSync(directory, {force: true, recursive: true})
  }
}

const only = process.env.BENCH_ONLY
if (only === 'redis') await redisOnly()
if (!only) await main()
if (only === 'dpop') await dpopOnly()
if (!only || only === 'expired') await expiredEntriesFigures()
if (!only || only === 'timings') await timingFigures()
if (!only || only === 'mutation') mutationScores()
