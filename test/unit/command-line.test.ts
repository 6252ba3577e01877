/**
 * Command-line mistakes in tokenctl's words (src/lib/parse-errors.ts): oclif's parser runs on the real
 * commands' flag definitions, and each of its errors is told as one line naming the flag as typed and
 * what to do. test/e2e/first-hour.test.ts sees the same through the CLI.
 */
import {strict as assert} from 'node:assert'

import {Parser} from '@oclif/core'

import Call from '../../src/commands/call.js'
import ClientAdd from '../../src/commands/client/add.js'
import ClientShow from '../../src/commands/client/show.js'
import SessionRefresh from '../../src/commands/session/refresh.js'
import SessionShow from '../../src/commands/session/show.js'
import TokenClient from '../../src/commands/token/client.js'
import TokenUser from '../../src/commands/token/user.js'
import {BaseCommand} from '../../src/lib/base-command.js'
import {ExitCode, type UsageError} from '../../src/lib/errors.js'
import {type CommandFacts, type FlagFacts, namingParser, spellingOf, usageErrorFrom} from '../../src/lib/parse-errors.js'
import {closestNames, unknownCommandLine} from '../../src/lib/suggest.js'

interface CommandClass {
  args?: Record<string, unknown>
  enableJsonFlag?: boolean
  examples?: string[]
  flags?: Record<string, unknown>
  strict?: boolean
}

/** The line a command line gets: oclif's parse of the command's own flags, its error told as BaseCommand tells it. */
async function told(command: CommandClass, id: string, argv: string[]): Promise<string> {
  const definitions = {...BaseCommand.baseFlags, ...command.flags} as Record<string, FlagFacts & {type: string}>
  if (command.enableJsonFlag !== false) definitions.json = {parse: async (value: unknown) => value, type: 'boolean'}
  const flags = Object.fromEntries(Object.entries(definitions).map(([name, flag]) => [name, namingParser(name, flag)]))
  const facts: CommandFacts = {
    args: (command.args ?? {}) as CommandFacts['args'],
    argv,
    bin: 'tokenctl',
    examples: (command.examples ?? []).map((example) => example.replaceAll('<%= config.bin %>', 'tokenctl').replaceAll('<%= command.id %>', id)),
    flags: definitions,
    id,
  }
  try {
    await Parser.parse(argv, {args: command.args ?? {}, context: {}, flags: flags as any, strict: command.strict !== false} as any)
  } catch (error) {
    const usage: UsageError = usageErrorFrom(error, facts)
    assert.equal(usage.exitCode, ExitCode.usage)
    return [usage.message, ...usage.suggestions].join(' — ')
  }

  throw new Error(`${argv.join(' ')} was accepted`)
}

