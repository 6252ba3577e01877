/**
 * The README is tested: every block fenced exactly ```sh runs as written against a `tokenctl dev idp`
 * of this test's own, and fails the test with its text and its output when it does not exit 0.
 *
 * The rules a recipe must fit (README.md, "Development", says them to the reader too):
 * - Blocks fenced ```sh run; ```sh not-run blocks (a real tenant, a CI platform) and any other
 *   fence (yaml, cron, none) are left alone.
 * - Blocks fenced ```sh redis, ```sh redis-sentinel and ```sh redis-cluster run against a Redis of
 *   that topology which this test starts (once, at the first section that needs it): one server
 *   over TLS, a Sentinel set, a Cluster (test/helpers/redis.ts, redis-topologies.ts). The
 *   addresses the README gives them (127.0.0.1:6380; sentinels 127.0.0.1:26379-26381 watching
 *   "tokenctl-fleet"; Cluster nodes 127.0.0.1:7000-7002) are rewritten to their ports, and the
 *   section's environment gets TOKENCTL_REDIS_PASSWORD (and TOKENCTL_REDIS_CA_FILE for TLS), as a
 *   host's environment file gives them. They run in their own sections only: a reader pasting
 *   every recipe into one terminal has no three Redis topologies at those addresses.
 * - Order: the blocks run in document order, twice. First all of them in ONE bash with ONE
 *   TOKENCTL_HOME, as a reader pastes the recipes one after the other: a recipe that adds a client an
 *   earlier one added says --replace. Then section by section: the blocks of one section (everything
 *   under one heading, whatever its level) in one bash, so variables and the folder carry from one
 *   block to the next, each section in a new bash with a fresh, empty TOKENCTL_HOME, so a recipe
 *   never depends on another section (each names its own clients).
 * - Each section's bash runs with `set -eo pipefail`: any failing command, in a pipeline too, fails
 *   its block. A command that is expected to fail says so (`… || [ $? -eq 4 ]`).
 * - Environment, and nothing else: PATH (a folder with `tokenctl` linked to bin/run.js, then node's
 *   and the system's), HOME (a temporary folder), LANG, TOKENCTL_HOME (one for the whole run, or fresh per section) and
 *   TOKENCTL_STORE_PASSPHRASE (what the quick start tells a machine without a keychain to set). No
 *   session bus: the encrypted file store is used, never a keyring of the person running the tests.
 * - `127.0.0.1:8400` (dev idp's default port, which the recipes use) is rewritten to the port of the
 *   test's dev idp, started on a free port: tests run in parallel on shared machines.
 * - `127.0.0.1:6443` (a Kubernetes API server's usual port, which the kubectl recipes use) is rewritten
 *   to a small Kubernetes API server of the test's (test/helpers/kube-api-server.ts), https, which
 *   takes the tokens dev idp signs for its APIs; its CA is `cluster-ca.pem` in each section's folder.
 *   kubectl is the one on the test's PATH, linked beside `tokenctl` (.ci/run fetches one where none is).
 * - A line that is just `tokenctl dev idp …` (the README says: in another terminal) is the server
 *   the test already runs, and is left out.
 * - stdin is /dev/null (not a terminal): `token user` uses the device flow, whose prompt
 *   ("open URL and enter the code CODE", on stderr) the test answers as a person would, with dev
 *   idp's sign-in pages (the robot of src/lib/devidp/robot.ts), while the pipeline waits.
 */
