#!/usr/bin/env node
// `npm run build`: compiles into a temporary folder, adds the fast path's flag table and bundle, and
// swaps it in for dist/ only once all of that has succeeded, so that a tokenctl linked with `npm link`
// keeps working while the tests rebuild (and a failed build leaves the last good one in place). Then
// the oclif manifest, without oclif's "update available" check (oclif 6 needs Node 22; tokenctl
// supports Node 20.19).
import {spawnSync} from 'node:child_process'
import {existsSync, renameSync, rmSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {build, buildSync} from 'esbuild'

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

/**
 * The fast path of bin/run.js as one CommonJS file: a cache hit then loads one script instead of some
 * fifty ES modules, and Node's built-in modules without the ES module facades. Dependencies stay
 * outside, loaded by the code that needs them when it runs (undici, chalk…), except three: env-paths,
 * an ES module on the hit path, goes in; openid-client (with oauth4webapi and jose, some fifteen ES
 * modules) becomes a CommonJS file of its own beside it, required only when a token request is made,
 * whose Headers and Response are tokenctl's small ones (src/fast-path/fetch-classes.ts) instead of
 * fetch's, whose module costs a token request ~24 ms of CPU to load; and so does ioredis (some forty
 * CommonJS files with its dependencies), required only by the Redis store: a fleet's hit loads one
 * file instead, about 45 ms of CPU less.
 */
function bundleFastPath(tree) {
  const {dependencies} = require(join(root, 'package.json'))
  const common = {bundle: true, format: 'cjs', logLevel: 'warning', platform: 'node', target: 'node20'}
  // import('openid-client') and import('ioredis') in the bundle become requires of the files beside it.
  const beside = {'openid-client': './openid-client.cjs', ioredis: './ioredis.cjs'}
  const besideFiles = {
    name: 'bundles-beside',
    setup(build) {
      build.onResolve({filter: /^(openid-client|ioredis)$/}, ({path}) => ({namespace: 'beside', path}))
      build.onLoad({filter: /.*/, namespace: 'beside'}, ({path}) => ({contents: `module.exports = require('${beside[path]}')`, loader: 'js'}))
      build.onResolve({filter: /^\.\/(openid-client|ioredis)\.cjs$/}, ({path}) => ({external: true, path}))
    },
  }
  try {
    buildSync({
      ...common,
      inject: [join(tree, 'fast-path', 'fetch-classes.js')],
      outfile: join(tree, 'fast-path', 'openid-client.cjs'),
      stdin: {contents: "export * from 'openid-client'", resolveDir: root},
    })
    buildSync({...common, entryPoints: [require.resolve('ioredis')], outfile: join(tree, 'fast-path', 'ioredis.cjs')})
    return build({
      ...common,
      banner: {js: "const __import_meta_url = require('node:url').pathToFileURL(__filename).href;"},
      define: {'import.meta.url': '__import_meta_url'},
      entryPoints: [join(tree, 'fast-path', 'index.js')],
      external: Object.keys(dependencies).filter((name) => name !== 'env-paths' && !(name in beside)),
      outfile: join(tree, 'fast-path', 'bundle.cjs'),
      plugins: [besideFiles],
    }).catch(() => fail(tree))
  } catch {
    fail(tree)
  }
}

/** esbuild has printed why. */
function fail(tree) {
  rmSync(tree, {force: true, recursive: true})
  process.exit(1)
}

run(require.resolve('typescript/bin/tsc'), ['-p', 'tsconfig.json', '--outDir', next])
// The fast path's flag table, read off the compiled commands (scripts/fast-path-table.mjs).
run(join(root, 'scripts', 'fast-path-table.mjs'), [next])
await bundleFastPath(next)
// Two renames: dist/ is missing for the microseconds between them, not for the whole build.
if (existsSync(dist)) renameSync(dist, old)
renameSync(next, dist)
rmSync(old, {force: true, recursive: true})
run(join(dirname(require.resolve('oclif/package.json')), 'bin', 'run.js'), ['manifest'], {OCLIF_SKIP_NEW_VERSION_CHECK: 'true'})
