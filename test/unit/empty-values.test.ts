/**
 * An empty value is a usage error, never "not given" (src/lib/empty-values.ts): every option flag
 * and every argument, read as oclif records them; a flag whose empty value is data says so.
 * test/e2e/first-hour.test.ts runs the rule through the CLI, the fast path and oclif both.
 */
import {strict as assert} from 'node:assert'

import {Flags} from '@oclif/core'

import {emptyValueAllowed, emptyValueError, type ReadToken} from '../../src/lib/empty-values.js'
import {ExitCode} from '../../src/lib/errors.js'

const FLAGS = {
  'ca-file': Flags.string(),
  data: emptyValueAllowed(Flags.string({char: 'd'})),
  force: Flags.boolean(),
  scope: Flags.string({multiple: true}),
}

const flag = (name: string, input: string): ReadToken => ({flag: name, input, type: 'flag'})

describe('an empty value is a usage error, never "not given"', () => {
  it('an option flag given an empty value: exit 2 naming the flag', () => {
    const error = emptyValueError([flag('scope', 'read'), flag('ca-file', '')], FLAGS)
    assert.equal(error?.exitCode, ExitCode.usage)
    assert.equal(error?.message, '--ca-file is empty')
    assert.deepEqual(error?.suggestions, ['give it a value, or leave it out'])
    assert.equal(emptyValueError([flag('scope', 'a'), flag('scope', '')], FLAGS)?.message, '--scope is empty', "one of a repeatable flag's values too")
  })

  it('an empty argument: exit 2 naming it', () => {
    const error = emptyValueError([{arg: 'name', input: '', type: 'arg'}], FLAGS)
    assert.equal(error?.exitCode, ExitCode.usage)
    assert.equal(error?.message, 'the argument NAME is empty')
    assert.equal(emptyValueError([{input: '', type: 'arg'}], FLAGS)?.message, 'an argument is empty', 'one past the arguments a command takes')
  })

  it('values that are not empty, and a flag whose empty value is data, pass', () => {
    assert.equal(emptyValueError([flag('ca-file', ' '), flag('scope', '-'), {arg: 'name', input: 'ci', type: 'arg'}], FLAGS), undefined)
    assert.equal(emptyValueError([flag('data', '')], FLAGS), undefined)
    assert.equal(emptyValueError([], FLAGS), undefined)
  })

  it('a boolean flag is never a value; an unknown name (oclif refused it already) is left alone', () => {
    assert.equal(emptyValueError([flag('force', '')], FLAGS), undefined)
    assert.equal(emptyValueError([flag('bogus', '')], FLAGS), undefined)
  })

  it('emptyValueAllowed keeps the flag as it was', () => {
    const plain = Flags.string({char: 'd', description: 'body'})
    const marked = emptyValueAllowed(plain)
    assert.equal(marked.emptyValueAllowed, true)
    assert.deepEqual({...marked, emptyValueAllowed: undefined}, {...plain, emptyValueAllowed: undefined})
    assert.equal('emptyValueAllowed' in plain, false)
  })
})
