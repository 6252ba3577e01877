/**
 * TOKENCTL_REDIS_URL in every form the README names (src/lib/store/redis-url.ts): one server,
 * Sentinel, Cluster, each with TLS; the TLS files beside it; and what is wrong with a URL that is
 * none of them, said without repeating the URL's user information (it may be the password).
 */
import {strict as assert} from 'node:assert'

import {ConfigError, ExitCode} from '../../src/lib/errors.js'
import {REDIS_URL_FORMS, redisSettings} from '../../src/lib/store/redis-url.js'

const FORMS = `use one of: ${REDIS_URL_FORMS.join('; ')}`

function refused(env: NodeJS.ProcessEnv, message: string, suggestions: string[] = [FORMS]): void {
  assert.throws(
    () => redisSettings(env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error))
      assert.equal(error.message, message)
      assert.equal(error.exitCode, ExitCode.config)
      assert.equal(error.code, 'config_error')
      assert.deepEqual(error.suggestions, suggestions)
      for (const secret of ['s3cret', 'hunter2']) assert.ok(!error.message.includes(secret) && !error.suggestions.join(' ').includes(secret))
      return true
    },
  )
}

const url = (text: string, more: NodeJS.ProcessEnv = {}) => redisSettings({TOKENCTL_REDIS_URL: text, ...more})

