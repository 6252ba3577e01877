// `npm test`: every test of test/, as three mocha runs at once — the end-to-end tests (test/e2e) in
// two halves of about equal time, and the rest (test/unit, test/harness) — so that the suite takes
// about as long as its longest third: most of an end-to-end test's time goes to waiting on the
// processes and servers it starts, not to the CPU. The first run prints as it goes; the others'
// output follows, whole, each in turn. The totals by category (see test/reporter.cjs) are added up,
// printed, and written where TOKENCTL_TEST_RESULTS points. Arguments go to every run
// (`npm test -- --grep X`); one file alone is `npx mocha FILE`.
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const scratch = mkdtempSync(join(tmpdir(), 'tokenctl-test-'))
const extra = process.argv.slice(2)

/** One mocha run; resolves to its exit code and its totals (undefined when it wrote none). */
function mocha(name, globs, output, ignore = []) {
  const results = join(scratch, `${name}.json`)
  const child = spawn(process.execPath, ['node_modules/mocha/bin/mocha.js', ...globs, ...ignore.flatMap((file) => ['--ignore', file]), ...extra], {
    env: {...process.env, TOKENCTL_TEST_RESULTS: results},
    stdio: ['ignore', output, output],
  })
  const chunks = []
  if (output === 'pipe') {
    child.stdout.on('data', (chunk) => chunks.push(chunk))
    child.stderr.on('data', (chunk) => chunks.push(chunk))
  }

  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      let totals
      try {
        totals = JSON.parse(readFileSync(results, 'utf8'))
      } catch {
        totals = undefined
      }

      resolve({code: code ?? (signal ? 1 : 0), output: Buffer.concat(chunks), totals})
    })
  })
}

// The slowest end-to-end files (about half of test/e2e's time); a new file goes to the other half.
const SLOW_E2E = ['readme', 'first-hour', 'fast-path', 'hostile-disk', 'redis-cluster', 'redis-sentinel'].map((name) => `test/e2e/${name}.test.ts`)
const runs = await Promise.all([
  mocha('e2e-slow', SLOW_E2E, 'inherit'),
  mocha('e2e', ['test/e2e/**/*.test.ts'], 'pipe', SLOW_E2E),
  mocha('rest', ['test/unit/**/*.test.ts', 'test/harness/**/*.test.ts'], 'pipe'),
])
for (const run of runs.slice(1)) process.stdout.write(`\n${run.output.toString('utf8')}`)

const sum = (a, b) => ({failures: a.failures + b.failures, passes: a.passes + b.passes, pending: a.pending + b.pending})
const none = {failures: 0, passes: 0, pending: 0}
const categories = {}
for (const run of runs) {
  for (const [category, counts] of Object.entries(run.totals?.categories ?? {})) categories[category] = sum(categories[category] ?? none, counts)
}

// A run that ended without its totals (it crashed) counts as one failure.
const total = runs.reduce((all, run) => sum(all, run.totals ?? {...none, failures: 1}), none)
const line = ({failures, passes, pending}) => `${passes} passed, ${failures} failed, ${pending} skipped`
process.stdout.write('\nThe three runs (end-to-end in two halves, then unit and harness), added up:\n')
for (const category of ['unit', 'e2e', 'harness']) {
  const note = category === 'harness' ? ' (the test servers, not tokenctl: not in the totals)' : ''
  process.stdout.write(`  ${category.padEnd(8)} ${line(categories[category] ?? none)}${note}\n`)
}

process.stdout.write(`  tokenctl ${line(total)}\n`)
if (process.env.TOKENCTL_TEST_RESULTS) writeFileSync(process.env.TOKENCTL_TEST_RESULTS, JSON.stringify({...total, categories}))

rmSync(scratch, {force: true, recursive: true})
process.exitCode = runs.find((run) => run.code !== 0)?.code ?? 0
