/**
 * The scores of the last `npm run mutation` runs, one line per mutated file, from Stryker's JSON
 * reports (reports/mutation/SET.json, in mutation-testing-report-schema format). Reading them costs
 * nothing; producing them takes minutes, so the bench never runs Stryker itself.
 */
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const REPORTS = fileURLToPath(new URL('../reports/mutation/', import.meta.url))
const DETECTED = new Set(['Killed', 'Timeout'])
const VALID = new Set(['Killed', 'Timeout', 'Survived', 'NoCoverage'])

interface Report {
  files: Record<string, {mutants: Array<{status: string}>}>
}

export function mutationScores(): void {
  const reports = existsSync(REPORTS) ? readdirSync(REPORTS).filter((name) => name.endsWith('.json')) : []
  console.log('\nmutation scores (last `npm run mutation`; killed + timed out over valid mutants)')
  if (reports.length === 0) {
    console.log('  none yet: run `npm run mutation` (MUTATION_SET=core by default; see stryker.config.mjs)')
    return
  }

  for (const name of reports) {
    const file = join(REPORTS, name)
    const report = JSON.parse(readFileSync(file, 'utf8')) as Report
    console.log(`  set ${name.replace(/\.json$/, '')} (${statSync(file).mtime.toISOString()})`)
    for (const [source, {mutants}] of Object.entries(report.files)) {
      const valid = mutants.filter((mutant) => VALID.has(mutant.status))
      const detected = valid.filter((mutant) => DETECTED.has(mutant.status)).length
      const survived = valid.length - detected
      const score = valid.length === 0 ? 'n/a' : `${((100 * detected) / valid.length).toFixed(1)} %`
      console.log(`    ${source.padEnd(40)} ${score.padStart(8)}   ${detected}/${valid.length} detected, ${survived} survived`)
    }
  }
}
