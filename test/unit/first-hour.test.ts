import {strict as assert} from 'node:assert'

import {formatTable, timeCell} from '../../src/lib/output.js'
import {closestCommands, editDistance} from '../../src/lib/suggest.js'

const COMMANDS = ['call', 'client add', 'client list', 'client', 'demo', 'dev idp', 'session', 'session refresh', 'session start', 'token', 'token client', 'token obo']

describe('closest commands for an unknown one', () => {
  it('compares word for word and prefers the command that explains more of what was typed', () => {
    assert.equal(editDistance('tokn', 'token'), 1)
    assert.deepEqual(closestCommands(['tokn', 'client'], COMMANDS), ['token client'])
    assert.deepEqual(closestCommands(['token', 'cliet'], COMMANDS), ['token client'])
    assert.deepEqual(closestCommands(['clinet', 'list'], COMMANDS), ['client list'])
    assert.deepEqual(closestCommands(['sesion'], COMMANDS), ['session'])
    assert.deepEqual(closestCommands(['sesion', 'refrsh', '--key', 'k'].filter((word) => !word.startsWith('-')), COMMANDS), ['session refresh'])
    assert.deepEqual(closestCommands(['zzzzzz'], COMMANDS), [])
  })
})

describe('tables', () => {
  const rows = [['worker', 'client_secret_basic', 'stored'], ['a\tb', 'none', '\u001B[32mnone\u001B[39m']]

  it('on a terminal: a header, columns aligned on what is seen (colour codes take no room)', () => {
    assert.deepEqual(formatTable(['NAME', 'AUTH', 'SECRET'], rows, {terminal: true}), [
      'NAME    AUTH                 SECRET',
      'worker  client_secret_basic  stored',
      'a b     none                 \u001B[32mnone\u001B[39m',
    ])
  })

  it('piped: the same rows, tab-separated, no header, no colour, and a tab inside a cell cannot split it', () => {
    assert.deepEqual(formatTable(['NAME', 'AUTH', 'SECRET'], rows, {terminal: false}), ['worker\tclient_secret_basic\tstored', 'a b\tnone\tnone'])
  })

  it('times: ISO 8601 with how far from now beside it', () => {
    const now = Date.parse('2030-01-01T10:00:00.000Z')
    assert.equal(timeCell('2030-01-01T10:54:00.000Z', now), '2030-01-01T10:54:00.000Z (in 54m)')
    assert.equal(timeCell('2030-01-01T08:00:00.000Z', now), '2030-01-01T08:00:00.000Z (2h ago)')
    assert.equal(timeCell(null, now), '-')
  })
})
