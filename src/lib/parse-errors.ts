/**
 * A command-line mistake that oclif's parser found, said as tokenctl says everything else: one line
 * naming the flag or argument as the user typed it, then what to do (an example of the command, the
 * closest flag), exit 2. The kind of mistake comes from oclif's error classes and the state of the
 * parse they carry, never from the wording of oclif's messages; nothing here repeats a value the user
 * typed, which may be a secret pasted in the wrong place.
 */
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'

import {Errors, Flags} from '@oclif/core'

import {UsageError} from './errors.js'
import {secretFlagRefusal} from './secret-flags.js'
import {closestNames} from './suggest.js'

/** What this module reads of a flag's definition. */
export interface FlagFacts {
  aliases?: string[]
  atLeastOne?: string[]
  char?: string
  dependsOn?: unknown[]
  exclusive?: unknown[]
  hidden?: boolean
  max?: number
  min?: number
  multiple?: boolean
  options?: readonly string[]
  parse?: unknown
  required?: boolean
  type: 'boolean' | 'option'
}

/** The command whose command line is read: its id as typed (`token client`), its flags, its examples. */
export interface CommandFacts {
  argv: string[]
  args: Record<string, {required?: boolean}>
  bin: string
  examples: string[]
  flags: Record<string, FlagFacts>
  /** `token client`, as a user types it. */
  id: string
}

/** The state oclif's parse errors carry (CLIParseError.parse). */
interface ParseState {
  input?: {flags?: Record<string, FlagFacts>}
  output?: {flags?: Record<string, unknown>; metadata?: {flags?: Record<string, {setFromDefault?: boolean}>}}
}

type ErrorClass<T = Error> = abstract new (...args: never[]) => T
type ParseError = Error & {parse: ParseState}
type NonExistentFlags = ParseError & {flags: string[]}
type RequiredArgs = ParseError & {args: Array<{name?: string}>}
type UnexpectedArgs = ParseError & {args: unknown[]}

/** The classes of oclif's parse errors that tokenctl tells apart, with what each carries. */
interface ParserErrors {
  CLIParseError: ErrorClass<ParseError>
  FailedFlagValidationError: ErrorClass<ParseError>
  FlagInvalidOptionError: ErrorClass<ParseError>
  NonExistentFlagsError: ErrorClass<NonExistentFlags>
  RequiredArgsError: ErrorClass<RequiredArgs>
  UnexpectedArgsError: ErrorClass<UnexpectedArgs>
}

/**
 * oclif's parser errors (@oclif/core's src/parser/errors.ts). Its package exports them to no one, so
 * they are loaded from the very file its parser loads them from: the same classes, for instanceof.
 */
const require = createRequire(import.meta.url)
const parserErrors = require(join(dirname(require.resolve('@oclif/core')), 'parser', 'errors.js')) as ParserErrors

/** oclif's integer parser (Flags.integer), shared by every integer flag. */
const INTEGER_PARSE = Flags.integer().parse

/** A flag's own parser refused its value; `reason` is the parser's words (oclif rewrites `message`). */
export class FlagValueError extends Error {
  constructor(
    readonly flag: string,
    readonly reason: string,
  ) {
    super(reason)
  }
}

/** The flag's parser, wrapped so that a refusal says which flag refused (see FlagValueError). */
export function namingParser<F extends {parse?: unknown; type: string}>(name: string, flag: F): F {
  const parse = flag.parse as ((...args: unknown[]) => Promise<unknown>) | undefined
  if (flag.type !== 'option' || typeof parse !== 'function') return flag
  return {
    ...flag,
    async parse(...args: unknown[]) {
      try {
        return await parse(...args)
      } catch (error) {
        throw new FlagValueError(name, (error as Error).message)
      }
    },
  }
}

/** A too-many-arguments mistake: a command may say more about it (`exec`: the command goes after --). */
export class UnexpectedArgumentsError extends UsageError {}

/** Where a word of argv points: a flag of the command (by name, alias or char), with its spelling. */
interface FlagWord {
  inline?: string
  name: string
  spelling: string
}

function flagWord(word: string, flags: Record<string, FlagFacts>): FlagWord | undefined {
  if (word.startsWith('--')) {
    const equals = word.indexOf('=')
    const spelling = equals === -1 ? word : word.slice(0, equals)
    const typed = spelling.slice(2)
    const name = Object.hasOwn(flags, typed) ? typed : Object.keys(flags).find((candidate) => flags[candidate].aliases?.includes(typed))
    return name === undefined ? undefined : {inline: equals === -1 ? undefined : word.slice(equals + 1), name, spelling}
  }

  if (/^-[^-]/.test(word)) {
    const name = Object.keys(flags).find((candidate) => flags[candidate].char === word[1])
    return name === undefined ? undefined : {inline: word.length > 2 ? word.slice(2).replace(/^=/, '') : undefined, name, spelling: word.slice(0, 2)}
  }

  return undefined
}

