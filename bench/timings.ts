/**
 * Timings that used to be upper-bound assertions in the tests (`< 2 s`, RSS `< 25 MB`…): on a shared
 * machine such bounds are flakes, and a test asserts behaviour. Here they are measured rows, each with
 * the bound the test had, for a person to read. The tests kept their lower bounds (a wait that must
 * happen) and their behaviour (the error code, the message, the lock broken because its holder died).
 *
 * `npm run bench` runs them after its own figures; `BENCH_ONLY=timings npm run bench` runs only these.
 */
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, readlinkSync, rmSync, writeFileSync} from 'node:fs'
import {request as httpRequest, type IncomingMessage} from 'node:http'
import net from 'node:net'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {setFlagsFromString} from 'node:v8'
import {runInNewContext} from 'node:vm'

import {FileStore} from '../src/lib/store/file-store.js'
import {forgetKeychainProbes, KeychainStore} from '../src/lib/store/keychain-store.js'
import {redisSettings, RedisStore} from '../src/lib/store/redis-store.js'
import {probeSecretService} from '../src/lib/store/secret-service-probe.js'
import {expectedLargeBodySha256, startApiServer} from '../test/helpers/api-server.js'
import {type AuthServer, startAuthServer} from '../test/helpers/auth-server.js'
import {cliWithHome, runCli} from '../test/helpers/cli.js'
import {type KeyringSession, startKeyring} from '../test/helpers/keyring.js'
import {type RedisServer, startRedis} from '../test/helpers/redis.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const WORKER = join(ROOT, 'test/fixtures/file-store-worker.ts')
const MB = 1024 * 1024
const PASSPHRASE = 'bench passphrase'
const RUNS = Number(process.env.BENCH_TIMING_RUNS ?? 3)

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

function row(what: string, value: string, bound: string): void {
  console.log(`  ${what.padEnd(100)} ${value.padStart(10)}   (the test's bound: ${bound})`)
}

/** Median milliseconds of `runs` runs of measure (which returns the milliseconds it measured). */
async function ms(what: string, bound: string, measure: () => Promise<number>, runs = RUNS): Promise<void> {
  const values: number[] = []
  for (let i = 0; i < runs; i++) values.push(await measure())
  row(what, `${median(values).toFixed(0)} ms`, bound)
}

async function elapsed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await work()
  return performance.now() - started
}

/** Resolves when work rejects (what is measured is how long until it gives up); a success is an error here. */
async function failure(work: () => Promise<unknown>): Promise<number> {
  return elapsed(async () => {
    const outcome = await work().then(
      () => 'succeeded',
      () => 'failed',
    )
    if (outcome !== 'failed') throw new Error('expected a failure')
  })
}

/** V8's gc(), without requiring `--expose-gc` on the command line. */
function garbageCollector(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

/** GETs with node:http and hashes the body as it arrives, so the client side holds no whole body. */
async function download(url: string, token: string): Promise<{length: number; sha256: string}> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    httpRequest(url, {headers: {authorization: `Bearer ${token}`}}, resolve)
      .on('error', reject)
      .end()
  })
  const hash = createHash('sha256')
  let length = 0
  for await (const chunk of response as AsyncIterable<Buffer>) {
    hash.update(chunk)
    length += chunk.length
  }

  return {length, sha256: hash.digest('hex')}
}

