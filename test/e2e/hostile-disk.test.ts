/**
 * TOKENCTL_HOME against a careless umask and hostile neighbours, end to end with the built CLI:
 * modes under umask 000, a home or config.json others can write (refused, as ssh refuses a key file
 * others can write), a symbolic link at config.json, temporary files left by killed writers, a lock
 * dated in the future by a host whose clock is ahead, and client names that are JavaScript internals.
 */
import {strict as assert} from 'node:assert'
import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {FileStore} from '../../src/lib/store/file-store.js'
import {cliWithHome, type CliResult, tempHome} from '../helpers/cli.js'

const FILE_STORE = {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: 'disk tests'}
const HOUR_MS = 60 * 60 * 1000

/** Every file and folder under root (root included), with its permission bits. */
function modesUnder(root: string): Array<{mode: number; path: string; type: 'dir' | 'file'}> {
  const entries: Array<{mode: number; path: string; type: 'dir' | 'file'}> = [{mode: statSync(root).mode & 0o777, path: '.', type: 'dir'}]
  for (const relative of readdirSync(root, {recursive: true}) as string[]) {
    const info = lstatSync(join(root, relative))
    entries.push({mode: info.mode & 0o777, path: relative, type: info.isDirectory() ? 'dir' : 'file'})
  }

  return entries
}