/** The flag as the user typed it (`--key` for --session-key), or by its name when it was not typed. */
export function spellingOf(name: string, command: Pick<CommandFacts, 'argv' | 'flags'>): string {
  for (const word of command.argv) {
    if (word === '--') break
    const flag = flagWord(word, command.flags)
    if (flag?.name === name) return flag.spelling
  }

  return `--${name}`
}

/** The first of the command's examples that uses one of these words (a flag's spellings, the command's name). */
function exampleWith(words: string[], command: CommandFacts): string | undefined {
  return command.examples.find((example) => words.some((word) => example.includes(word)))
}

const exampleHint = (example: string | undefined) => [example ? `e.g. ${example}` : 'see --help']

/** The flag's spellings that an example could show: its name, then its aliases. */
const spellings = (name: string, flag: FlagFacts | undefined) => [`--${name} `, ...(flag?.aliases ?? []).map((alias) => `--${alias} `)]

function unknownFlags(error: NonExistentFlags, command: CommandFacts): UsageError {
  const names = error.flags.map((flag) => flag.split('=', 1)[0])
  const refusal = secretFlagRefusal(names, command)
  if (refusal) return refusal
  const visible = Object.entries(command.flags).filter(([, flag]) => !flag.hidden)
  const candidates = visible.flatMap(([name, flag]) => [name, ...(flag.aliases ?? [])])
  const guesses = names.map((typed) => ({guess: typed.startsWith('--') ? closestNames(typed.slice(2), candidates) : [], typed}))
  const suggestions: string[] = []
  if (names.includes('--json') && !('json' in command.flags)) suggestions.push(`${command.id} has no --json output`)
  const guessed = guesses.filter(({guess, typed}) => guess.length > 0 && typed !== '--json')
  if (guessed.length === 1 && names.length === 1) {
    suggestions.push(`did you mean ${guessed[0].guess.map((name) => `--${name}`).join(' or ')}?`)
  } else if (guessed.length > 0) {
    suggestions.push(`did you mean ${guessed.map(({guess, typed}) => `--${guess[0]} for ${typed}`).join(', ')}?`)
  }

  if (suggestions.length === 0) suggestions.push(`${command.bin} ${command.id} --help lists its flags`)
  return new UsageError(`unknown flag${names.length > 1 ? 's' : ''} ${names.join(', ')} for ${command.id}`, 'usage_error', {suggestions})
}

/** How a command's arguments read in a message: `NAME`, `[TOKEN] [NAME]`, or none. */
function argumentList(command: CommandFacts): string {
  const args = Object.entries(command.args).map(([name, arg]) => (arg.required ? name.toUpperCase() : `[${name.toUpperCase()}]`))
  return args.length === 0 ? 'no arguments' : args.join(' ')
}

function tooManyArguments(error: UnexpectedArgs, command: CommandFacts): UsageError {
  const extra = error.args.length
  return new UnexpectedArgumentsError(`${extra === 1 ? 'one argument' : `${extra} arguments`} too many: ${command.id} takes ${argumentList(command)}`, 'usage_error', {
    suggestions: exampleHint(command.examples[0]),
  })
}

function missingArguments(error: RequiredArgs, command: CommandFacts): UsageError {
  const names = error.args.map((arg) => (arg.name ?? 'argument').toUpperCase())
  return new UsageError(`missing the argument${names.length > 1 ? 's' : ''} ${names.join(' ')}`, 'usage_error', {
    suggestions: exampleHint(exampleWith([`${command.id} `], command)),
  })
}

