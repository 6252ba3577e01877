// Loaded by stryker.config.mjs only (`npm run mutation`). Stryker's mocha runner activates a mutant
// in this process through a global; the child processes the tests start (the file-store workers,
// the CLI on dist/) learn it from __STRYKER_ACTIVE_MUTANT__, which the instrumented code reads when
// it loads. Set at the start of every run (suites that start their processes in a `before` hook) and
// before each test, as the active mutant changes between runs.
const VARIABLE = '__STRYKER_ACTIVE_MUTANT__'

function handDown() {
  const active = globalThis.__stryker__?.activeMutant
  if (active === undefined) delete process.env[VARIABLE]
  else process.env[VARIABLE] = String(active)
}

exports.mochaHooks = {beforeAll: handDown, beforeEach: handDown}
