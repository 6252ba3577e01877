/**
 * A store key instead of a passphrase (TOKENCTL_STORE_KEY / TOKENCTL_STORE_KEY_FILE), through the
 * CLI as a CI job or a fleet host runs it: the file store sealed with the key, `store status` saying
 * which secret seals it (never the secret), and each mistake one line with its exit code — a key that
 * is not one (7), a key and a passphrase both set (3), a store sealed with the other kind (7, naming
 * what it needs), the file left as it was.
 */
import {strict as assert} from 'node:assert'
import {randomBytes} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {allFileContents, expectExit, stdoutJson as json} from '../helpers/assertions.js'
import {type AuthServer, useAuthServer} from '../helpers/auth-server.js'
import {type CliResult, cliWithHome, tempHome} from '../helpers/cli.js'

const KEY = randomBytes(32).toString('base64')

/** stderr is one line, with no stack trace and none of the secrets. */
function oneCleanLine(result: CliResult, ...secrets: string[]): string {
  const lines = result.stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, result.stderr)
  assert.doesNotMatch(result.stderr, /\n\s+at /)
  for (const secret of secrets) assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), 'a secret in the output')
  return lines[0]
}

describe('a store key instead of a passphrase (end to end)', function () {
  this.timeout(60_000)
  let server: AuthServer
  useAuthServer((started) => {
    server = started
  })

  /** A home whose file store is sealed with `env`'s secret, holding client "ci" and its cached token. */
  async function homeWithClient(env: Record<string, string | undefined>) {
    const cli = cliWithHome({env: {TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: undefined, ...env}})
    expectExit(await cli.run(['client', 'add', 'ci', '--issuer', server.issuer, '--client-id', 'basic', '--client-secret-stdin'], {input: server.clients.basic.clientSecret}), 0)
    expectExit(await cli.run(['token', 'client', 'ci']), 0)
    return cli
  }

  it('seals the file store with a key from TOKENCTL_STORE_KEY_FILE: a hit, a request, a session; store status says a key, never which', async () => {
    const keyFile = join(tempHome(), 'store-key')
    writeFileSync(keyFile, `${KEY}\n`) // as openssl rand -base64 32 > file writes it
    const cli = await homeWithClient({TOKENCTL_STORE_KEY_FILE: keyFile})
    server.resetCounters()
    const hit = await cli.run(['token', 'client', 'ci', '--json'])
    expectExit(hit, 0)
    assert.equal(json(hit).token_source, 'cache')
    assert.equal(server.tokenRequests.length, 0)
    expectExit(await cli.run(['token', 'client', 'ci', '--no-cache']), 0)
    const userToken = await server.mintUserToken({aud: 'api', sub: 'alice'})
    expectExit(await cli.run(['client', 'add', 'api', '--issuer', server.issuer, '--client-id', 'api', '--client-secret-stdin'], {input: server.clients.api.clientSecret}), 0)
    expectExit(await cli.run(['session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--key', 'nightly'], {input: userToken}), 0)
    expectExit(await cli.run(['session', 'refresh', '--key', 'nightly']), 0)
    // The same key in the variable opens the same store.
    expectExit(await cli.run(['token', 'client', 'ci'], {env: {TOKENCTL_STORE_KEY: KEY, TOKENCTL_STORE_KEY_FILE: undefined}}), 0)

    const store = readFileSync(join(cli.home, 'store.enc'))
    assert.equal(store.subarray(0, 6).toString('latin1'), 'TKSE\x01\x02', 'sealed with HKDF (kdf 2)')
    const status = await cli.run(['store', 'status', '--json'])
    expectExit(status, 0)
    assert.deepEqual(
      {...json(status), location: undefined},
      {
        backend: 'file',
        location: undefined,
        ok: true,
        reason: 'TOKENCTL_STORE=file (key from TOKENCTL_STORE_KEY_FILE)',
        sealed_with: 'key',
      },
    )
    const human = await cli.run(['store', 'status'])
    expectExit(human, 0)
    assert.match(human.stdout, /^sealed: +with a key$/m)
    const raw = Buffer.from(KEY, 'base64')
    for (const text of [status.stdout, human.stdout, human.stderr, allFileContents(cli.home)]) {
      for (const form of [KEY, raw.toString('hex'), raw.toString('base64url')]) assert.ok(!text.includes(form), 'the key is shown or written')
    }

    const passphrase = await homeWithClient({TOKENCTL_STORE_PASSPHRASE: 'a passphrase'})
    const sealedWithPassphrase = await passphrase.run(['store', 'status', '--json'])
    assert.equal(json(sealedWithPassphrase).sealed_with, 'passphrase')
    assert.equal(json(sealedWithPassphrase).reason, 'TOKENCTL_STORE=file (passphrase from TOKENCTL_STORE_PASSPHRASE)')
  })

  it('a key that is not one: exit 7, one line saying why, never the value; the store is not touched', async () => {
    const cli = await homeWithClient({TOKENCTL_STORE_KEY: KEY})
    const before = readFileSync(join(cli.home, 'store.enc'))
    for (const [value, why] of [
      [randomBytes(16).toString('base64'), 'it is 16 bytes in base64, not 32'],
      ['correct horse battery staple', 'it is not base64'],
      [randomBytes(32).toString('hex'), 'it is 48 bytes in base64, not 32'],
    ]) {
      for (const args of [
        ['token', 'client', 'ci'],
        ['token', 'client', 'ci', '--force'],
      ]) {
        const result = await cli.run(args, {env: {TOKENCTL_STORE_KEY: value}})
        expectExit(result, 7)
        assert.equal(
          oneCleanLine(result, value),
          `Error: TOKENCTL_STORE_KEY is not a 256-bit store key: ${why} — make one with openssl rand -base64 32 (the same on every machine that shares the store), and put it in TOKENCTL_STORE_KEY`,
        )
      }
    }

    const json7 = await cli.run(['token', 'client', 'ci', '--json'], {env: {TOKENCTL_STORE_KEY: 'nope'}})
    expectExit(json7, 7)
    assert.equal(json(json7).error.code, 'store_invalid_key')
    assert.ok(readFileSync(join(cli.home, 'store.enc')).equals(before))
  })

  it('a key and a passphrase both set: exit 3, one line naming both variables, nothing read or written', async () => {
    const cli = await homeWithClient({TOKENCTL_STORE_KEY: KEY})
    const before = readFileSync(join(cli.home, 'store.enc'))
    const passphraseFile = join(tempHome(), 'passphrase')
    writeFileSync(passphraseFile, 'from a file\n')
    for (const env of [{TOKENCTL_STORE_PASSPHRASE: 'Tr0ub4dor&3 passphrase'}, {TOKENCTL_STORE_PASSPHRASE_FILE: passphraseFile}]) {
      for (const args of [
        ['token', 'client', 'ci'],
        ['store', 'status'],
        ['client', 'add', 'other', '--issuer', server.issuer, '--client-id', 'x', '--client-secret-stdin'],
      ]) {
        const result = await cli.run(args, {env, input: 'secret'})
        expectExit(result, 3)
        const variable = Object.keys(env)[0]
        assert.equal(
          oneCleanLine(result, KEY, 'Tr0ub4dor&3 passphrase'),
          `Error: both a store key (TOKENCTL_STORE_KEY) and a store passphrase (${variable}) are set: a store is sealed with one of them — unset TOKENCTL_STORE_KEY / TOKENCTL_STORE_KEY_FILE to use the passphrase, or TOKENCTL_STORE_PASSPHRASE / TOKENCTL_STORE_PASSPHRASE_FILE to use the key`,
        )
      }
    }

    assert.ok(readFileSync(join(cli.home, 'store.enc')).equals(before))
    assert.deepEqual(
      json(await cli.run(['client', 'list', '--json'])).map((client: {name: string}) => client.name),
      ['ci'],
    )
  })

  it('a store sealed with a passphrase, opened with a key (and the reverse): exit 7 saying which it needs; a wrong key: exit 7', async () => {
    const sealedWithPassphrase = await homeWithClient({TOKENCTL_STORE_PASSPHRASE: 'Tr0ub4dor&3 passphrase'})
    const sealedWithKey = await homeWithClient({TOKENCTL_STORE_KEY: KEY})
    const cases: Array<[ReturnType<typeof cliWithHome>, Record<string, string | undefined>, string]> = [
      [
        sealedWithPassphrase,
        {TOKENCTL_STORE_KEY: KEY, TOKENCTL_STORE_PASSPHRASE: undefined},
        'it is sealed with a passphrase, and a key is set — set TOKENCTL_STORE_PASSPHRASE / TOKENCTL_STORE_PASSPHRASE_FILE to the passphrase it was sealed with, and unset TOKENCTL_STORE_KEY / TOKENCTL_STORE_KEY_FILE; or move STORE_FILE aside to start a store sealed with what is set (its secrets are then lost)',
      ],
      [
        sealedWithKey,
        {TOKENCTL_STORE_KEY: undefined, TOKENCTL_STORE_PASSPHRASE: 'Tr0ub4dor&3 passphrase'},
        'it is sealed with a key, and a passphrase is set — set TOKENCTL_STORE_KEY / TOKENCTL_STORE_KEY_FILE to the key it was sealed with, and unset TOKENCTL_STORE_PASSPHRASE / TOKENCTL_STORE_PASSPHRASE_FILE; or move STORE_FILE aside to start a store sealed with what is set (its secrets are then lost)',
      ],
      [sealedWithKey, {TOKENCTL_STORE_KEY: randomBytes(32).toString('base64')}, 'wrong key — check TOKENCTL_STORE_KEY / TOKENCTL_STORE_KEY_FILE: it must be the key the store was created with'],
    ]
    for (const [cli, env, what] of cases) {
      const file = join(cli.home, 'store.enc')
      const before = readFileSync(file)
      for (const args of [
        ['token', 'client', 'ci'],
        ['token', 'client', 'ci', '--force'],
        ['client', 'remove', 'ci'],
      ]) {
        const result = await cli.run(args, {env})
        expectExit(result, 7)
        assert.equal(oneCleanLine(result, KEY, 'Tr0ub4dor&3 passphrase'), `Error: cannot open the secure store ${file}: ${what.replaceAll('STORE_FILE', file)}`)
      }

      const status = await cli.run(['store', 'status', '--json'], {env})
      expectExit(status, 7)
      assert.equal(json(status).ok, false)
      assert.match(json(status).error_code, /^store_wrong_(secret_kind|key)$/)
      assert.ok(readFileSync(file).equals(before), 'the store is left as it was')
    }
  })
})