describe("command-line mistakes in tokenctl's words", () => {
  it('an unknown flag names the command and the closest flag of that command', async () => {
    assert.equal(await told(TokenClient, 'token client', ['--scop', 'read']), 'unknown flag --scop for token client — did you mean --scope?')
    assert.equal(await told(TokenClient, 'token client', ['--isuer=https://idp']), 'unknown flag --isuer for token client — did you mean --issuer?')
    assert.equal(await told(SessionRefresh, 'session refresh', ['--sesion-key', 'k']), 'unknown flag --sesion-key for session refresh — did you mean --session-key?')
    assert.equal(await told(TokenClient, 'token client', ['--zzzzzz']), 'unknown flag --zzzzzz for token client — tokenctl token client --help lists its flags')
  })

  it('a secret typed as a flag is still refused as one, never named as a typo of another flag', async () => {
    assert.match(await told(TokenClient, 'token client', ['--client-secret', 'hunter2']), /^secrets are never taken as flag values: --client-secret does not exist/)
  })

  it('two flags that cannot go together, a flag without the one it needs: named as typed', async () => {
    assert.equal(await told(TokenUser, 'token user', ['--browser', '--device']), '--browser and --device cannot go together — give one of them')
    assert.equal(
      await told(TokenClient, 'token client', ['--certificate-password-env', 'P']),
      '--certificate-password-env goes with --certificate-file — give --certificate-file too, or leave --certificate-password-env out',
    )
  })

  it('a flag without its value, a flag given twice (under two spellings too), a value outside its options', async () => {
    assert.equal(await told(SessionShow, 'session show', ['--key']), '--key needs a value — e.g. tokenctl session show --session-key nightly-report')
    assert.equal(await told(TokenClient, 'token client', ['--format', 'env', '--format', 'env']), '--format is given twice — give it once')
    assert.equal(await told(SessionShow, 'session show', ['--key', 'a', '--session-key', 'b']), '--key and --session-key are one flag, given twice — give it once')
    assert.equal(await told(TokenClient, 'token client', ['--format', 'nope']), '--format takes one of: token, header, env, exec-credential')
  })

  it("a value its parser refuses: an integer's bounds, a variable's name; never the value typed", async () => {
    assert.equal(await told(TokenClient, 'token client', ['--timeout', '2147484']), '--timeout takes a whole number from 1 to 86400')
    assert.equal(await told(TokenClient, 'token client', ['--min-ttl', 'soon']), '--min-ttl takes a whole number of 0 or more')
    const secret = await told(TokenClient, 'token client', ['--client-secret-env', 's3cr3t value'])
    assert.equal(secret, '--client-secret-env takes the NAME of an environment variable, not a secret')
  })

  it('arguments: one missing, one too many (not repeated: it may be a secret pasted in the wrong place)', async () => {
    assert.equal(await told(ClientShow, 'client show', []), 'missing the argument NAME — e.g. tokenctl client show ci')
    assert.equal(await told(ClientShow, 'client show', ['ci', 'pasted-secret']), 'one argument too many: client show takes NAME — e.g. tokenctl client show ci')
    assert.equal(await told(Call, 'call', []), 'missing the argument URL — e.g. tokenctl call https://api.example.com/things --client ci')
  })

  it('client add: its id and its server are required flags (a client keeps no TOKENCTL_* variable)', async () => {
    assert.match(await told(ClientAdd, 'client add', ['foo']), /^missing required flag --client-id — e\.g\. /)
    assert.match(await told(ClientAdd, 'client add', ['foo', '--client-id', 'x']), /^missing one of --issuer, --token-endpoint — e\.g\. /)
  })

  it('the spelling a user typed: an alias (--key for --session-key), a char, or the name when not typed', () => {
    const command = {argv: ['--key=a', '-o', 'f'], flags: {output: {char: 'o', type: 'option'}, 'session-key': {aliases: ['key'], type: 'option'}} as Record<string, FlagFacts>}
    assert.equal(spellingOf('session-key', command), '--key')
    assert.equal(spellingOf('output', command), '-o')
    assert.equal(spellingOf('session-key', {...command, argv: []}), '--session-key')
  })
})

describe('closest names', () => {
  it('flags: the closest by edit distance, or those that begin with what was typed', () => {
    const flags = ['scope', 'issuer', 'client-id', 'certificate-file', 'certificate-password-env', 'format']
    assert.deepEqual(closestNames('scop', flags), ['scope'])
    assert.deepEqual(closestNames('isuer', flags), ['issuer'])
    assert.deepEqual(closestNames('clinet-id', flags), ['client-id'])
    assert.deepEqual(closestNames('cert', flags), ['certificate-file', 'certificate-password-env'])
    assert.deepEqual(closestNames('zzzzzz', flags), [])
  })

  it('an unknown command: the closest commands; the ways other tools ask for a version: --version', () => {
    const commands = ['dev', 'dev idp', 'session', 'session refresh', 'token', 'token client']
    assert.equal(
      unknownCommandLine(['token', 'clinet'], [], commands, 'tokenctl'),
      'Error: token clinet is not a tokenctl command — did you mean `token client`? (`tokenctl help` lists every command)',
    )
    for (const word of ['-v', '-V', 'version']) {
      assert.equal(unknownCommandLine([word], [], commands, 'tokenctl'), `Error: ${word} is not a tokenctl command — did you mean \`tokenctl --version\`?`)
    }
  })
})
