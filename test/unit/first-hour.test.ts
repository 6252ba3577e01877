import {strict as assert} from 'node:assert'

import {unreadableReason} from '../../src/lib/bounded-read.js'
import {formatTable, timeCell} from '../../src/lib/output.js'
import {sameStoreAdvice, storeSearched} from '../../src/lib/store/searched.js'
import {closestCommands, editDistance} from '../../src/lib/suggest.js'

const COMMANDS = ['call', 'client add', 'client list', 'client', 'demo', 'dev idp', 'session', 'session refresh', 'session start', 'token', 'token client', 'token obo']

describe('closest commands for an unknown one', () => {
  it('compares word for word and prefers the command that explains more of what was typed', () => {
    assert.equal(editDistance('tokn', 'token'), 1)
    assert.deepEqual(closestCommands(['tokn', 'client'], COMMANDS), ['token client'])
    assert.deepEqual(closestCommands(['token', 'cliet'], COMMANDS), ['token client'])
    assert.deepEqual(closestCommands(['clinet', 'list'], COMMANDS), ['client list'])
    assert.deepEqual(closestCommands(['sesion'], COMMANDS), ['session'])
    assert.deepEqual(
      closestCommands(
        ['sesion', 'refrsh', '--key', 'k'].filter((word) => !word.startsWith('-')),
        COMMANDS,
      ),
      ['session refresh'],
    )
    assert.deepEqual(closestCommands(['zzzzzz'], COMMANDS), [])
  })
})

describe('tables', () => {
  const rows = [
    ['worker', 'client_secret_basic', 'stored'],
    ['a\tb', 'none', '\u001B[32mnone\u001B[39m'],
  ]

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
    assert.equal(timeCell('2030-01-01T10:00:00.400Z', now), '2030-01-01T10:00:00.400Z (now)', 'not "in 0s"')
  })
})

describe('where a session was looked for', () => {
  const env = {TOKENCTL_HOME: '/srv/reports/tokenctl'}

  it('names the store and, for a local one, the home (or the default it fell back to)', () => {
    assert.equal(storeSearched({backend: 'file', location: '/srv/reports/tokenctl/store.enc'}, env), 'the file store of TOKENCTL_HOME=/srv/reports/tokenctl')
    assert.match(storeSearched({backend: 'file', location: 'x'}, {}), /^the file store of the default home \/\S+\/tokenctl \(TOKENCTL_HOME is not set\)$/)
    assert.match(storeSearched({backend: 'keychain', location: 'Secret Service, service "tokenctl"'}, env), /^the Secret Service, service "tokenctl", of user \S+$/)
    assert.equal(
      storeSearched({backend: 'redis', location: 'Redis at rediss://tokenctl@redis.internal:6380, keys under "tokenctl:"'}, env),
      'Redis at rediss://tokenctl@redis.internal:6380, keys under "tokenctl:"',
    )
  })

  it('says which settings point at the store a session was started in, per backend', () => {
    assert.match(sameStoreAdvice({backend: 'file'}), /TOKENCTL_HOME and TOKENCTL_STORE of the shell/)
    assert.match(sameStoreAdvice({backend: 'keychain'}), /user and TOKENCTL_KEYCHAIN_SERVICE of the shell/)
    assert.match(sameStoreAdvice({backend: 'redis'}), /TOKENCTL_REDIS_URL and TOKENCTL_REDIS_PREFIX of the shell/)
  })
})

describe('why a file could not be read, in words', () => {
  it('says the usual errno values as sentences, and passes anything else on', () => {
    const errno = (code: string) => Object.assign(new Error(`${code}: raw`), {code})
    assert.equal(unreadableReason(errno('ENOENT')), 'there is no such file')
    assert.equal(unreadableReason(errno('EACCES')), 'permission denied: this user may not read it')
    assert.equal(unreadableReason(errno('EPERM')), 'permission denied: this user may not read it')
    assert.equal(unreadableReason(errno('ENOTDIR')), 'a part of its path is a file, not a folder')
    assert.equal(unreadableReason(errno('EISDIR')), 'it is a directory, not a regular file')
    assert.equal(unreadableReason(errno('ELOOP')), 'its symbolic links go round in a loop')
    assert.equal(unreadableReason(errno('EIO')), 'EIO: raw')
  })
})