describe('TOKENCTL_REDIS_URL', () => {
  it('names the three forms, each with TLS, in every message about a URL', () => {
    assert.deepEqual(REDIS_URL_FORMS, [
      'redis://[user[:password]@]host[:port][/db] (one server; rediss:// for TLS)',
      'redis+sentinel://[user[:password]@]host:port[,host:port…]/MASTER_NAME[/db] (Sentinel; rediss+sentinel:// for TLS)',
      'redis+cluster://[user[:password]@]host:port[,host:port…] (Cluster; rediss+cluster:// for TLS)',
    ])
  })

  it('one server: redis:// and rediss://, a user, a password, a database', () => {
    const settings = url('rediss://ops:s3cret@cache.example.com:6380/2')
    assert.deepEqual(
      {
        db: settings.db,
        display: settings.display,
        endpoints: settings.endpoints,
        masterName: settings.masterName,
        password: settings.password,
        tls: settings.tls,
        topology: settings.topology,
        username: settings.username,
      },
      {
        db: 2,
        display: 'rediss://ops@cache.example.com:6380/2',
        endpoints: [{host: 'cache.example.com', port: 6380}],
        masterName: undefined,
        password: 's3cret',
        tls: true,
        topology: 'server',
        username: 'ops',
      },
    )
    assert.equal(url('redis://h/').display, 'redis://h:6379')
    assert.equal(url('REDIS://h').topology, 'server', 'the scheme in any case')
    assert.equal(url('redis://h').display, 'redis://h:6379')
    assert.equal(url('redis://h').tls, false)
  })

  it('Sentinel: the sentinels (26379 by default), the master name, a database, with or without TLS', () => {
    const settings = url('redis+sentinel://tokenctl:s3cret@s1.internal:26379,s2.internal,[fd00::3]:26380/mymaster/3')
    assert.equal(settings.topology, 'sentinel')
    assert.equal(settings.tls, false)
    assert.deepEqual(settings.endpoints, [
      {host: 's1.internal', port: 26_379},
      {host: 's2.internal', port: 26_379},
      {host: 'fd00::3', port: 26_380},
    ])
    assert.equal(settings.masterName, 'mymaster')
    assert.equal(settings.db, 3)
    assert.equal(settings.password, 's3cret')
    assert.equal(settings.display, 'redis+sentinel://tokenctl@s1.internal:26379,s2.internal:26379,[fd00::3]:26380/mymaster/3')
    const secure = url('rediss+sentinel://s1:1/m/')
    assert.deepEqual({db: secure.db, display: secure.display, masterName: secure.masterName, tls: secure.tls}, {db: 0, display: 'rediss+sentinel://s1:1/m', masterName: 'm', tls: true})
  })

  it('Cluster: any seed nodes (6379 by default), with or without TLS, no database', () => {
    const settings = url('redis+cluster://n1:7000,n2,n3:7002')
    assert.equal(settings.topology, 'cluster')
    assert.deepEqual(settings.endpoints, [
      {host: 'n1', port: 7000},
      {host: 'n2', port: 6379},
      {host: 'n3', port: 7002},
    ])
    assert.equal(settings.display, 'redis+cluster://n1:7000,n2:6379,n3:7002')
    const secure = url('rediss+cluster://tokenctl@cfg.cache.amazonaws.com:6379/')
    assert.deepEqual({display: secure.display, tls: secure.tls, username: secure.username}, {display: 'rediss+cluster://tokenctl@cfg.cache.amazonaws.com:6379', tls: true, username: 'tokenctl'})
    const seed = url('rediss+cluster://cfg')
    assert.deepEqual({endpoints: seed.endpoints, topology: seed.topology}, {endpoints: [{host: 'cfg', port: 6379}], topology: 'cluster'})
  })

  it('the password: %-escaped or not, the last @ ends it, TOKENCTL_REDIS_PASSWORD wins, never shown', () => {
    assert.equal(url('redis://u:p%40ss@h').password, 'p@ss')
    assert.equal(url('redis://u:p@ss@h').password, 'p@ss')
    assert.equal(url('redis://:s3cret@h').username, undefined)
    assert.equal(url('redis://:s3cret@h').password, 's3cret', 'a password without a user (requirepass)')
    assert.equal(url('redis://:s3cret@h').display, 'redis://h:6379')
    assert.equal(url('redis://u@h').password, undefined)
    assert.equal(url('redis://u:@h').password, undefined)
    assert.equal(url('redis://u:in-url@h', {TOKENCTL_REDIS_PASSWORD: 'from-env'}).password, 'from-env')
    assert.equal(url('redis://u:in-url@h', {TOKENCTL_REDIS_PASSWORD: ''}).password, 'in-url')
    assert.equal(url('redis+cluster://a%20b:s3cret@h').display, 'redis+cluster://a%20b@h:6379')
    refused({TOKENCTL_REDIS_URL: 'redis://u:s3cret%zz@h'}, 'TOKENCTL_REDIS_URL: the user name or password has a malformed %-escape', [
      'write % as %25 in the URL, or put the password in TOKENCTL_REDIS_PASSWORD',
    ])
  })

  it('anything else is exit 3 naming the forms, never repeating the user information', () => {
    refused({TOKENCTL_REDIS_URL: 's3cret'}, 'TOKENCTL_REDIS_URL is not a URL')
    refused({TOKENCTL_REDIS_URL: 'redis:/h'}, 'TOKENCTL_REDIS_URL is not a URL')
    refused({TOKENCTL_REDIS_URL: 'my redis://u:s3cret@h'}, 'TOKENCTL_REDIS_URL is not a URL')
    refused({TOKENCTL_REDIS_URL: 'redis://u:s3cret@h\nredis://other'}, 'TOKENCTL_REDIS_URL is not a URL')
    refused({TOKENCTL_REDIS_URL: 'redis6://h'}, 'TOKENCTL_REDIS_URL must start with redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://, not redis6://')
    refused(
      {TOKENCTL_REDIS_URL: 'unix://u:s3cret@/run/redis.sock'},
      'TOKENCTL_REDIS_URL must start with redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://, not unix://',
    )
    refused(
      {TOKENCTL_REDIS_URL: 'redis+sentinels://h/m'},
      'TOKENCTL_REDIS_URL must start with redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://, not redis+sentinels://',
    )
    refused({TOKENCTL_REDIS_URL: 'redis://u:s3cret@'}, 'TOKENCTL_REDIS_URL names no host')
    refused({TOKENCTL_REDIS_URL: 'redis+cluster://u:s3cret@/x'}, 'TOKENCTL_REDIS_URL names no host')
    refused({TOKENCTL_REDIS_URL: 'redis://u:s3cret@h?tls=true'}, 'TOKENCTL_REDIS_URL has a query or a fragment (?… or #…): tokenctl takes none')
    refused({TOKENCTL_REDIS_URL: 'redis://u:s3cret@h/0#x'}, 'TOKENCTL_REDIS_URL has a query or a fragment (?… or #…): tokenctl takes none')
    refused({TOKENCTL_REDIS_URL: 'redis://u:s3cret@h:0'}, 'TOKENCTL_REDIS_URL has a port out of range: "h:0"')
    refused({TOKENCTL_REDIS_URL: 'redis://u:s3cret@h:65536'}, 'TOKENCTL_REDIS_URL has a port out of range: "h:65536"')
    assert.equal(url('redis://h:65535').endpoints[0].port, 65_535)
    assert.equal(url('redis://h:1').endpoints[0].port, 1)
    refused({TOKENCTL_REDIS_URL: 'redis://u:s3cret@h:port'}, 'TOKENCTL_REDIS_URL has a host that is not host[:port]: "h:port"')
    refused({TOKENCTL_REDIS_URL: 'redis+cluster://u:s3cret@a:1,,b:2'}, 'TOKENCTL_REDIS_URL has a host that is not host[:port]: ""')
    refused({TOKENCTL_REDIS_URL: 'redis://[::1'}, 'TOKENCTL_REDIS_URL has a host that is not host[:port]: "[::1"')
    refused({TOKENCTL_REDIS_URL: 'redis://h_1 x'}, 'TOKENCTL_REDIS_URL has a host that is not host[:port]: "h_1 x"')
    refused(
      {TOKENCTL_REDIS_URL: 'redis://u:s3cret@a:1,b:2'},
      'TOKENCTL_REDIS_URL names 2 hosts: one server takes one; for a replicated Redis use redis+sentinel:// (the sentinels) or redis+cluster:// (seed nodes)',
    )
    refused({TOKENCTL_REDIS_URL: 'redis://h/0/x'}, 'TOKENCTL_REDIS_URL has a path beyond /db')
    refused({TOKENCTL_REDIS_URL: 'redis+sentinel://u:s3cret@s:26379'}, 'TOKENCTL_REDIS_URL names no Sentinel master: redis+sentinel://host:port[,host:port…]/MASTER_NAME[/db]')
    refused({TOKENCTL_REDIS_URL: 'redis+sentinel://s:26379//0'}, 'TOKENCTL_REDIS_URL names no Sentinel master: redis+sentinel://host:port[,host:port…]/MASTER_NAME[/db]')
    refused({TOKENCTL_REDIS_URL: 'redis+sentinel://s/m/0/x'}, 'TOKENCTL_REDIS_URL has a path beyond /MASTER_NAME/db')
    refused({TOKENCTL_REDIS_URL: 'redis+cluster://n:7000/0'}, 'TOKENCTL_REDIS_URL has a path: a Cluster has only database 0, and redis+cluster:// takes none')
    refused({TOKENCTL_REDIS_URL: 'redis+sentinel://s/m/x'}, 'TOKENCTL_REDIS_URL: the database must be a number, not "x"', [])
    refused({TOKENCTL_REDIS_URL: 'redis://h/1e3'}, 'TOKENCTL_REDIS_URL: the database must be a number, not "1e3"', [])
    refused({TOKENCTL_REDIS_URL: 'redis://h/1234567890'}, 'TOKENCTL_REDIS_URL: the database must be a number, not "1234567890"', [])
    assert.equal(url('redis://h/123456789').db, 123_456_789)
  })

  it('TLS files: only with rediss, a certificate only with its key', () => {
    const tls = url('rediss+cluster://n:1', {TOKENCTL_REDIS_CA_FILE: '/ca.pem', TOKENCTL_REDIS_CERT_FILE: '/c.pem', TOKENCTL_REDIS_KEY_FILE: '/k.pem'})
    assert.deepEqual({ca: tls.caFile, cert: tls.certFile, key: tls.keyFile}, {ca: '/ca.pem', cert: '/c.pem', key: '/k.pem'})
    const none = url('rediss://h', {TOKENCTL_REDIS_CA_FILE: '', TOKENCTL_REDIS_CERT_FILE: '', TOKENCTL_REDIS_KEY_FILE: ''})
    assert.deepEqual({ca: none.caFile, cert: none.certFile, key: none.keyFile}, {ca: undefined, cert: undefined, key: undefined})
    for (const [variable, scheme] of [
      ['TOKENCTL_REDIS_CA_FILE', 'redis'],
      ['TOKENCTL_REDIS_CERT_FILE', 'redis+sentinel'],
      ['TOKENCTL_REDIS_KEY_FILE', 'redis+cluster'],
    ]) {
      const tail = scheme === 'redis+sentinel' ? '/m' : ''
      refused({[variable]: '/x.pem', TOKENCTL_REDIS_URL: `${scheme}://h${tail}`}, `${variable} is for TLS, and TOKENCTL_REDIS_URL starts with ${scheme}://`, [
        `use ${scheme.replace('redis', 'rediss')}:// (TLS), or unset ${variable}`,
      ])
    }

    const both = ['a client certificate needs both: TOKENCTL_REDIS_CERT_FILE (the certificate, PEM) and TOKENCTL_REDIS_KEY_FILE (its private key, PEM)']
    refused({TOKENCTL_REDIS_CERT_FILE: '/c.pem', TOKENCTL_REDIS_URL: 'rediss://h'}, 'TOKENCTL_REDIS_CERT_FILE is set without TOKENCTL_REDIS_KEY_FILE', both)
    refused({TOKENCTL_REDIS_KEY_FILE: '/k.pem', TOKENCTL_REDIS_URL: 'rediss://h'}, 'TOKENCTL_REDIS_KEY_FILE is set without TOKENCTL_REDIS_CERT_FILE', both)
  })
})