import {strict as assert} from 'node:assert'
import {spawn, spawnSync} from 'node:child_process'
import {accessSync, constants, copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {API_RESOURCE, WEB_API_AUDIENCE} from '../../src/lib/devidp/configuration.js'
import {approveDevice} from '../../src/lib/devidp/robot.js'
import {startCli, type StartedCli, tempHome} from '../helpers/cli.js'
import {type KubeApiServer, startKubeApiServer} from '../helpers/kube-api-server.js'
import {requireRedis} from '../helpers/redis.js'
import {requireRedisCluster, requireSentinelSet} from '../helpers/redis-topologies.js'
import {startStranger} from '../helpers/stranger.js'
import {requireTestPki} from '../helpers/tls.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const README = join(ROOT, 'README.md')
const PASSPHRASE = 'readme test passphrase'
const SECTION_TIMEOUT_MS = 120_000
/** Every section one after the other, in one bash. */
const IN_ORDER_TIMEOUT_MS = 360_000
/** Between blocks, on stdout and stderr both: splits a section's output by block. */
const MARK = '@@tokenctl-readme-block'

export type RedisTopologyName = 'cluster' | 'sentinel' | 'server'

const REDIS_FENCES: Record<string, RedisTopologyName> = {redis: 'server', 'redis-cluster': 'cluster', 'redis-sentinel': 'sentinel'}

export interface ShellBlock {
  /** The heading of the section the block is in. */
  section: string
  /** ```sh redis… : the Redis topology the block runs against. */
  redis?: RedisTopologyName
  /** 1-based line of the opening fence in README.md. */
  line: number
  text: string
}

/**
 * The ```sh blocks of a Markdown text (with the ```sh redis… ones, each with its topology), or those
 * of another info string, in order, each with the heading it is under.
 */
export function shellBlocks(markdown: string, info = 'sh'): ShellBlock[] {
  const blocks: ShellBlock[] = []
  const lines = markdown.split('\n')
  let section = '(before any heading)'
  for (let index = 0; index < lines.length; index++) {
    const fence = /^(`{3,}|~{3,})(.*)$/.exec(lines[index])
    if (!fence) {
      const heading = /^#{1,6}\s+(.*)$/.exec(lines[index])
      if (heading) section = heading[1].trim()
      continue
    }

    const start = index
    const body: string[] = []
    for (index++; index < lines.length && !lines[index].startsWith(fence[1]); index++) body.push(lines[index])
    const [language, topology, ...rest] = fence[2].trim().split(/\s+/)
    if (fence[2].trim() === info) blocks.push({line: start + 1, section, text: body.join('\n')})
    else if (info === 'sh' && language === 'sh' && rest.length === 0 && REDIS_FENCES[topology]) {
      blocks.push({line: start + 1, redis: REDIS_FENCES[topology], section, text: body.join('\n')})
    }
  }

  return blocks
}

/**
 * A block as the test runs it: dev idp's port (and the Kubernetes cluster's, and a Redis topology's
 * addresses) rewritten, in one pass, `tokenctl dev idp` left to the test.
 */
export function runnable(text: string, port: number, clusterPort = 6443, addresses: Record<string, string> = {}): string {
  const rewrites: Record<string, string> = {...addresses, '127.0.0.1:6443': `127.0.0.1:${clusterPort}`, '127.0.0.1:8400': `127.0.0.1:${port}`}
  const pattern = new RegExp(
    Object.keys(rewrites)
      .map((address) => `${address.replaceAll('.', '\\.')}(?!\\d)`)
      .join('|'),
    'g',
  )
  return (
    text
      .split('\n')
      // `tokenctl dev idp` in the foreground (a comment after it allowed); `… &` or in a pipeline is run.
      .filter((line) => !/^\s*tokenctl dev idp\b[^&|;]*$/.test(line.replace(/\s+#.*$/, '')))
      .join('\n')
      .replaceAll(pattern, (address) => rewrites[address])
  )
}

/** A Redis a section runs against: the addresses to rewrite, and what a host's environment file would set. */
interface RedisForReadme {
  addresses: Record<string, string>
  dispose(): Promise<void>
  env: Record<string, string>
}

async function startRedisForReadme(topology: RedisTopologyName): Promise<RedisForReadme> {
  switch (topology) {
    case 'server': {
      const pki = await requireTestPki({caName: 'README test Redis CA'})
      const redis = await requireRedis({acl: true, tls: pki})
      return {
        addresses: {'127.0.0.1:6380': `127.0.0.1:${redis.port}`},
        async dispose() {
          await redis.dispose()
          pki.remove()
        },
        env: {TOKENCTL_REDIS_CA_FILE: pki.caCertPath, TOKENCTL_REDIS_PASSWORD: redis.password},
      }
    }

    case 'sentinel': {
      const sentinel = await requireSentinelSet()
      return {
        addresses: Object.fromEntries(sentinel.sentinels.map((process, index) => [`127.0.0.1:${26_379 + index}`, process.address])),
        dispose: () => sentinel.dispose(),
        env: {TOKENCTL_REDIS_PASSWORD: sentinel.password},
      }
    }

    case 'cluster': {
      const cluster = await requireRedisCluster()
      return {
        addresses: Object.fromEntries(cluster.nodes.slice(0, 3).map((process, index) => [`127.0.0.1:${7000 + index}`, process.address])),
        dispose: () => cluster.dispose(),
        env: {TOKENCTL_REDIS_PASSWORD: cluster.password},
      }
    }
  }
}

interface SectionRun {
  code: null | number
  signal: NodeJS.Signals | null
  /** Per block: what it printed (a block that never started has nothing). */
  outputs: Array<{stderr: string; stdout: string}>
  /** Index of the last block that started. */
  last: number
  timedOut: boolean
  /** How long the bash was given before it was killed. */
  timeoutMs: number
  approvals: string[]
}

/** The first program of that name on the test's own PATH. */
function onPath(name: string): string | undefined {
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(folder, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {
      // not there, or not executable: the next place
    }
  }

  return undefined
}

/** A folder holding `tokenctl` → bin/run.js, as `npm link` would give, and the kubectl of the test's PATH. */
function binFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'tokenctl-readme-bin-'))
  symlinkSync(join(ROOT, 'bin', 'run.js'), join(folder, 'tokenctl'))
  const kubectl = onPath('kubectl')
  if (kubectl) symlinkSync(kubectl, join(folder, 'kubectl'))
  return folder
}

/** The test's Kubernetes cluster: where the recipes say 127.0.0.1:6443. */
interface Cluster {
  caFile: string
  port: number
}

interface SectionOptions {
  /** The Redis the section's ```sh redis… blocks run against. */
  redis?: RedisForReadme
  timeoutMs?: number
}

function splitByBlock(text: string, count: number): string[] {
  const parts = text.split(new RegExp(`\\n?${MARK} (\\d+)@@\\n`))
  const outputs = Array.from({length: count}, () => '')
  // parts: [before the first mark, n, output of n, m, output of m, …]
  for (let index = 1; index + 1 < parts.length; index += 2) outputs[Number(parts[index])] = parts[index + 1]
  return outputs
}

async function runSection(blocks: ShellBlock[], port: number, cluster: Cluster, bin: string, home: string, {redis, timeoutMs = SECTION_TIMEOUT_MS}: SectionOptions = {}): Promise<SectionRun> {
  const script = [
    'set -eo pipefail',
    ...blocks.flatMap((block, index) => [`printf '\\n${MARK} ${index}@@\\n'; printf '\\n${MARK} ${index}@@\\n' >&2`, runnable(block.text, port, cluster.port, redis?.addresses)]),
  ].join('\n')
  const workdir = mkdtempSync(join(home, 'work-'))
  copyFileSync(cluster.caFile, join(workdir, 'cluster-ca.pem'))
  const env = {
    HOME: home,
    LANG: 'C.UTF-8',
    PATH: [bin, dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
    TOKENCTL_HOME: join(home, 'tokenctl'),
    TOKENCTL_STORE_PASSPHRASE: PASSPHRASE,
    ...redis?.env,
  }
  mkdirSync(env.TOKENCTL_HOME, {mode: 0o700})
  const child = spawn('bash', ['-c', script], {cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  const approvals: string[] = []
  const approving: Array<Promise<void>> = []
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
    // The device prompt of `token user`: approve every code once, as the person would.
    for (const [, url, code] of stderr.matchAll(/open (\S+) and enter the code (\S+)/g)) {
      if (approvals.includes(code)) continue
      approvals.push(code)
      approving.push(
        approveDevice(url, {login: 'readme-reader', userCode: code}).catch((error: Error) => {
          stderr += `\n[readme test: approving ${code} failed: ${error.message}]\n`
        }),
      )
    }
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, timeoutMs)
  const [code, signal] = await new Promise<[null | number, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]))
  })
  clearTimeout(timer)
  await Promise.all(approving)
  const outs = splitByBlock(stdout, blocks.length)
  const errs = splitByBlock(stderr, blocks.length)
  const started = [...stdout.matchAll(new RegExp(`${MARK} (\\d+)@@`, 'g'))].map((match) => Number(match[1]))
  return {
    approvals,
    code,
    last: started.length > 0 ? Math.max(...started) : 0,
    outputs: blocks.map((_block, index) => ({stderr: errs[index], stdout: outs[index]})),
    signal,
    timedOut,
    timeoutMs,
  }
}

function indent(text: string): string {
  const trimmed = text.replace(/\n+$/, '')
  return trimmed === '' ? '    (nothing)' : trimmed.replaceAll(/^/gm, '    ')
}

/** The failure message: which block, where, its text as run, what it printed. */
function failure(blocks: ShellBlock[], run: SectionRun, port: number, clusterPort: number, redis?: RedisForReadme): string {
  const block = blocks[run.last]
  const how = run.timedOut ? `did not finish within ${run.timeoutMs / 1000} s (killed)` : run.signal ? `was killed by ${run.signal}` : `exited ${run.code}`
  return [
    `README.md:${block.line} (section "${block.section}", block ${run.last + 1} of ${blocks.length}) ${how}.`,
    `The block, as run (127.0.0.1:8400 → 127.0.0.1:${port}):`,
    indent(runnable(block.text, port, clusterPort, redis?.addresses)),
    'stdout:',
    indent(run.outputs[run.last].stdout),
    'stderr:',
    indent(run.outputs[run.last].stderr),
  ].join('\n')
}

describe('README recipes (every ```sh block, as written, against tokenctl dev idp)', function () {
  this.timeout(SECTION_TIMEOUT_MS + 30_000)
  const allBlocks = shellBlocks(readFileSync(README, 'utf8'))
  /** What a reader pasting every recipe into one terminal runs: no Redis topology of the test's. */
  const blocks = allBlocks.filter((block) => !block.redis)
  const sections = [...new Set(allBlocks.map((block) => block.section))].map((section) => ({
    blocks: allBlocks.filter((block) => block.section === section),
    section,
  }))
  let idp: StartedCli
  let port: number
  let bin: string
  let cluster: KubeApiServer
  /** Each Redis topology, started at the first section that needs it. */
  const redisFor = new Map<RedisTopologyName, Promise<RedisForReadme>>()

  before(async function () {
    this.timeout(30_000)
    bin = binFolder()
    idp = startCli(['dev', 'idp', '--port', '0', '--json'], {env: {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: PASSPHRASE}, timeoutMs: Infinity})
    const line = await new Promise<string>((resolve, reject) => {
      let text = ''
      idp.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8')
        if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')))
      })
      idp.once('close', () => reject(new Error(`dev idp exited before listening: ${text}`)))
    })
    const {issuer} = JSON.parse(line) as {issuer: string}
    port = Number(new URL(issuer).port)
    const {jwks_uri: jwksUri} = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {jwks_uri: string}
    // What the kubectl recipes call: tokens for dev idp's downstream API (a client) or its web API (a person).
    cluster = await startKubeApiServer({audience: [API_RESOURCE, WEB_API_AUDIENCE], issuer, jwksUri})
  })

  after(async function () {
    this.timeout(60_000)
    idp?.kill('SIGINT')
    await cluster?.stop()
    for (const started of redisFor.values()) await (await started.catch(() => undefined))?.dispose()
  })

  it('reads the fences and lines as the README says', () => {
    const markdown = [
      '# A',
      '```sh',
      'echo a',
      '```',
      '## B',
      '```sh not-run',
      'echo real tenant',
      '```',
      '```yaml',
      'k: v',
      '```',
      '```sh',
      'tokenctl dev idp   # until Ctrl-C; --port N',
      'tokenctl call http://127.0.0.1:8400/api/echo',
      '```',
      '## C',
      '```sh redis-sentinel',
      'echo sentinel',
      '```',
      '```sh redis-cluster',
      'echo cluster',
      '```',
      '```sh redis',
      'echo one',
      '```',
      '```sh redis-elsewhere',
      'echo no',
      '```',
    ].join('\n')
    const found = shellBlocks(markdown)
    assert.deepEqual(
      found.map(({line, redis, section}) => [line, section, redis]),
      [
        [2, 'A', undefined],
        [12, 'B', undefined],
        [17, 'C', 'sentinel'],
        [20, 'C', 'cluster'],
        [23, 'C', 'server'],
      ],
    )
    assert.deepEqual(
      shellBlocks(markdown, 'sh not-run').map(({line}) => line),
      [6],
    )
    assert.equal(runnable(found[1].text, 4242), 'tokenctl call http://127.0.0.1:4242/api/echo')
    assert.equal(
      runnable('redis+cluster://u@127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:70010 http://127.0.0.1:8400', 4242, 6443, {'127.0.0.1:7000': '127.0.0.1:7001', '127.0.0.1:7001': '127.0.0.1:7000'}),
      'redis+cluster://u@127.0.0.1:7001,127.0.0.1:7000,127.0.0.1:70010 http://127.0.0.1:4242',
      'in one pass: an address rewritten to another one is not rewritten again',
    )
    assert.equal(runnable('    server: https://127.0.0.1:6443', 4242, 4243), '    server: https://127.0.0.1:4243')
    assert.equal(runnable('tokenctl dev idp --port 0 --json > idp.json &', 4242), 'tokenctl dev idp --port 0 --json > idp.json &')
  })

  it('has recipes to run, fenced ```sh, and the dev idp port they use is 8400', () => {
    assert.ok(blocks.length >= 8, `only ${blocks.length} \`\`\`sh blocks found in README.md`)
    assert.ok(
      blocks.some((block) => block.text.includes('127.0.0.1:8400')),
      'the recipes use dev idp at http://127.0.0.1:8400',
    )
  })

  // A reader pastes the recipes one after the other into one terminal: one shell, one folder, one
  // TOKENCTL_HOME from the first block to the last. A recipe that names a client an earlier one
  // added must say how it goes on (--replace), or it stops with exit 3.
  // And what the command line names, it gets: the ephemeral runner's recipe leaves
  // TOKENCTL_TOKEN_ENDPOINT, TOKENCTL_CLIENT_ID and TOKENCTL_CLIENT_SECRET exported, and the reader
  // goes on in the same shell. Its variables name a server of its own here, which records what
  // reaches it (and answers like a token endpoint): every later recipe must send it nothing.
  it("runs every section in document order in ONE shell and ONE TOKENCTL_HOME, as a reader pasting them would; after the ephemeral runner's recipe nothing reaches the server its variables name", async function () {
    this.timeout(IN_ORDER_TIMEOUT_MS + 30_000)
    const at = blocks.findIndex((block) => block.text.includes('export TOKENCTL_TOKEN_ENDPOINT='))
    assert.ok(at !== -1, "the ephemeral runner's recipe (export TOKENCTL_TOKEN_ENDPOINT=…) is in README.md")
    assert.ok(at < blocks.length - 1, "recipes follow the ephemeral runner's in the README")
    const named = await startStranger()
    try {
      const inOrder = blocks.map((block, index) => (index === at ? {...block, text: block.text.replaceAll('127.0.0.1:8400', `127.0.0.1:${named.port}`)} : block))
      const clusterPort = Number(new URL(cluster.url).port)
      const run = await runSection(inOrder, port, {caFile: cluster.caFile, port: clusterPort}, bin, tempHome(), {timeoutMs: IN_ORDER_TIMEOUT_MS})
      if (run.code !== 0 || run.timedOut) assert.fail(failure(inOrder, run, port, clusterPort))
      const seen = named.requests.map((request) => `${request.method} ${request.path} ${request.body}`).join('\n')
      assert.equal(named.requests.length, 1, `only the runner's own request reaches the server its variables name; it saw:\n${seen}`)
    } finally {
      await named.stop()
    }
  })

  for (const {section, blocks: sectionBlocks} of sections) {
    it(`runs "${section}" (${sectionBlocks.length} block${sectionBlocks.length > 1 ? 's' : ''}, README.md:${sectionBlocks[0].line})`, async () => {
      const clusterPort = Number(new URL(cluster.url).port)
      if (sectionBlocks.some((block) => /^\s*kubectl\b/m.test(block.text)) && !onPath('kubectl')) {
        assert.fail("missing prerequisite: kubectl is not on PATH; .ci/run extracts Debian's kubernetes-client where there is none (apt-get download kubernetes-client && dpkg -x …)")
      }

      const topology = sectionBlocks.find((block) => block.redis)?.redis
      if (topology && !redisFor.has(topology)) redisFor.set(topology, startRedisForReadme(topology))
      const redis = topology ? await redisFor.get(topology) : undefined
      const run = await runSection(sectionBlocks, port, {caFile: cluster.caFile, port: clusterPort}, bin, tempHome(), {redis})
      if (run.code !== 0 || run.timedOut) assert.fail(failure(sectionBlocks, run, port, clusterPort, redis))
    })
  }
})

