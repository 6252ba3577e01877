#!/usr/bin/env node
// Part of `npm run build` (after `oclif manifest`): the flag table of the commands that the fast path
// of bin/run.js serves without loading oclif (src/fast-path/), read off the commands' own flag
// definitions, so that there is one definition of each flag. Every property of a flag is either
// carried over or makes the command ineligible: a flag the table cannot describe exactly is never
// guessed at. Value parsers are named by identity: oclif's integer parser, tokenctl's
// environmentVariableName, the identity of Flags.string; any other parser is "custom", and a command
// line that uses such a flag goes to oclif.
import {writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {Args, Flags} from '@oclif/core'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// The compiled tree to read and write into: scripts/build.mjs passes its temporary folder, before the swap.
const dist = resolve(root, process.argv[2] ?? 'dist')
const require = createRequire(import.meta.url)
const {aggregateFlags} = require(join(dirname(require.resolve('@oclif/core')), 'util', 'aggregate-flags.js'))
const load = (...parts) => import(pathToFileURL(join(dist, ...parts)).href)
const {FAST_COMMANDS} = await load('fast-path', 'commands.js')
const {environmentVariableName} = await load('lib', 'secret-variables.js')

const INTEGER = Flags.integer().parse
const TEXT = Flags.string().parse.toString()
const BOOLEAN = Flags.boolean().parse.toString()
const ARG_TEXT = Args.string().parse.toString()

/**
 * Properties that only shape help, or that the table carries over. emptyValueAllowed needs no
 * carrying: the fast path hands every empty value to oclif (src/lib/empty-values.ts).
 */
const DESCRIPTIVE = new Set(['description', 'emptyValueAllowed', 'helpGroup', 'helpValue', 'hidden', 'input', 'name', 'summary', 'hasDynamicHelp', 'noCacheDefault'])
const CARRIED = new Set(['aliases', 'char', 'default', 'dependsOn', 'exclusive', 'max', 'min', 'multiple', 'options', 'parse', 'required', 'type', 'allowNo'])

const present = (value) => value !== undefined && value !== false && !(Array.isArray(value) && value.length === 0)

function valueKind(flag) {
  if (flag.type === 'boolean') return flag.parse.toString() === BOOLEAN ? 'boolean' : 'custom'
  if (flag.parse === INTEGER) return 'integer'
  if (flag.parse === environmentVariableName) return 'environment-variable'
  return flag.parse.toString() === TEXT ? 'text' : 'custom'
}

/** The flag as the fast path reads it, or why it cannot. */
function flagSpec(name, flag) {
  for (const [property, value] of Object.entries(flag)) {
    if (DESCRIPTIVE.has(property) || !present(value)) continue
    if (!CARRIED.has(property)) return {problem: `--${name} has ${property}`}
  }

  if (flag.allowNo) return {problem: `--${name} has allowNo`}
  if (typeof flag.default === 'function') return {problem: `--${name} has a computed default`}
  for (const relation of ['dependsOn', 'exclusive']) {
    if ((flag[relation] ?? []).some((other) => typeof other !== 'string')) return {problem: `--${name} has a conditional ${relation}`}
  }

  const spec = {type: flag.type, value: valueKind(flag)}
  for (const property of ['aliases', 'char', 'default', 'dependsOn', 'exclusive', 'max', 'min', 'multiple', 'options', 'required']) {
    if (present(flag[property])) spec[property] = flag[property]
  }

  return {spec}
}

function commandSpec(command) {
  if (command.strict === false) return {problem: 'it takes any number of arguments'}
  const args = []
  for (const [name, arg] of Object.entries(command.args ?? {})) {
    // An argument read from stdin when it is not given would be a read the fast path does not do.
    if (!arg.ignoreStdin) return {problem: `argument ${name} may be read from stdin`}
    if (present(arg.default)) return {problem: `argument ${name} has a default`}
    if (arg.parse.toString() !== ARG_TEXT) return {problem: `argument ${name} has a parser`}
    args.push({name, ...(arg.options ? {options: arg.options} : {}), ...(arg.required ? {required: true} : {})})
  }

  const flags = {}
  for (const [name, flag] of Object.entries(aggregateFlags(command.flags, command.baseFlags, command.enableJsonFlag))) {
    const {problem, spec} = flagSpec(name, flag)
    if (problem) return {problem}
    flags[name] = spec
  }

  return {spec: {args, flags}}
}

const table = {}
for (const id of Object.keys(FAST_COMMANDS)) {
  const {default: command} = await load('commands', `${id.replaceAll(':', '/')}.js`)
  const {problem, spec} = commandSpec(command)
  // Left to oclif (slower, never wrong); test/e2e/fast-path.test.ts fails when a fast command goes missing.
  if (problem) console.warn(`fast-path-table: ${id} is left to oclif: ${problem}`)
  else table[id] = spec
}

writeFileSync(join(dist, 'fast-path', 'table.json'), `${JSON.stringify(table, undefined, 1)}\n`)
