import {strict as assert} from 'node:assert'
import {ExitCode, StoreError} from '../../src/lib/errors.js'
describe('smoke', () => {
  it('errors carry exit codes', () => {
    assert.equal(new StoreError('x').exitCode, ExitCode.store)
  })
})
