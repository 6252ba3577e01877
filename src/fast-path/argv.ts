/**
 * The command line of a fast-path command, parsed as oclif parses it, from the flag table that the
 * build reads off the commands' own flag definitions (scripts/fast-path-table.mjs). This is a
 * recogniser, not a second parser: it accepts only what it reads exactly as oclif would, and answers
 * undefined for everything else — an unknown or misspelt flag, a missing or invalid value, `--`,
 * `-oPATH`, a flag that takes a value outside the table's rules, a conflict — which then goes to oclif,
 * whose parser and messages stay the only ones a user ever sees for a mistake.
 */
import {environmentVariableName} from '../lib/secret-variables.js'

/** How a value is parsed: by oclif's integer parser, by environmentVariableName, as is, or by code the table cannot name. */
export type ValueKind = 'boolean' | 'custom' | 'environment-variable' | 'integer' | 'text'

export interface FlagSpec {
  /** Other long names of the flag (`--key` for --session-key), read as the flag itself. */
  aliases?: string[]
  char?: string
  default?: unknown
  dependsOn?: string[]
  exclusive?: string[]
  max?: number
  min?: number
  multiple?: boolean
  options?: string[]
  required?: boolean
  type: 'boolean' | 'option'
  value: ValueKind
}

export interface ArgSpec {
  name: string
  options?: string[]
  required?: boolean
}

export interface CommandSpec {
  args: ArgSpec[]
  flags: Record<string, FlagSpec>
}

export interface ParsedArgv {
  args: Record<string, string>
  /** What follows the first `--` of a command that runs another (`exec`), untouched. */
  command?: string[]
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as oclif's parsed flags are: each operation reads them through the types inferred from its command's definitions, which the table was built from
  flags: Record<string, any>
}

const INTEGER = /^-?\d+$/

/** Values of oclif's own rules (options, integer range, the flag's parser); undefined when oclif would refuse or the table cannot tell. */
async function flagValue(flag: FlagSpec, input: string): Promise<unknown> {
  if (flag.options && !flag.options.includes(input)) return undefined
  switch (flag.value) {
    case 'environment-variable': {
      return environmentVariableName(input).catch(() => undefined)
    }

    case 'integer': {
      if (!INTEGER.test(input)) return undefined
      const number = Number.parseInt(input, 10)
      if ((flag.min !== undefined && number < flag.min) || (flag.max !== undefined && number > flag.max)) return undefined
      return number
    }

    case 'text': {
      return input
    }

    default: {
      return undefined
    }
  }
}

/**
 * A token oclif would take as a flag's value: anything but what starts with a dash (bar "-" itself,
 * stdout for -o). An empty value is not read here either: whether it is refused or is data is
 * oclif's (BaseCommand's) to say, in one place (src/lib/empty-values.ts).
 */
const plainValue = (value: string | undefined): value is string => value !== undefined && value !== '' && (value === '-' || !value.startsWith('-'))

export async function parseArgv(argv: string[], spec: CommandSpec): Promise<ParsedArgv | undefined> {
  const flagOf = (name: string | undefined) => (name !== undefined && Object.hasOwn(spec.flags, name) ? spec.flags[name] : undefined)
  const chars = new Map(Object.entries(spec.flags).flatMap(([name, flag]) => (flag.char ? [[flag.char, name] as const] : [])))
  const aliases = new Map(Object.entries(spec.flags).flatMap(([name, flag]) => (flag.aliases ?? []).map((alias) => [alias, name] as const)))
  const inputs = new Map<string, string[]>()
  const positional: string[] = []
  // oclif's "current flag": the last option flag read. A word after a multiple-value flag belongs to it
  // (`--scope a b`), which the fast path leaves to oclif.
  let current: FlagSpec | undefined
  for (let at = 0; at < argv.length; at++) {
    const token = argv[at]
    // An empty argument is refused by oclif (src/lib/empty-values.ts), never read as "not given".
    if (token === '') return undefined
    if (!token.startsWith('-') || token === '-') {
      if (current?.multiple) return undefined
      positional.push(token)
      continue
    }

    let name: string | undefined
    let inline: string | undefined
    if (token.startsWith('--')) {
      const equals = token.indexOf('=')
      const typed = equals === -1 ? token.slice(2) : token.slice(2, equals)
      name = Object.hasOwn(spec.flags, typed) ? typed : aliases.get(typed)
      inline = equals === -1 ? undefined : token.slice(equals + 1)
    } else if (token.length === 2) {
      name = chars.get(token[1])
    }

    const flag = flagOf(name)
    if (!flag || name === undefined) return undefined
    if (flag.type === 'boolean') {
      if (inline !== undefined) return undefined
      inputs.set(name, [])
      continue
    }

    const value = inline ?? argv[++at]
    if (!plainValue(value)) return undefined
    if (inputs.has(name) && !flag.multiple) return undefined
    inputs.set(name, [...(inputs.get(name) ?? []), value])
    current = flag
  }

  if (positional.length > spec.args.length) return undefined
  const args: Record<string, string> = {}
  for (const [index, arg] of spec.args.entries()) {
    const value = positional[index]
    if (value === undefined) {
      if (arg.required) return undefined
      continue
    }

    if (arg.options && !arg.options.includes(value)) return undefined
    args[arg.name] = value
  }

  const flags: ParsedArgv['flags'] = {}
  const fromDefault = new Set<string>()
  for (const [name, flag] of Object.entries(spec.flags)) {
    const given = inputs.get(name)
    if (given === undefined) {
      if (flag.default !== undefined) {
        flags[name] = flag.default
        fromDefault.add(name)
      }

      continue
    }

    if (flag.type === 'boolean') {
      flags[name] = true
      continue
    }

    const values: unknown[] = []
    for (const input of given) {
      const value = await flagValue(flag, input)
      if (value === undefined) return undefined
      values.push(value)
    }

    flags[name] = flag.multiple ? values : values[0]
  }

  // oclif's validation (parser/validate.js): required, dependsOn, exclusive (defaults exempt).
  for (const [name, flag] of Object.entries(spec.flags)) {
    if (flags[name] === undefined) {
      if (flag.required) return undefined
      continue
    }

    if (flag.dependsOn?.some((other) => flags[other] === undefined)) return undefined
    const exempt = fromDefault.has(name)
    if (!exempt && flag.exclusive?.some((other) => flags[other] !== undefined && !fromDefault.has(other))) return undefined
  }

  return {args, flags}
}
