#!/usr/bin/env node
// `npm run build`: compiles into a temporary folder and swaps it in for dist/ only once tsc has
// succeeded, so that a tokenctl linked with `npm link` keeps working while the tests rebuild (and a
// failed build leaves the last good one in place), with the fast path's flag table. Then the oclif manifest, without oclif's
// "update available" check (oclif 6 needs Node 22; tokenctl supports Node 20.19).
import {spawnSync} from 'node:child_process'
import {existsSync, renameSync, rmSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const next = join(root, `.dist-next-${process.pid}`)
const old = join(root, `.dist-old-${process.pid}`)
const dist = join(root, 'dist')

function run(script, args, env = {}) {
  const result = spawnSync(process.execPath, [script, ...args], {cwd: root, env: {...process.env, ...env}, stdio: 'inherit'})
  if (result.status !== 0) {
    rmSync(next, {force: true, recursive: true})
    process.exit(result.status ?? 1)
  }
}

run(require.resolve('typescript/bin/tsc'), ['-p', 'tsconfig.json', '--outDir', next])
// The fast path's flag table, read off the compiled commands (scripts/fast-path-table.mjs).
run(join(root, 'scripts', 'fast-path-table.mjs'), [next])
// Two renames: dist/ is missing for the microseconds between them, not for the whole build.
if (existsSync(dist)) renameSync(dist, old)
renameSync(next, dist)
rmSync(old, {force: true, recursive: true})
run(join(dirname(require.resolve('oclif/package.json')), 'bin', 'run.js'), ['manifest'], {OCLIF_SKIP_NEW_VERSION_CHECK: 'true'})
