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
 *   host's environment file gives them.
 * - Order: the blocks run in document order. The blocks of one section (everything under one
 *   heading, whatever its level) run one after the other in ONE bash, so variables and the folder
 *   carry from one block to the next; each section starts a new bash with a fresh, empty
 *   TOKENCTL_HOME, so a recipe never depends on another section (each names its own clients).
 * - Each section's bash runs with `set -eo pipefail`: any failing command, in a pipeline too, fails
 *   its block. A command that is expected to fail says so (`… || [ $? -eq 4 ]`).
 * - Environment, and nothing else: PATH (a folder with `tokenctl` linked to bin/run.js, then node's
 *   and the system's), HOME (a temporary folder), LANG, TOKENCTL_HOME (fresh per section) and
 *   TOKENCTL_STORE_PASSPHRASE (what the quick start tells a machine without a keychain to set). No
 *   session bus: the encrypted file store is used, never a keyring of the person running the tests.
 * - `127.0.0.1:8400` (dev idp's default port, which the recipes use) is rewritten to the port of the
 *   test's dev idp, started on a free port: tests run in parallel on shared machines.
 * - A line that is just `tokenctl dev idp …` (the README says: in another terminal) is the server
 *   the test already runs, and is left out.
 * - stdin is /dev/null (not a terminal): `token user` uses the device flow, whose prompt
 *   ("open URL and enter the code CODE", on stderr) the test answers as a person would, with dev
 *   idp's sign-in pages (the robot of src/lib/devidp/robot.ts), while the pipeline waits.
 */
import {strict as assert} from 'node:assert'
import {spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {approveDevice} from '../../src/lib/devidp/robot.js'
import {startCli, type StartedCli, tempHome} from '../helpers/cli.js'
import {requireRedis} from '../helpers/redis.js'
import {requireRedisCluster, requireSentinelSet} from '../helpers/redis-topologies.js'
import {requireTestPki} from '../helpers/tls.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const README = join(ROOT, 'README.md')
const PASSPHRASE = 'readme test passphrase'
const SECTION_TIMEOUT_MS = 120_000
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

/** The ```sh blocks of a Markdown text, in order, each with the heading it is under. */
export function shellBlocks(markdown: string): ShellBlock[] {
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
    if (language !== 'sh' || rest.length > 0) continue
    if (topology === undefined) blocks.push({line: start + 1, section, text: body.join('\n')})
    else if (REDIS_FENCES[topology]) blocks.push({line: start + 1, redis: REDIS_FENCES[topology], section, text: body.join('\n')})
  }

  return blocks
}

/**
 * A block as the test runs it: dev idp's port (and a Redis topology's addresses) rewritten, in one
 * pass, `tokenctl dev idp` left to the test.
 */
export function runnable(text: string, port: number, addresses: Record<string, string> = {}): string {
  const rewrites: Record<string, string> = {...addresses, '127.0.0.1:8400': `127.0.0.1:${port}`}
  const pattern = new RegExp(Object.keys(rewrites).map((address) => `${address.replaceAll('.', '\\.')}(?!\\d)`).join('|'), 'g')
  return text
    .split('\n')
    // `tokenctl dev idp` in the foreground (a comment after it allowed); `… &` or in a pipeline is run.
    .filter((line) => !/^\s*tokenctl dev idp\b[^&|;]*$/.test(line.replace(/\s+#.*$/, '')))
    .join('\n')
    .replaceAll(pattern, (address) => rewrites[address])
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
  approvals: string[]
}

/** A folder holding `tokenctl` → bin/run.js, as `npm link` would give. */
function binFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'tokenctl-readme-bin-'))
  symlinkSync(join(ROOT, 'bin', 'run.js'), join(folder, 'tokenctl'))
  return folder
}

function splitByBlock(text: string, count: number): string[] {
  const parts = text.split(new RegExp(`\\n?${MARK} (\\d+)@@\\n`))
  const outputs = Array.from({length: count}, () => '')
  // parts: [before the first mark, n, output of n, m, output of m, …]
  for (let index = 1; index + 1 < parts.length; index += 2) outputs[Number(parts[index])] = parts[index + 1]
  return outputs
}

async function runSection(blocks: ShellBlock[], port: number, bin: string, home: string, redis?: RedisForReadme): Promise<SectionRun> {
  const script = [
    'set -eo pipefail',
    ...blocks.flatMap((block, index) => [`printf '\\n${MARK} ${index}@@\\n'; printf '\\n${MARK} ${index}@@\\n' >&2`, runnable(block.text, port, redis?.addresses)]),
  ].join('\n')
  const workdir = mkdtempSync(join(home, 'work-'))
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
      approving.push(approveDevice(url, {login: 'readme-reader', userCode: code}).catch((error: Error) => {
        stderr += `\n[readme test: approving ${code} failed: ${error.message}]\n`
      }))
    }
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, SECTION_TIMEOUT_MS)
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
  }
}