async function clientToken(auth: AuthServer): Promise<string> {
  const response = await fetch(auth.tokenEndpoint, {
    body: 'grant_type=client_credentials',
    headers: {authorization: `Basic ${Buffer.from('basic:basic-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded'},
    method: 'POST',
  })
  return ((await response.json()) as {access_token: string}).access_token
}

async function harnessRows(auth: AuthServer): Promise<void> {
  const api = await startApiServer({audience: auth.resources.api, issuer: auth.issuer, jwksUri: auth.jwksUri})
  try {
    const token = await clientToken(auth)
    const url = `${api.url}/large?bytes=${50 * MB}`
    expectedLargeBodySha256(50 * MB) // hashed once, before the timings
    // Collected before each sample: server and client share this process, and 50 MB of transient
    // chunks would otherwise blur what is retained. A server ignoring backpressure retains ~50 MB.
    const gc = garbageCollector()
    gc()
    const baseline = process.memoryUsage().rss
    let peak = baseline
    const sampler = setInterval(() => {
      gc()
      peak = Math.max(peak, process.memoryUsage().rss)
    }, 10)
    const {length, sha256} = await download(url, token).finally(() => clearInterval(sampler))
    if (length !== 50 * MB || sha256 !== expectedLargeBodySha256(50 * MB)) throw new Error('the 50 MB body did not arrive whole')
    row('test API server: RSS growth while streaming 50 MB (server and client in one process)', `${((peak - baseline) / MB).toFixed(1)} MB`, '< 25 MB')
    await ms('test API server: 50 MB streamed to a hashing client', '< 2000 ms', () => elapsed(() => download(url, token)))

    await ms('test API server: stop() with a slow and a half-read 64 MB response open', '< 1000 ms', async () => {
      const own = await startApiServer({audience: auth.resources.api, issuer: auth.issuer, jwksUri: auth.jwksUri})
      const headers = {authorization: `Bearer ${token}`}
      const slow = fetch(`${own.url}/slow-headers`, {headers}).catch(() => undefined)
      const large = await fetch(`${own.url}/large?bytes=${64 * MB}`, {headers})
      const reader = large.body!.getReader()
      await reader.read()
      while (own.requests.length < 2) await new Promise((resolve) => setTimeout(resolve, 10))
      const took = await elapsed(() => own.stop())
      await slow
      await reader.cancel().catch(() => undefined)
      return took
    })
  } finally {
    await api.stop()
  }

  await ms('test authorization server: stop() while a token request hangs', '< 1000 ms', async () => {
    const hanging = await startAuthServer()
    hanging.injectTokenFaults({hang: true})
    const request = fetch(hanging.tokenEndpoint, {body: 'grant_type=client_credentials', method: 'POST'}).catch(() => undefined)
    while (hanging.tokenRequests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    const took = await elapsed(() => hanging.stop())
    await request
    return took
  })
}

/** A file-store worker holding the lock of `name`, killed with SIGKILL: its lock file stays behind. */
async function killedHolder(home: string, name: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, 'hold', name], {
    cwd: ROOT,
    env: {...process.env, TOKENCTL_HOME: home, TOKENCTL_STORE_PASSPHRASE: PASSPHRASE},
  })
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    if (stdout.includes('ready\n') && !stdout.includes('go-sent')) {
      stdout += 'go-sent'
      child.stdin.write('go\n')
    }

    if (stdout.includes('locked\n')) child.kill('SIGKILL')
  })
  await new Promise((resolve) => child.on('exit', resolve))
}

async function fileStoreRows(): Promise<void> {
  const previous = process.env.TOKENCTL_HOME
  try {
    await ms('file store: withLock on a lock whose holder was killed (SIGKILL)', '< 2000 ms', async () => {
      const home = mkdtempSync(join(tmpdir(), 'tokenctl-bench-'))
      process.env.TOKENCTL_HOME = home
      await killedHolder(home, 'session:abc')
      const took = await elapsed(() => new FileStore({passphrase: PASSPHRASE}).withLock('session:abc', async () => 'got it', {waitMs: 10_000}))
      rmSync(home, {force: true, recursive: true})
      return took
    })

    await ms('file store: set() past the write lock of a writer that died', '< 2000 ms', async () => {
      const home = mkdtempSync(join(tmpdir(), 'tokenctl-bench-'))
      process.env.TOKENCTL_HOME = home
      const dead = spawn(process.execPath, ['-e', ''])
      await new Promise((resolve) => dead.on('exit', resolve))
      const pidns = readlinkSync('/proc/self/ns/pid')
      writeFileSync(join(home, 'store.enc.lock'), JSON.stringify({acquiredAt: new Date().toISOString(), host: hostname(), nonce: 'dead', pid: dead.pid, pidns}), {mode: 0o600})
      const took = await elapsed(() => new FileStore({passphrase: PASSPHRASE}).set('a', 'value'))
      rmSync(home, {force: true, recursive: true})
      return took
    })
  } finally {
    if (previous === undefined) delete process.env.TOKENCTL_HOME
    else process.env.TOKENCTL_HOME = previous
  }
}

/** `new KeychainStore().get(name)` in a fresh process: how long until it answers or fails. */
function keychainGetInChild(env: Record<string, string>): Promise<number> {
  const module = join(ROOT, 'src/lib/store/keychain-store.ts')
  const script = `
    const {KeychainStore} = await import(${JSON.stringify(module)})
    const started = performance.now()
    await new KeychainStore().get('a').catch(() => {})
    console.log(performance.now() - started)`
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {cwd: ROOT, env: {PATH: process.env.PATH ?? '/usr/bin:/bin', ...env}})
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.on('exit', (code) => (code === 0 ? resolve(Number(stdout.trim().split('\n').at(-1))) : reject(new Error(`child exit ${code}`))))
  })
}

async function keychainRows(keyring: KeyringSession): Promise<void> {
  const saved = {...process.env}
  try {
    await ms('keychain: store_unavailable with no session bus', '< 500 ms', async () => {
      delete process.env.DBUS_SESSION_BUS_ADDRESS
      process.env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'tokenctl-bench-'))
      forgetKeychainProbes()
      return failure(() => new KeychainStore().get('a'))
    })

    await ms('keychain: Secret Service probe on a stopped bus, timeout 0.4 s', '390–1500 ms', async () => {
      process.kill(keyring.busPid, 'SIGSTOP')
      try {
        return await elapsed(() => probeSecretService({env: keyring.env, timeoutMs: 400}))
      } finally {
        process.kill(keyring.busPid, 'SIGCONT')
      }
    })

    for (const daemon of ['bus', 'keyring'] as const) {
      await ms(`keychain: get() in a child process with the ${daemon} daemon stopped, TOKENCTL_KEYCHAIN_TIMEOUT=1`, '950–2500 ms', async () => {
        const pid = daemon === 'bus' ? keyring.busPid : keyring.keyringPid!
        process.kill(pid, 'SIGSTOP')
        try {
          return await keychainGetInChild({...keyring.env, TOKENCTL_HOME: mkdtempSync(join(tmpdir(), 'tokenctl-bench-')), TOKENCTL_KEYCHAIN_SERVICE: 'tokenctl-bench', TOKENCTL_KEYCHAIN_TIMEOUT: '1'})
        } finally {
          process.kill(pid, 'SIGCONT')
        }
      })
    }
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name]
    Object.assign(process.env, saved)
  }
}

async function redisRows(auth: AuthServer, redis: RedisServer): Promise<void> {
  const previous = process.env.TOKENCTL_HOME
  process.env.TOKENCTL_HOME = mkdtempSync(join(tmpdir(), 'tokenctl-bench-'))
  try {
    await ms('Redis store: store_unavailable once Redis is down (a connected store)', '< 1000 ms', async () => {
      const store = new RedisStore({passphrase: PASSPHRASE, settings: redisSettings(redis.env)})
      await store.set('token:a', 'v')
      await redis.stop()
      try {
        return await failure(() => store.get('token:a'))
      } finally {
        await store.close()
        await redis.start()
      }
    })

    await ms('Redis store: store_unavailable from a server that never answers, TOKENCTL_REDIS_TIMEOUT=0.5', '400–1500 ms', async () => {
      const sockets: net.Socket[] = []
      const silent = net.createServer((socket) => sockets.push(socket))
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
      const {port} = silent.address() as net.AddressInfo
      const store = new RedisStore({passphrase: PASSPHRASE, settings: redisSettings({TOKENCTL_REDIS_PASSWORD: 'x', TOKENCTL_REDIS_TIMEOUT: '0.5', TOKENCTL_REDIS_URL: `redis://127.0.0.1:${port}`})})
      try {
        return await failure(() => store.get('token:a'))
      } finally {
        await store.close()
        for (const socket of sockets) socket.destroy()
        silent.close()
      }
    })
  } finally {
    if (previous === undefined) delete process.env.TOKENCTL_HOME
    else process.env.TOKENCTL_HOME = previous
  }

  // Whole processes, Redis stopped: each command fails with exit 7.
  const home = cliWithHome({env: {...redis.env, TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}})
  await home.run(['client', 'add', 'ci', '--issuer', auth.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: 'basic-secret'})
  await redis.stop()
  try {
    for (const args of [
      ['session', 'refresh', '--key', 'k', '--force'],
      ['token', 'client', 'ci'],
      ['session', 'list'],
      ['store', 'status'],
    ]) {
      await ms(`tokenctl ${args.join(' ')}, Redis stopped: exit 7`, '< 3000 ms', async () => {
        const result = await home.run(args)
        if (result.code !== 7) throw new Error(`${args.join(' ')}: exit ${result.code}: ${result.stderr}`)
        return result.durationMs
      })
    }
  } finally {
    await redis.start()
  }
}

