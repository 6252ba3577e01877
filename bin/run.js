#!/usr/bin/env node
import {execute} from '@oclif/core'

import {usePrivateUmask} from '../dist/lib/umask.js'

// oclif's own folders (the autocomplete cache…) follow TOKENCTL_HOME, like all of tokenctl's state.
const home = process.env.TOKENCTL_HOME
if (home) for (const kind of ['CACHE', 'CONFIG', 'DATA']) process.env[`TOKENCTL_${kind}_DIR`] ??= `${home}/oclif/${kind.toLowerCase()}`

// Files 0600 and folders 0700 under TOKENCTL_HOME whatever the umask, before anything is written.
usePrivateUmask()

await execute({dir: import.meta.url})