/** What oclif's validation refused (required, exclusive, dependsOn), read off the parse it carries. */
function failedValidation(parse: ParseState, command: CommandFacts): UsageError | undefined {
  const definitions = parse.input?.flags ?? command.flags
  const values = parse.output?.flags ?? {}
  const fromDefault = (name: string) => parse.output?.metadata?.flags?.[name]?.setFromDefault === true
  const given = (name: string) => values[name] !== undefined && !fromDefault(name)
  const spell = (name: string) => spellingOf(name, command)

  const missing = Object.entries(definitions)
    .filter(([name, flag]) => flag.required && values[name] === undefined)
    .map(([name]) => name)
  if (missing.length > 0) {
    return new UsageError(`missing required flag${missing.length > 1 ? 's' : ''} ${missing.map((name) => `--${name}`).join(', ')}`, 'usage_error', {
      suggestions: exampleHint(exampleWith(spellings(missing[0], definitions[missing[0]]), command)),
    })
  }

  const oneOf = Object.values(definitions).find((flag) => flag.atLeastOne?.length && !flag.atLeastOne.some((name) => values[name] !== undefined))?.atLeastOne
  if (oneOf) {
    return new UsageError(`missing one of ${oneOf.map((name) => `--${name}`).join(', ')}`, 'usage_error', {
      suggestions: exampleHint(
        exampleWith(
          oneOf.flatMap((name) => spellings(name, definitions[name])),
          command,
        ),
      ),
    })
  }

  const named = (list: unknown[] | undefined) => (list ?? []).filter((other): other is string => typeof other === 'string')
  for (const [name, flag] of Object.entries(definitions)) {
    if (!given(name)) continue
    const conflict = named(flag.exclusive).find((other) => given(other))
    if (conflict !== undefined) {
      return new UsageError(`${spell(name)} and ${spell(conflict)} cannot go together`, 'usage_error', {suggestions: ['give one of them']})
    }

    const absent = named(flag.dependsOn).filter((other) => values[other] === undefined)
    if (absent.length > 0) {
      const needed = absent.map((other) => `--${other}`).join(' and ')
      return new UsageError(`${spell(name)} goes with ${needed}`, 'usage_error', {suggestions: [`give ${needed} too, or leave ${spell(name)} out`]})
    }
  }

  return undefined
}

/** A flag's value that its parser refused: an integer's bounds from its definition, else the parser's own words. */
function refusedValue(error: FlagValueError, command: CommandFacts): UsageError {
  const flag = command.flags[error.flag]
  const spelling = spellingOf(error.flag, command)
  if (flag?.parse !== INTEGER_PARSE) return new UsageError(`${spelling} ${error.reason}`)
  const {max, min} = flag
  const range = min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min === undefined ? (max === undefined ? '' : ` up to ${max}`) : ` of ${min} or more`
  return new UsageError(`${spelling} takes a whole number${range}`)
}

/**
 * The mistakes oclif's parser reports without a class of their own (a flag without its value, a flag
 * given twice) or without saying which flag (a value outside a flag's options): found again by
 * reading argv with the command's flag definitions, the first one as oclif meets it.
 */
function argvMistake(command: CommandFacts): UsageError | undefined {
  const seen = new Map<string, string>()
  const {argv, flags} = command
  for (let at = 0; at < argv.length; at++) {
    if (argv[at] === '--') break
    const word = flagWord(argv[at], flags)
    if (!word || flags[word.name].type !== 'option') continue
    const flag = flags[word.name]
    const value = word.inline ?? argv[at + 1]
    if (word.inline === undefined) at++
    if (value === undefined || flagWord(value, flags) !== undefined) {
      const choices = flag.options ? `: one of ${flag.options.join(', ')}` : ''
      return new UsageError(`${word.spelling} needs a value${choices}`, 'usage_error', {suggestions: exampleHint(exampleWith(spellings(word.name, flag), command))})
    }

    const before = seen.get(word.name)
    if (before !== undefined && !flag.multiple) {
      const twice = before === word.spelling ? `${word.spelling} is given twice` : `${before} and ${word.spelling} are one flag, given twice`
      return new UsageError(twice, 'usage_error', {suggestions: ['give it once']})
    }

    seen.set(word.name, word.spelling)
    if (flag.options && !flag.options.includes(value)) return new UsageError(`${word.spelling} takes one of: ${flag.options.join(', ')}`)
  }

  return undefined
}

/** oclif's own words as a last resort: its message on one line, without its "See more help". */
function oneLine(message: string): string {
  return message
    .replace(/\s*See more help with --help\s*$/, '')
    .replaceAll(/\s*\n\s*/g, ' ')
    .trim()
}

/** Any failure of oclif's parse as a usage error in tokenctl's words. */
export function usageErrorFrom(error: unknown, command: CommandFacts): UsageError {
  if (error instanceof FlagValueError) return refusedValue(error, command)
  if (error instanceof parserErrors.NonExistentFlagsError) return unknownFlags(error, command)
  if (error instanceof parserErrors.UnexpectedArgsError) return tooManyArguments(error, command)
  if (error instanceof parserErrors.RequiredArgsError) return missingArguments(error, command)
  if (error instanceof parserErrors.FailedFlagValidationError) {
    const failure = failedValidation(error.parse, command)
    if (failure) return failure
  }

  if (error instanceof parserErrors.FlagInvalidOptionError || (error instanceof Errors.CLIError && !(error instanceof parserErrors.CLIParseError))) {
    const mistake = argvMistake(command)
    if (mistake) return mistake
  }

  return new UsageError(oneLine((error as Error)?.message ?? String(error)), 'usage_error', {suggestions: ['see --help']})
}
