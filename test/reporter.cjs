// The spec reporter, plus the run's totals by category, printed after mocha's own summary and
// written as JSON where TOKENCTL_TEST_RESULTS points (.ci/run prints its closing line from that file).
//
// Categories, from the test file's folder:
//   unit     test/unit     tokenctl's modules, in process
//   e2e      test/e2e      the built CLI against real servers
//   harness  test/harness  the test servers and helpers themselves, not tokenctl
// The totals ("N passed, M failed, K skipped") count tokenctl's tests: unit and e2e (and a failure
// that belongs to no file, such as a root hook's). Harness failures still fail the run: mocha's exit
// code counts every failure.
const path = require('node:path')
const fs = require('node:fs')
const Mocha = require('mocha')

const {EVENT_RUN_END, EVENT_TEST_FAIL, EVENT_TEST_PASS, EVENT_TEST_PENDING} = Mocha.Runner.constants

const CATEGORIES = ['unit', 'e2e', 'harness']
const COUNTED = new Set(['unit', 'e2e', 'other'])

function categoryOf(runnable) {
  const file = runnable.file ?? runnable.parent?.file
  if (!file) return 'other'
  const parts = path.relative(process.cwd(), file).split(path.sep)
  return parts[0] === 'test' && CATEGORIES.includes(parts[1]) ? parts[1] : 'other'
}

const line = ({passes, failures, pending}) => `${passes} passed, ${failures} failed, ${pending} skipped`

class TokenctlReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options)
    const counts = {}
    for (const category of [...CATEGORIES, 'other']) counts[category] = {failures: 0, passes: 0, pending: 0}
    runner.on(EVENT_TEST_PASS, (test) => counts[categoryOf(test)].passes++)
    runner.on(EVENT_TEST_FAIL, (test) => counts[categoryOf(test)].failures++)
    runner.on(EVENT_TEST_PENDING, (test) => counts[categoryOf(test)].pending++)
    // Registered after the spec reporter's own: printed below its summary.
    runner.once(EVENT_RUN_END, () => {
      const total = {failures: 0, passes: 0, pending: 0}
      for (const [category, count] of Object.entries(counts)) {
        if (!COUNTED.has(category)) continue
        for (const key of Object.keys(total)) total[key] += count[key]
      }

      for (const category of CATEGORIES) {
        const note = category === 'harness' ? ' (the test servers, not tokenctl: not in the totals)' : ''
        process.stdout.write(`  ${category.padEnd(8)} ${line(counts[category])}${note}\n`)
      }

      if (counts.other.passes + counts.other.failures + counts.other.pending > 0) {
        process.stdout.write(`  ${'other'.padEnd(8)} ${line(counts.other)} (outside test/unit, test/e2e, test/harness)\n`)
      }

      process.stdout.write(`  tokenctl ${line(total)}\n\n`)
      const file = process.env.TOKENCTL_TEST_RESULTS
      if (file) fs.writeFileSync(file, JSON.stringify({...total, categories: counts}))
    })
  }
}

module.exports = TokenctlReporter