// The set-up is not run with the recipes (they run inside a clone already set up), but the line that
// puts tokenctl on a PATH without root is: a newcomer copies it as it is.
describe('README quick start: npm link without root', function () {
  this.timeout(60_000)

  it('links tokenctl into ~/.local/bin with no npm warning (no second build, no allowScripts notice), and the next lines find it on PATH', () => {
    const setUp = shellBlocks(readFileSync(README, 'utf8'), 'sh not-run').find((block) => block.text.includes('NPM_CONFIG_PREFIX=~/.local npm link'))
    assert.ok(setUp, 'the quick start shows NPM_CONFIG_PREFIX=~/.local npm link … in a block of its own')
    assert.match(setUp.text, /export PATH="\$HOME\/\.local\/bin:\$PATH"/, 'and says to put ~/.local/bin on PATH')
    // What npm link reads of a clone: package.json (its bin, its prepare script) and the bin itself.
    const home = tempHome()
    const clone = join(home, 'tokenctl')
    mkdirSync(join(clone, 'bin'), {recursive: true})
    copyFileSync(join(ROOT, 'package.json'), join(clone, 'package.json'))
    copyFileSync(join(ROOT, 'bin', 'run.js'), join(clone, 'bin', 'run.js'))
    const result = spawnSync('bash', ['-eo', 'pipefail', '-c', setUp.text], {
      cwd: clone,
      encoding: 'utf8',
      env: {HOME: home, PATH: [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'), npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false'},
      timeout: 50_000,
    })
    assert.equal(result.status, 0, `exit ${result.status}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`)
    assert.doesNotMatch(result.stderr, /npm (warn|WARN)|allowScripts|prepare/, 'npm link says nothing to worry about')
    assert.equal(result.stdout.trim().split('\n').at(-1), join(home, '.local', 'bin', 'tokenctl'))
    assert.equal(realpathSync(join(home, '.local', 'bin', 'tokenctl')), realpathSync(join(clone, 'bin', 'run.js')))
  })
})
