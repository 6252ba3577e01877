/**
 * The fast path's recogniser of command lines (src/fast-path/argv.ts): what it reads must be what
 * oclif reads, and everything else must come back undefined (then oclif parses it and reports any
 * mistake). test/e2e/fast-path.test.ts compares whole runs both ways; these pin the rules one by one.
 */
import {strict as assert} from 'node:assert'

import {type CommandSpec, parseArgv} from '../../src/fast-path/argv.js'
import {FAST_COMMANDS} from '../../src/fast-path/commands.js'
import {credentialSourceOf} from '../../src/lib/config/settings.js'
import {CREDENTIAL_FLAGS} from '../../src/lib/credential-flags.js'
import {connectionFlags} from '../../src/lib/flags.js'
import {environmentWithoutSecrets} from '../../src/lib/secret-variables.js'

const SPEC: CommandSpec = {
  args: [{name: 'name'}],
  flags: {
    'client-secret-env': {exclusive: ['client-secret-stdin'], type: 'option', value: 'environment-variable'},
    'client-secret-stdin': {exclusive: ['client-secret-env'], type: 'boolean', value: 'boolean'},
    custom: {type: 'option', value: 'custom'},
    format: {default: 'token', options: ['token', 'header', 'env'], type: 'option', value: 'text'},
    json: {type: 'boolean', value: 'boolean'},
    'min-ttl': {min: 0, type: 'option', value: 'integer'},
    output: {char: 'o', type: 'option', value: 'text'},
    'password-env': {dependsOn: ['output'], type: 'option', value: 'environment-variable'},
    scope: {multiple: true, type: 'option', value: 'text'},
    'session-key': {aliases: ['key'], type: 'option', value: 'text'},
  },
}