async function cliRows(auth: AuthServer): Promise<void> {
  const closed = net.createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const {port} = closed.address() as net.AddressInfo
  await new Promise((resolve) => closed.close(resolve))
  const exit6 = async (args: string[], env: Record<string, string>) => {
    const result = await runCli(args, {env})
    if (result.code !== 6) throw new Error(`${args.join(' ')}: exit ${result.code}: ${result.stderr}`)
    return result.durationMs
  }

  await ms('tokenctl token client, nothing listening (ECONNREFUSED, retried): exit 6', '< 5000 ms', () =>
    exit6(['token', 'client', '--token-endpoint', `http://127.0.0.1:${port}/token`, '--client-id', 'x', '--no-cache', '--timeout', '5'], {TOKENCTL_CLIENT_SECRET: 'x'}),
  )
  await ms('tokenctl token client --timeout 1, a token endpoint that hangs: exit 6', '< 4000 ms', async () => {
    auth.injectTokenFaults({hang: true})
    return exit6(['token', 'client', '--token-endpoint', auth.tokenEndpoint, '--client-id', 'basic', '--no-cache', '--timeout', '1'], {TOKENCTL_CLIENT_SECRET: 'basic-secret'})
  })

  const api = await startApiServer({audience: auth.resources.api, issuer: auth.issuer, jwksUri: auth.jwksUri})
  try {
    const token = await clientToken(auth)
    await ms('tokenctl call --timeout 1 --retries 0, an API that sends no headers: exit 6', '< 5000 ms', () =>
      exit6(['call', `${api.url}/slow-headers`, '--token-env', 'T', '--timeout', '1', '--retries', '0'], {T: token}),
    )
  } finally {
    await api.stop()
  }
}

export async function timingFigures(): Promise<void> {
  console.log(`\ntimings that were upper bounds in the tests (median of ${RUNS} runs unless said)`)
  const auth = await startAuthServer()
  const keyring = await startKeyring()
  const redis = await startRedis()
  try {
    await harnessRows(auth)
    await fileStoreRows()
    if ('skip' in keyring) console.log(`  keychain rows skipped: ${keyring.skip}`)
    else await keychainRows(keyring)
    if ('skip' in redis) console.log(`  Redis rows skipped: ${redis.skip}`)
    else await redisRows(auth, redis)
    await cliRows(auth)
  } finally {
    await auth.stop()
    if (!('skip' in keyring)) await keyring.stop()
    if (!('skip' in redis)) await redis.dispose()
  }
}
