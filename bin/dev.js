#!/usr/bin/env -S node --import tsx --disable-warning=ExperimentalWarning
import {execute} from '@oclif/core'

const home = process.env.TOKENCTL_HOME
if (home) for (const kind of ['CACHE', 'CONFIG', 'DATA']) process.env[`TOKENCTL_${kind}_DIR`] ??= `${home}/oclif/${kind.toLowerCase()}`

await execute({development: true, dir: import.meta.url})