describe('the fast path reads a command line as oclif does, or not at all', () => {
  it('reads names, flags with a following or an = value, -o, defaults and repeated flags', async () => {
    assert.deepEqual(await parseArgv(['ci', '--json', '--format=header', '-o', 'out', '--scope', 'a', '--scope', 'b', '--min-ttl', '120'], SPEC), {
      args: {name: 'ci'},
      flags: {format: 'header', json: true, 'min-ttl': 120, output: 'out', scope: ['a', 'b']},
    })
    assert.deepEqual(await parseArgv([], SPEC), {args: {}, flags: {format: 'token'}})
    // `-o -` is stdout.
    assert.deepEqual((await parseArgv(['-o', '-'], SPEC))?.flags, {format: 'token', output: '-'})
  })

  it('leaves to oclif every empty value and empty argument, which it refuses (or, for a flag whose empty value is data, reads)', async () => {
    for (const argv of [['--scope='], ['--scope', ''], ['-o', ''], ['--format='], ['--client-secret-env='], [''], ['ci', '--scope', 'a', ''], ['--json', '']]) {
      assert.equal(await parseArgv(argv, SPEC), undefined, JSON.stringify(argv))
    }
  })

  it('leaves to oclif a word after a repeatable flag, which oclif takes as one more value', async () => {
    assert.equal(await parseArgv(['--scope', 'a', 'ci'], SPEC), undefined)
    assert.equal(await parseArgv(['--scope', 'a', '--json', 'ci'], SPEC), undefined)
    assert.deepEqual((await parseArgv(['ci', '--scope', 'a'], SPEC))?.args, {name: 'ci'})
  })

  it('leaves to oclif every mistake: unknown flags, missing values, values outside the rules, conflicts', async () => {
    const refused: string[][] = [
      ['--bogus'],
      ['-x'],
      ['--scope'],
      ['--scope', '--json'],
      ['--format', 'nope'],
      ['--min-ttl', '-1'],
      ['--min-ttl', '1.5'],
      ['--min-ttl', 'soon'],
      ['--client-secret-env', 'not a name'],
      ['--client-secret-env', 'V', '--client-secret-stdin'],
      ['--password-env', 'P'],
      ['--format', 'env', '--format', 'env'],
      ['--json=true'],
      ['-ofile'],
      ['--custom', 'x'],
      ['ci', 'extra'],
      ['--', 'ci'],
      ['--scope', '-a'],
    ]
    for (const argv of refused) assert.equal(await parseArgv(argv, SPEC), undefined, argv.join(' '))
  })

  it('defaults never conflict (oclif exempts them), and a flag given with one that it depends on is read', async () => {
    const exclusive: CommandSpec = {args: [], flags: {a: {default: 'x', exclusive: ['b'], type: 'option', value: 'text'}, b: {type: 'option', value: 'text'}}}
    assert.deepEqual((await parseArgv(['--b', 'y'], exclusive))?.flags, {a: 'x', b: 'y'})
    assert.equal(await parseArgv(['--a', 'z', '--b', 'y'], exclusive), undefined)
    assert.deepEqual((await parseArgv(['-o', 'f', '--password-env', 'P'], SPEC))?.flags, {format: 'token', output: 'f', 'password-env': 'P'})
  })

  it("runs the flag's own parser for a variable name: the variable is noted as a secret, as oclif's parse notes it", async () => {
    assert.deepEqual((await parseArgv(['--client-secret-env', 'FAST_PATH_TEST_SECRET'], SPEC))?.flags['client-secret-env'], 'FAST_PATH_TEST_SECRET')
    assert.equal('FAST_PATH_TEST_SECRET' in environmentWithoutSecrets({FAST_PATH_TEST_SECRET: 'x'}), false)
  })

  it('reads an alias as its flag (--key for --session-key), and leaves a flag given under both names to oclif', async () => {
    assert.deepEqual((await parseArgv(['--key', 'nightly'], SPEC))?.flags['session-key'], 'nightly')
    assert.deepEqual((await parseArgv(['--key=nightly'], SPEC))?.flags['session-key'], 'nightly')
    assert.equal(await parseArgv(['--key', 'a', '--session-key', 'b'], SPEC), undefined)
    assert.equal(await parseArgv(['--session', 'a'], SPEC), undefined)
  })

  it('an integer inside its range is read, one outside it goes to oclif, at both ends', async () => {
    // A negative value never gets this far (it starts with a dash): the bounds here are positive.
    const spec: CommandSpec = {args: [], flags: {timeout: {max: 600, min: 1, type: 'option', value: 'integer'}}}
    assert.deepEqual((await parseArgv(['--timeout', '1'], spec))?.flags, {timeout: 1})
    assert.deepEqual((await parseArgv(['--timeout=600'], spec))?.flags, {timeout: 600})
    assert.equal(await parseArgv(['--timeout', '0'], spec), undefined)
    assert.equal(await parseArgv(['--timeout', '601'], spec), undefined)
    const floor: CommandSpec = {args: [], flags: {retries: {min: 2, type: 'option', value: 'integer'}}}
    assert.deepEqual((await parseArgv(['--retries', '99999'], floor))?.flags, {retries: 99_999})
    assert.equal(await parseArgv(['--retries', '1'], floor), undefined)
  })

  it('"-" alone is an argument; -oVALUE glued, a required flag missing, or one of two flags depended on, goes to oclif', async () => {
    assert.deepEqual(await parseArgv(['-'], SPEC), {args: {name: '-'}, flags: {format: 'token'}})
    assert.equal(await parseArgv(['-oout', 'ci'], SPEC), undefined)
    const spec: CommandSpec = {
      args: [],
      flags: {
        a: {type: 'boolean', value: 'boolean'},
        b: {type: 'boolean', value: 'boolean'},
        both: {dependsOn: ['a', 'b'], type: 'boolean', value: 'boolean'},
        either: {exclusive: ['a', 'b'], type: 'boolean', value: 'boolean'},
        needed: {required: true, type: 'option', value: 'text'},
      },
    }
    assert.equal(await parseArgv(['--a'], spec), undefined)
    assert.deepEqual((await parseArgv(['--needed', 'x', '--both', '--a', '--b'], spec))?.flags, {a: true, b: true, both: true, needed: 'x'})
    assert.equal(await parseArgv(['--needed', 'x', '--both', '--a'], spec), undefined)
    assert.equal(await parseArgv(['--needed', 'x', '--either', '--b'], spec), undefined)
    assert.deepEqual((await parseArgv(['--needed', 'x', '--either'], spec))?.flags, {either: true, needed: 'x'})
  })

  it('a required argument missing goes to oclif', async () => {
    assert.equal(await parseArgv([], {args: [{name: 'url', required: true}], flags: {}}), undefined)
    assert.equal(await parseArgv(['x'], {args: [{name: 'url', options: ['y'], required: true}], flags: {}}), undefined)
  })
})

describe('the fast path knows every credential flag that flags.ts defines', () => {
  /** The credential flags as their definitions say: each excludes every other (one credential per run). */
  const defined = Object.entries(connectionFlags)
    .filter(([name, flag]) => name === 'client-secret-env' || ('exclusive' in flag && (flag.exclusive as string[]).includes('client-secret-env')))
    .map(([name]) => name)
    .sort()
  const sample = (name: string) => (connectionFlags[name as keyof typeof connectionFlags].type === 'boolean' ? true : 'X')

  it("its list is the definitions' list", () => {
    assert.deepEqual([...CREDENTIAL_FLAGS].sort(), defined)
  })

  it('a run with --no-cache and a credential flag of its own does not warm the store up; one without does', () => {
    for (const name of defined) {
      assert.equal(FAST_COMMANDS['token:client'].warmUp({[name]: sample(name), 'no-cache': true}).store, false, `--${name}`)
      assert.equal(FAST_COMMANDS.exec.warmUp({[name]: sample(name), 'no-cache': true}).store, false, `exec --${name}`)
      // What the warm-up counts as a credential is what resolving the connection takes as one.
      assert.notEqual(credentialSourceOf({[name]: sample(name)}), undefined, `--${name}`)
    }

    assert.equal(FAST_COMMANDS['token:client'].warmUp({'no-cache': true}).store, true)
  })
})