/** A pid that is certainly not running: a child that has already exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid
}

function age(file: string, ms: number): void {
  const when = new Date(Date.now() - ms)
  utimesSync(file, when, when)
}

describe('TOKENCTL_HOME against a careless umask and hostile neighbours (end to end)', function () {
  this.timeout(120_000)
  let server: AuthServer
  useAuthServer((started) => {
    server = started
  })

  const addClient = (name: string) => ['client', 'add', name, '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin']
  const addOptions = () => ({input: server.clients.basic.clientSecret})

  function expectUnsafe(result: CliResult, fix: RegExp): void {
    expectExit(result, 3)
    assert.equal(result.stdout, '')
    assert.match(result.stderr, /writable by other users/)
    assert.match(result.stderr, fix)
  }

  it('under umask 000, every file tokenctl creates is 0600 and every folder 0700 (config, cache, store, sessions, locks)', async () => {
    const home = join(tempHome(), 'home') // created by tokenctl itself
    const cli = cliWithHome({env: FILE_STORE, home, umask: 0o000})
    expectExit(await cli.run(addClient('ci'), addOptions()), 0)
    expectExit(await cli.run(['token', 'client', 'ci']), 0)
    expectExit(await cli.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret}), 0)
    const userToken = await server.mintUserToken({aud: server.clients.api.clientId, sub: 'alice'})
    expectExit(await cli.run(['session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--key', 'k'], {input: userToken}), 0)

    const entries = modesUnder(home)
    const paths = entries.map((entry) => entry.path)
    for (const expected of ['config.json', 'store.enc', 'sessions.json', 'locks', join('cache', 'metadata')]) {
      assert.ok(paths.includes(expected), `${expected} was created (${paths.join(', ')})`)
    }

    assert.ok(
      paths.some((path) => path.startsWith(join('cache', 'metadata', ''))),
      'a cached discovery document',
    )
    const wrong = entries.filter((entry) => entry.mode !== (entry.type === 'dir' ? 0o700 : 0o600))
    assert.deepEqual(wrong, [], 'files 0600, folders 0700')
  })

  it('a home that others can write is refused with exit 3 and the chmod that fixes it; group-writable too', async () => {
    const cli = cliWithHome({env: FILE_STORE})
    expectExit(await cli.run(addClient('ci'), addOptions()), 0)
    for (const mode of [0o777, 0o770, 0o702]) {
      chmodSync(cli.home, mode)
      const list = await cli.run(['client', 'list'])
      expectUnsafe(list, new RegExp(`chmod 700 ${cli.home.replaceAll('.', '\\.')}`))
      const token = await cli.run(['token', 'client', 'ci', '--json'])
      expectExit(token, 3)
      assert.equal(json(token).error.code, 'unsafe_permissions')
    }

    chmodSync(cli.home, 0o755) // readable by others is not what ssh refuses either
    expectExit(await cli.run(['client', 'list']), 0)
  })

  it('a config.json that others can write is refused: nobody else chooses where a client secret is sent', async () => {
    const cli = cliWithHome({env: FILE_STORE})
    expectExit(await cli.run(addClient('ci'), addOptions()), 0)
    const config = join(cli.home, 'config.json')
    chmodSync(config, 0o666)
    const token = await cli.run(['token', 'client', 'ci'])
    expectUnsafe(token, new RegExp(`chmod 600 ${config.replaceAll('.', '\\.')}`))
    assert.equal(server.tokenRequests.length, 0)
    chmodSync(config, 0o620)
    expectUnsafe(await cli.run(['client', 'add', 'other', '--token-endpoint', server.tokenEndpoint, '--client-id', 'x']), /chmod 600/)
    chmodSync(config, 0o600)
    expectExit(await cli.run(['token', 'client', 'ci']), 0)
  })

  it('a symbolic link at config.json is replaced by the file; its target is never written', async () => {
    const cli = cliWithHome({env: FILE_STORE})
    mkdirSync(cli.home, {recursive: true})
    const elsewhere = join(tempHome(), 'someone-elses.json')
    const original = `${JSON.stringify({clients: {}})}\n`
    writeFileSync(elsewhere, original, {mode: 0o600})
    symlinkSync(elsewhere, join(cli.home, 'config.json'))
    expectExit(await cli.run(addClient('ci'), addOptions()), 0)
    assert.equal(readFileSync(elsewhere, 'utf8'), original, 'the target is untouched')
    const config = lstatSync(join(cli.home, 'config.json'))
    assert.ok(config.isFile() && !config.isSymbolicLink(), 'config.json is a file of its own now')
    assert.equal(config.mode & 0o777, 0o600)
    assert.deepEqual(
      json(await cli.run(['client', 'list', '--json'])).map((client: {name: string}) => client.name),
      ['ci'],
    )
  })

  it('temporary files left by killed writers are removed; those of a live writer are kept', async () => {
    const cli = cliWithHome({env: FILE_STORE})
    expectExit(await cli.run(addClient('ci'), addOptions()), 0)
    const hex = () => randomBytes(6).toString('hex')
    const dead = deadPid()
    const inHome = (name: string) => join(cli.home, name)
    const abandoned = [`store.enc.${dead}.${hex()}.tmp`, `config.json.${dead}.${hex()}.tmp`, `sessions.json.${dead}.${hex()}.tmp`, `store.enc.${process.pid}.${hex()}.tmp`]
    const live = `store.enc.${process.pid}.${hex()}.tmp`
    for (const name of [...abandoned, live]) writeFileSync(inHome(name), 'an encrypted copy of secrets removed since', {mode: 0o600})
    for (const name of abandoned.slice(0, 3)) age(inHome(name), 2 * 60 * 1000) // a writer killed two minutes ago
    age(inHome(abandoned[3]), 2 * HOUR_MS) // whatever its pid says, no write takes two hours

    expectExit(await cli.run(['client', 'add', 'second', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], addOptions()), 0)
    const left = readdirSync(cli.home).filter((name) => name.endsWith('.tmp'))
    assert.deepEqual(left, [live], "only the live writer's temporary file is left")
  })

  it('a lock dated an hour ahead (a host with a fast clock, now gone) is broken after the stale period, not waited on forever', async () => {
    const cli = cliWithHome({env: FILE_STORE})
    const lock = join(cli.home, 'locks', 'config.lock')
    mkdirSync(join(cli.home, 'locks'), {mode: 0o700, recursive: true})
    writeFileSync(lock, JSON.stringify({acquiredAt: new Date(Date.now() + HOUR_MS).toISOString(), host: 'a-host-whose-clock-is-ahead', nonce: 'abandoned', pid: deadPid()}), {mode: 0o600})
    const inAnHour = new Date(Date.now() + HOUR_MS)
    utimesSync(lock, inAnHour, inAnHour)

    const result = await cli.run(['client', 'add', 'ci', '--token-endpoint', server.tokenEndpoint, '--client-id', 'basic'], {timeoutMs: 100_000})
    assert.equal(result.timedOut, false, 'acquired without waiting for the clock (the default wait is 180 s, then exit 7)')
    expectExit(result, 0)
    assert.ok(!existsSync(lock), 'the lock was released')
  })

  it('client names that are JavaScript internals (__proto__, constructor, prototype) are refused with exit 2, nothing saved', async () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const cli = cliWithHome({env: FILE_STORE})
      const result = await cli.run([...addClient(name), '--json'], addOptions())
      expectExit(result, 2)
      assert.match(json(result).error.message, /reserved/)
      assert.ok(!existsSync(join(cli.home, 'store.enc')), 'no secret stranded in the store')
      assert.ok(!existsSync(join(cli.home, 'config.json')))
    }

    // Dots stay ordinary characters of a name (conf would have treated them as a path).
    const cli = cliWithHome({env: FILE_STORE})
    expectExit(await cli.run(addClient('team.ci'), addOptions()), 0)
    expectExit(await cli.run(['token', 'client', 'team.ci']), 0)
    expectExit(await cli.run(['client', 'remove', 'team.ci']), 0)
    assert.deepEqual(json(await cli.run(['client', 'list', '--json'])), [])
  })
  it('a damaged client credential in the store is exit 3 saying so and how to add it again, not an internal error', async () => {
    const cli = cliWithHome({env: FILE_STORE})
    const key = join(cli.home, 'key.pem')
    writeFileSync(key, server.clients.jwt.privateKeyPem)
    expectExit(await cli.run(['client', 'add', 'signer', '--issuer', server.issuer, '--client-id', 'jwt', '--private-key-file', key, '--key-id', server.clients.jwt.kid]), 0)
    const store = new FileStore({file: join(cli.home, 'store.enc'), passphrase: FILE_STORE.TOKENCTL_STORE_PASSPHRASE})
    for (const damaged of ['not json', 'null', '{"kind":"private_key"}', '{"kind":"certificate","key":"k","certificates":[]}', '{"kind":"other","key":"k"}']) {
      await store.set('client-credential:signer', damaged)
      const result = await cli.run(['token', 'client', 'signer', '--no-cache'])
      expectExit(result, 3)
      assert.equal(result.stdout, '')
      assert.match(result.stderr, /the credential of client "signer" in the secure store is damaged.*tokenctl client add signer --replace/s, damaged)
    }
  })
})
