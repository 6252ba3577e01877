#!/usr/bin/env node
import {createRequire} from 'node:module'

import {usePrivateUmask} from '../dist/lib/umask.js'

// oclif's own folders (the autocomplete cache…) follow TOKENCTL_HOME, like all of tokenctl's state.
const home = process.env.TOKENCTL_HOME
if (home) for (const kind of ['CACHE', 'CONFIG', 'DATA']) process.env[`TOKENCTL_${kind}_DIR`] ??= `${home}/oclif/${kind.toLowerCase()}`

// Files 0600 and folders 0700 under TOKENCTL_HOME whatever the umask, before anything is written.
usePrivateUmask()

// The commands CI jobs and cron run again and again are served without loading oclif (src/fast-path/,
// bundled into one CommonJS file by scripts/build.mjs); everything else, and any command line the fast
// path does not read exactly as oclif would, goes to oclif.
const {runFastPath} = createRequire(import.meta.url)('../dist/fast-path/bundle.cjs')
if (!(await runFastPath(process.argv.slice(2)))) {
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