function indent(text: string): string {
  const trimmed = text.replace(/\n+$/, '')
  return trimmed === '' ? '    (nothing)' : trimmed.replaceAll(/^/gm, '    ')
}

/** The failure message: which block, where, its text as run, what it printed. */
function failure(blocks: ShellBlock[], run: SectionRun, port: number, redis?: RedisForReadme): string {
  const block = blocks[run.last]
  const how = run.timedOut
    ? `did not finish within ${SECTION_TIMEOUT_MS / 1000} s (killed)`
    : run.signal
      ? `was killed by ${run.signal}`
      : `exited ${run.code}`
  return [
    `README.md:${block.line} (section "${block.section}", block ${run.last + 1} of ${blocks.length}) ${how}.`,
    `The block, as run (127.0.0.1:8400 → 127.0.0.1:${port}):`,
    indent(runnable(block.text, port, redis?.addresses)),
    'stdout:',
    indent(run.outputs[run.last].stdout),
    'stderr:',
    indent(run.outputs[run.last].stderr),
  ].join('\n')
}

describe('README recipes (every ```sh block, as written, against tokenctl dev idp)', function () {
  this.timeout(SECTION_TIMEOUT_MS + 30_000)
  const blocks = shellBlocks(readFileSync(README, 'utf8'))
  const sections = [...new Set(blocks.map((block) => block.section))].map((section) => ({
    blocks: blocks.filter((block) => block.section === section),
    section,
  }))
  let idp: StartedCli
  let port: number
  let bin: string
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
    port = Number(new URL((JSON.parse(line) as {issuer: string}).issuer).port)
  })

  after(async function () {
    this.timeout(60_000)
    idp?.kill('SIGINT')
    for (const started of redisFor.values()) await (await started.catch(() => undefined))?.dispose()
  })

  it('reads the fences and lines as the README says', () => {
    const markdown = [
      '# A', '```sh', 'echo a', '```', '## B', '```sh not-run', 'echo real tenant', '```', '```yaml', 'k: v', '```', '```sh', 'tokenctl dev idp   # until Ctrl-C; --port N', 'tokenctl call http://127.0.0.1:8400/api/echo', '```',
      '## C', '```sh redis-sentinel', 'echo sentinel', '```', '```sh redis-cluster', 'echo cluster', '```', '```sh redis', 'echo one', '```', '```sh redis-elsewhere', 'echo no', '```',
    ].join('\n')
    const found = shellBlocks(markdown)
    assert.deepEqual(found.map(({line, redis, section}) => [line, section, redis]), [[2, 'A', undefined], [12, 'B', undefined], [17, 'C', 'sentinel'], [20, 'C', 'cluster'], [23, 'C', 'server']])
    assert.equal(runnable(found[1].text, 4242), 'tokenctl call http://127.0.0.1:4242/api/echo')
    assert.equal(
      runnable('redis+cluster://u@127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:70010 http://127.0.0.1:8400', 4242, {'127.0.0.1:7000': '127.0.0.1:7001', '127.0.0.1:7001': '127.0.0.1:7000'}),
      'redis+cluster://u@127.0.0.1:7001,127.0.0.1:7000,127.0.0.1:70010 http://127.0.0.1:4242',
      'in one pass: an address rewritten to another one is not rewritten again',
    )
    assert.equal(runnable('tokenctl dev idp --port 0 --json > idp.json &', 4242), 'tokenctl dev idp --port 0 --json > idp.json &')
  })

  it('has recipes to run, fenced ```sh, and the dev idp port they use is 8400', () => {
    assert.ok(blocks.length >= 8, `only ${blocks.length} \`\`\`sh blocks found in README.md`)
    assert.ok(blocks.some((block) => block.text.includes('127.0.0.1:8400')), 'the recipes use dev idp at http://127.0.0.1:8400')
  })

  for (const {section, blocks: sectionBlocks} of sections) {
    it(`runs "${section}" (${sectionBlocks.length} block${sectionBlocks.length > 1 ? 's' : ''}, README.md:${sectionBlocks[0].line})`, async () => {
      const topology = sectionBlocks.find((block) => block.redis)?.redis
      if (topology && !redisFor.has(topology)) redisFor.set(topology, startRedisForReadme(topology))
      const redis = topology ? await redisFor.get(topology) : undefined
      const run = await runSection(sectionBlocks, port, bin, tempHome(), redis)
      if (run.code !== 0 || run.timedOut) assert.fail(failure(sectionBlocks, run, port, redis))
    })
  }
})
