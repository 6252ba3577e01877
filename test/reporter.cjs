// The spec reporter, plus the run's totals written as JSON where TOKENCTL_TEST_RESULTS points
// (.ci/run prints its "N passed, M failed" line from that file, not from mocha's own summary).
const fs = require('node:fs')
const Mocha = require('mocha')

const {EVENT_RUN_END} = Mocha.Runner.constants

class TokenctlReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options)
    runner.once(EVENT_RUN_END, () => {
      const file = process.env.TOKENCTL_TEST_RESULTS
      if (!file) return
      const {passes, failures, pending, tests} = runner.stats ?? this.stats
      fs.writeFileSync(file, JSON.stringify({failures, passes, pending, tests}))
    })
  }
}

module.exports = TokenctlReporter
