/**
 * From the command line to a connection (src/lib/config/settings.ts, src/lib/config/connection.ts):
 * what each flag becomes, what is refused before anything is sent (a credential as a flag's value or
 * in a named client's parameters, an auth method that cannot use the credential given), and the
 * words a user reads then. test/unit/connection-layers.test.ts pins the layering itself.
 */
import {strict as assert} from 'node:assert'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {type AuthMethod, type ClientSettings, saveClient} from '../../src/lib/config/clients.js'
import {methodFits, resolveConnection, resolveIssuer, toConnection} from '../../src/lib/config/connection.js'
import type {CredentialKind, CredentialLocation, CredentialSource} from '../../src/lib/config/credentials.js'
import {
  assertionSourceOf,
  assertNoCredentialParams,
  credentialParam,
  credentialSourceOf,
  federatedSourceOf,
  parseParams,
  secretSourceOf,
  sessionOverridesOf,
  settingsFromFlags,
  splitScopes,
} from '../../src/lib/config/settings.js'
import {ConfigError, ExitCode, UsageError} from '../../src/lib/errors.js'

const SERVER = {clientId: 'worker', tokenEndpoint: 'https://idp.example/token'}
const FEDERATED_FLAGS = '--federated-token-file PATH, --federated-token-env VAR or --federated-token-github'

/** The error `run` throws, checked to be a UsageError (exit 2) or a ConfigError (exit 3) as said. */
function thrown(run: () => unknown, type: typeof ConfigError | typeof UsageError): ConfigError | UsageError {
  try {
    run()
  } catch (error) {
    assert.ok(error instanceof type, String(error))
    assert.equal(error.exitCode, type === UsageError ? ExitCode.usage : ExitCode.config)
    return error
  }

  assert.fail('nothing was thrown')
}

describe('settings from the command line', () => {
  it('--scope: split on blanks, deduplicated, in the order given', () => {
    assert.equal(splitScopes(undefined), undefined)
    assert.deepEqual(splitScopes(['read', ' write  read', 'admin\tread', '']), ['read', 'write', 'admin'])
  })

  it('--param name=value, sorted by name; the value may hold "=" or be empty', () => {
    assert.equal(parseParams(undefined), undefined)
    assert.deepEqual(parseParams(['b=2', 'a=x=y', 'c=']), [
      ['a', 'x=y'],
      ['b', '2'],
      ['c', ''],
    ])
  })

  it('--param without a name: exit 2 naming which one, never repeating what was typed', () => {
    for (const [values, which] of [
      [['a=1', 's3cr3t'], 2],
      [['=s3cr3t'], 1],
    ] as const) {
      const error = thrown(() => parseParams([...values]), UsageError)
      assert.equal(error.message, `--param #${which} wants name=value`)
      assert.ok(!JSON.stringify(error).includes('s3cr3t'))
    }
  })

  it('--param carrying a credential, in any case: exit 2, the value never repeated, the right flag advised', () => {
    const error = thrown(() => parseParams(['scope=x', 'Client_Secret=s3cr3t']), UsageError)
    assert.equal(error.code, 'secret_on_command_line')
    assert.equal(error.message, '--param Client_Secret carries a credential, and secrets are never taken as flag values')
    assert.deepEqual(error.suggestions, ['use --client-secret-env VAR, --client-secret-stdin or --client-secret-file PATH (or TOKENCTL_CLIENT_SECRET)'])
    assert.ok(!`${error.message} ${error.suggestions.join(' ')}`.includes('s3cr3t'))
    for (const name of ['assertion', 'client_assertion', 'refresh_token', 'subject_token', 'actor_token', 'code', 'code_verifier', 'device_code', 'password']) {
      assert.equal(credentialParam([name.toUpperCase()]), name.toUpperCase(), name)
    }

    for (const name of ['scope', 'resource', 'constructor', 'toString', '__proto__']) assert.equal(credentialParam([name]), undefined, name)
    assert.equal(credentialParam(['a', 'password', 'code']), 'password', 'the first one found')
  })

  it('each credential parameter refused with the way tokenctl takes that credential instead', () => {
    const assertion = "pass the user's token with --assertion-env VAR, --assertion-stdin or --assertion-file PATH"
    const signIn = 'sign in with tokenctl token user (authorization code with PKCE)'
    const advice: Record<string, string> = {
      actor_token: 'tokenctl does not send an actor token',
      assertion,
      client_assertion:
        'pass --private-key-file PATH (tokenctl signs a fresh client assertion for every request), or a federated token with --federated-token-file PATH, --federated-token-env VAR or --federated-token-github',
      client_secret: 'use --client-secret-env VAR, --client-secret-stdin or --client-secret-file PATH (or TOKENCTL_CLIENT_SECRET)',
      code: signIn,
      code_verifier: signIn,
      device_code: 'sign in with tokenctl token user --device',
      password: 'tokenctl does not send passwords (the password grant): sign in with tokenctl token user',
      refresh_token: 'keep the refresh token as a session (tokenctl session start, token user --session-key) and use tokenctl session refresh',
      subject_token: assertion,
    }
    for (const [name, suggestion] of Object.entries(advice)) {
      const error = thrown(() => parseParams([`${name}=value`]), UsageError)
      assert.equal(error.code, 'secret_on_command_line', name)
      assert.deepEqual(error.suggestions, [suggestion], name)
    }
  })

  it("a credential among a named client's parameters (config.json edited by hand): exit 3 before anything is sent", () => {
    assertNoCredentialParams('ci', undefined)
    assertNoCredentialParams('ci', [['audience', 'x']])
    const error = thrown(
      () =>
        assertNoCredentialParams('ci', [
          ['audience', 'x'],
          ['client_secret', 's3cr3t'],
        ]),
      ConfigError,
    )
    assert.equal(error.code, 'credential_in_params')
    assert.equal(error.message, 'client "ci" in config.json keeps a credential in its extra parameters (client_secret), which tokenctl never sends')
    assert.deepEqual(error.suggestions, ['add it again without that --param: tokenctl client add ci --replace … (the secret from --client-secret-env, --client-secret-stdin or --client-secret-file)'])
  })

  it('each flag to its setting, and no setting for a flag not given', () => {
    assert.deepEqual(settingsFromFlags({}), {})
    assert.deepEqual(settingsFromFlags({'send-x5c': false}), {}, '--send-x5c left out is no setting')
    assert.deepEqual(
      settingsFromFlags({
        alg: 'PS256',
        'assertion-audience': 'issuer',
        audience: ['a1'],
        'auth-method': 'client_secret_post',
        'ca-file': '/ca.pem',
        'client-id': 'app',
        issuer: 'https://idp.example',
        'key-id': 'k1',
        param: ['p=1'],
        resource: ['https://api.example'],
        scope: ['read write'],
        'send-x5c': true,
        thumbprint: 'sha1',
        timeout: 7,
        'token-endpoint': 'https://idp.example/token',
      }),
      {
        alg: 'PS256',
        assertionAudience: 'issuer',
        audience: ['a1'],
        authMethod: 'client_secret_post',
        caFile: '/ca.pem',
        clientId: 'app',
        issuer: 'https://idp.example',
        keyId: 'k1',
        params: [['p', '1']],
        resources: ['https://api.example'],
        scopes: ['read', 'write'],
        sendX5c: true,
        thumbprint: 'sha1',
        timeout: 7,
        tokenEndpoint: 'https://idp.example/token',
      },
    )
    assert.equal(settingsFromFlags({thumbprint: 'sha256'}).thumbprint, 'sha256')
    assert.equal(settingsFromFlags({'assertion-audience': 'token-endpoint'}).assertionAudience, 'token-endpoint')
  })

  it('values outside their lists: exit 2 naming what is allowed', () => {
    assert.equal(
      thrown(() => settingsFromFlags({'auth-method': 'basic'}), UsageError).message,
      '--auth-method must be one of client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth, self_signed_tls_client_auth, none, federated',
    )
    assert.equal(thrown(() => settingsFromFlags({'assertion-audience': 'audience'}), UsageError).message, '--assertion-audience must be one of token-endpoint, issuer')
    assert.equal(thrown(() => settingsFromFlags({thumbprint: 'md5'}), UsageError).message, '--thumbprint must be sha256 or sha1')
  })

  it("the user's token for on-behalf-of: from a variable, a file or stdin, and required", () => {
    assert.deepEqual(assertionSourceOf({'assertion-env': 'USER_TOKEN'}), {kind: 'env', variable: 'USER_TOKEN'})
    assert.deepEqual(assertionSourceOf({'assertion-file': 'token.jwt'}), {kind: 'file', path: 'token.jwt'})
    assert.deepEqual(assertionSourceOf({'assertion-stdin': true}), {kind: 'stdin'})
    const error = thrown(() => assertionSourceOf({}), UsageError)
    assert.equal(error.message, "no assertion: pass the user's access token with --assertion-env VAR, --assertion-stdin or --assertion-file PATH")
  })

  it('a client secret: from a variable, a file or stdin, never a value', () => {
    assert.deepEqual(secretSourceOf({'client-secret-env': 'S'}), {kind: 'env', variable: 'S'})
    assert.deepEqual(secretSourceOf({'client-secret-file': 's.txt'}), {kind: 'file', path: 's.txt'})
    assert.deepEqual(secretSourceOf({'client-secret-stdin': true}), {kind: 'stdin'})
    assert.equal(secretSourceOf({}), undefined)
  })

  it('the credential the flags give: a federated token, a certificate (with its password variable), a private key or a secret', () => {
    assert.deepEqual(credentialSourceOf({'federated-token-env': 'T'}), {from: {kind: 'env', variable: 'T'}, kind: 'federated'})
    assert.deepEqual(credentialSourceOf({'certificate-file': 'c.pfx', 'certificate-password-env': 'P'}), {file: 'c.pfx', kind: 'certificate', passwordVariable: 'P'})
    assert.deepEqual(credentialSourceOf({'private-key-file': 'k.pem'}), {file: 'k.pem', kind: 'private_key'})
    assert.deepEqual(credentialSourceOf({'client-secret-stdin': true}), {from: {kind: 'stdin'}, kind: 'secret'})
    assert.equal(credentialSourceOf({}), undefined)
    assert.deepEqual(federatedSourceOf({'federated-token-file': 'token'}), {kind: 'file', path: resolve('token')})
  })

  it('--federated-audience given empty is refused, with the default it would have had', () => {
    const error = thrown(() => federatedSourceOf({'federated-audience': '', 'federated-token-github': true}), UsageError)
    assert.equal(error.message, '--federated-audience is empty')
    assert.deepEqual(error.suggestions, ["omit it for api://AzureADTokenExchange (Microsoft Entra's)"])
    assert.equal(error.code, 'usage_error')
    const alone = thrown(() => federatedSourceOf({'federated-audience': 'x', 'federated-token-env': 'T'}), UsageError)
    assert.equal(alone.code, 'usage_error')
    assert.equal(alone.message, '--federated-audience goes with --federated-token-github (the audience the runner is asked for)')
    assert.deepEqual(alone.suggestions, [
      "a token from --federated-token-file or --federated-token-env carries the audience it was issued for: set it where it is issued (the pod's projected volume audience, GitLab's id_tokens aud:)",
    ])
  })

  it('what session refresh and session end add to a session: a CA file, a credential, a timeout', () => {
    assert.deepEqual(sessionOverridesOf({'ca-file': '/ca.pem', 'client-secret-env': 'S', timeout: 9}), {
      caFile: '/ca.pem',
      credential: {from: {kind: 'env', variable: 'S'}, kind: 'secret'},
      timeout: 9,
    })
    assert.deepEqual(sessionOverridesOf({}), {caFile: undefined, credential: undefined, timeout: undefined})
  })
})

describe('the auth method and the credential', () => {
  const METHODS: AuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth', 'none', 'federated']
  const KINDS: CredentialKind[] = ['secret', 'certificate', 'private_key', 'federated', 'none']

  it('which method can use which credential', () => {
    const table = Object.fromEntries(METHODS.map((method) => [method, KINDS.filter((kind) => methodFits(method, kind))]))
    assert.deepEqual(table, {
      client_secret_basic: ['secret', 'none'],
      client_secret_post: ['secret', 'none'],
      federated: ['federated'],
      none: ['secret', 'none'],
      private_key_jwt: ['certificate', 'private_key'],
      self_signed_tls_client_auth: ['certificate'],
      tls_client_auth: ['certificate'],
    })
  })

  const given = (source: CredentialSource): {credential: CredentialLocation} => ({credential: {kind: 'given', source}})
  const secret: CredentialSource = {from: {kind: 'env', variable: 'S'}, kind: 'secret'}
  const key: CredentialSource = {file: 'k.pem', kind: 'private_key'}
  const certificate: CredentialSource = {file: 'c.pem', kind: 'certificate'}
  const federated = (kind: 'env' | 'file' | 'github'): CredentialSource => ({
    from: kind === 'env' ? {kind, variable: 'T'} : kind === 'file' ? {kind, path: '/t'} : {audience: 'a', kind},
    kind: 'federated',
  })

  it('no method asked: the one the credential implies', () => {
    const method = (extra: {credential: CredentialLocation}) => toConnection(SERVER, extra).authMethod
    assert.equal(method(given(secret)), 'client_secret_basic')
    assert.equal(method(given(key)), 'private_key_jwt')
    assert.equal(method(given(certificate)), 'private_key_jwt')
    assert.equal(method(given(federated('file'))), 'federated')
    assert.equal(method({credential: {kind: 'environment'}}), 'client_secret_basic')
    assert.equal(method({credential: {kind: 'none'}}), 'none')
  })

  it('a method that fits is taken; none means no credential at all', () => {
    assert.equal(toConnection({...SERVER, authMethod: 'client_secret_post'}, given(secret)).authMethod, 'client_secret_post')
    const publicClient = toConnection({...SERVER, authMethod: 'none'}, {credential: {kind: 'environment'}})
    assert.deepEqual([publicClient.authMethod, publicClient.credential], ['none', {kind: 'none'}])
    const keyed = toConnection({...SERVER, authMethod: 'private_key_jwt'}, given(key))
    assert.deepEqual(keyed.credential, {kind: 'given', source: key})
  })

  it('a credential given on the command line with a method that cannot use it: exit 2, naming the flag and what to do', () => {
    const refusal = (method: AuthMethod, source: CredentialSource) => thrown(() => toConnection({...SERVER, authMethod: method}, given(source)), UsageError)
    const cases: Array<[AuthMethod, CredentialSource, string, string]> = [
      ['client_secret_basic', federated('env'), '--federated-token-env', 'a federated token authenticates with federated: drop --auth-method'],
      ['private_key_jwt', federated('file'), '--federated-token-file', 'a federated token authenticates with federated: drop --auth-method'],
      ['none', federated('github'), '--federated-token-github', 'a federated token authenticates with federated: drop --auth-method'],
      ['client_secret_post', key, '--private-key-file', 'a key authenticates with private_key_jwt: drop --auth-method'],
      ['federated', certificate, '--certificate-file', 'a certificate authenticates with private_key_jwt, tls_client_auth or self_signed_tls_client_auth'],
      ['none', secret, 'a client secret', 'a public client has no secret: drop the secret flag'],
      ['federated', secret, 'a client secret', `federated needs a federated token: ${FEDERATED_FLAGS}`],
      ['private_key_jwt', secret, 'a client secret', 'private_key_jwt needs --private-key-file or --certificate-file'],
    ]
    for (const [method, source, flag, advice] of cases) {
      const error = refusal(method, source)
      assert.equal(error.code, 'usage_error')
      assert.equal(error.message, `--auth-method ${method} does not go with ${flag}`)
      assert.deepEqual(error.suggestions, [advice], `${method} with ${flag}`)
    }
  })

  it("a method whose credential is missing altogether (a named client's, the environment's): exit 3", () => {
    const missing = (method: AuthMethod, credential: CredentialLocation, clientName?: string) => thrown(() => toConnection({...SERVER, authMethod: method}, {clientName, credential}), ConfigError)
    const environment: CredentialLocation = {kind: 'environment'}
    const stored = (kind: 'certificate' | 'private_key' | 'secret'): CredentialLocation => ({kind: 'named_client', name: 'ci', stored: kind})

    let error = missing('private_key_jwt', stored('secret'), 'ci')
    assert.equal(error.code, 'missing_configuration')
    assert.equal(error.message, 'private_key_jwt needs --private-key-file or --certificate-file for client "ci"')
    assert.equal(missing('private_key_jwt', environment).message, 'private_key_jwt needs --private-key-file or --certificate-file')
    assert.equal(missing('federated', environment).message, `federated needs a federated token: ${FEDERATED_FLAGS}`)
    assert.equal(missing('federated', environment).code, 'missing_configuration')
    assert.equal(missing('federated', stored('secret'), 'ci').message, `federated needs a federated token: ${FEDERATED_FLAGS} for client "ci"`)
    // Mutual TLS presents a certificate in the handshake: a key alone, a secret or nothing is not enough.
    for (const method of ['tls_client_auth', 'self_signed_tls_client_auth'] as const) {
      error = missing(method, stored('private_key'), 'ci')
      assert.equal(error.code, 'missing_configuration')
      assert.equal(error.message, `${method} needs a certificate (--certificate-file) for client "ci"`)
      assert.equal(missing(method, environment).message, `${method} needs a certificate (--certificate-file)`)
    }

    error = missing('client_secret_basic', stored('certificate'), 'ci')
    assert.equal(error.code, 'missing_configuration')
    assert.equal(error.message, 'client_secret_basic needs a client secret, but the credential for client "ci" is a certificate')
    assert.deepEqual(error.suggestions, ['drop --auth-method, or give the secret (--client-secret-env VAR, --client-secret-stdin, --client-secret-file PATH)'])
    assert.equal(missing('client_secret_post', stored('private_key'), 'ci').message, 'client_secret_post needs a client secret, but the credential for client "ci" is a private key')
    const federatedClient: CredentialLocation = {kind: 'named_client', name: 'ci', source: {from: {kind: 'env', variable: 'T'}, kind: 'federated'}}
    assert.equal(missing('none', federatedClient, 'ci').message, 'none needs a client secret, but the credential for client "ci" is a federated token')
  })
})

describe('a connection, checked whole before any request', () => {
  it('a client id and a server are required: exit 3 saying which, and for which client', () => {
    let error = thrown(() => toConnection({tokenEndpoint: SERVER.tokenEndpoint}), ConfigError)
    assert.equal(error.code, 'missing_configuration')
    assert.equal(error.message, 'no client id')
    assert.deepEqual(error.suggestions, ['pass --client-id (or set TOKENCTL_CLIENT_ID), or name a client added with tokenctl client add'])
    assert.equal(thrown(() => toConnection({tokenEndpoint: SERVER.tokenEndpoint}, {clientName: 'ci'}), ConfigError).message, 'no client id for client "ci"')
    error = thrown(() => toConnection({clientId: 'app'}), ConfigError)
    assert.equal(error.code, 'missing_configuration')
    assert.equal(error.message, 'no authorization server')
    assert.deepEqual(error.suggestions, ['pass --issuer URL or --token-endpoint URL (or set TOKENCTL_ISSUER / TOKENCTL_TOKEN_ENDPOINT)'])
    assert.equal(thrown(() => toConnection({clientId: 'app'}, {clientName: 'ci'}), ConfigError).message, 'no authorization server for client "ci"')
    assert.ok(toConnection({clientId: 'app', issuer: 'https://idp.example'}, {credential: {kind: 'none'}}).issuer)
  })

  it('every URL is https or loopback, named by the flag it came from', () => {
    const insecure = (settings: Partial<ClientSettings>) => thrown(() => toConnection({clientId: 'app', ...settings}, {credential: {kind: 'none'}}), ConfigError)
    assert.match(insecure({issuer: 'http://idp.example'}).message, /^refusing plain http to idp\.example \(--issuer\)/)
    assert.match(insecure({tokenEndpoint: 'http://idp.example/token'}).message, /^refusing plain http to idp\.example \(--token-endpoint\)/)
    assert.match(insecure({issuer: 'https://idp.example', tokenEndpoint: 'http://idp.example/token'}).message, /\(--token-endpoint\)/)
    const loopback = toConnection({clientId: 'app', issuer: 'http://127.0.0.1:8400', tokenEndpoint: 'http://localhost:8400/token'}, {credential: {kind: 'none'}})
    assert.deepEqual([loopback.issuer?.href, loopback.tokenEndpoint?.href], ['http://127.0.0.1:8400/', 'http://localhost:8400/token'])
  })

  it('every setting carried over; lists empty when not given; without a credential, TOKENCTL_CLIENT_SECRET is where it is read', () => {
    const settings: Partial<ClientSettings> = {
      alg: 'ES256',
      assertionAudience: 'issuer',
      audience: ['a'],
      caFile: '/ca.pem',
      clientId: 'app',
      issuer: 'https://idp.example',
      keyId: 'k',
      params: [['p', '1']],
      resources: ['r'],
      scopes: ['s'],
      sendX5c: true,
      thumbprint: 'sha1',
      timeout: 5,
      tokenEndpoint: 'https://idp.example/token',
    }
    const connection = toConnection(settings, {clientName: 'ci', credential: {kind: 'given', source: {file: 'c.pem', kind: 'certificate'}}})
    assert.deepEqual(
      {...connection, issuer: connection.issuer?.href, tokenEndpoint: connection.tokenEndpoint?.href},
      {
        alg: 'ES256',
        assertionAudience: 'issuer',
        audience: ['a'],
        authMethod: 'private_key_jwt',
        caFile: '/ca.pem',
        clientId: 'app',
        clientName: 'ci',
        credential: {kind: 'given', source: {file: 'c.pem', kind: 'certificate'}},
        dpop: undefined,
        issuer: 'https://idp.example/',
        keyId: 'k',
        params: [['p', '1']],
        resources: ['r'],
        scopes: ['s'],
        sendX5c: true,
        thumbprint: 'sha1',
        timeoutSeconds: 5,
        tokenEndpoint: 'https://idp.example/token',
      },
    )
    const bare = toConnection(SERVER)
    assert.deepEqual([bare.audience, bare.params, bare.resources, bare.scopes, bare.credential], [[], [], [], [], {kind: 'environment'}])
  })
})

describe('resolveConnection and resolveIssuer with named clients', () => {
  let home: string
  const savedHome = process.env.TOKENCTL_HOME
  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'tokenctl-connection-'))
    process.env.TOKENCTL_HOME = home
    await saveClient('keyed', {...SERVER, authMethod: 'private_key_jwt', storedCredential: 'private_key'})
    await saveClient('secret', {...SERVER, storedCredential: 'secret'})
    await saveClient('plain', {...SERVER})
    await saveClient('leaky', {...SERVER, params: [['client_secret', 's3cr3t']]})
    await saveClient('endpoint-only', {...SERVER})
    await saveClient('with-issuer', {caFile: '/client-ca.pem', clientId: 'web', issuer: 'https://client.example', timeout: 12})
  })
  after(() => {
    if (savedHome === undefined) delete process.env.TOKENCTL_HOME
    else process.env.TOKENCTL_HOME = savedHome
    rmSync(home, {force: true, recursive: true})
  })

  it("the named client's credential, where it keeps it", () => {
    const connection = resolveConnection('keyed', {}, {})
    assert.deepEqual([connection.authMethod, connection.credential, connection.clientName], ['private_key_jwt', {kind: 'named_client', name: 'keyed', stored: 'private_key'}, 'keyed'])
  })

  it("a credential given for this run replaces the named client's, and the method chosen for the client's own gives way to one that fits", () => {
    const connection = resolveConnection('keyed', {'client-secret-env': 'S'}, {})
    assert.deepEqual([connection.authMethod, connection.credential], ['client_secret_basic', {kind: 'given', source: {from: {kind: 'env', variable: 'S'}, kind: 'secret'}}])
    const refused = thrown(() => resolveConnection('keyed', {'auth-method': 'private_key_jwt', 'client-secret-env': 'S'}, {}), UsageError)
    assert.equal(refused.message, '--auth-method private_key_jwt does not go with a client secret', '--auth-method on the command line is kept, and refused')
  })

  it('a credential among its parameters: exit 3, nothing sent', () => {
    assert.equal(thrown(() => resolveConnection('leaky', {}, {}), ConfigError).code, 'credential_in_params')
  })

  it('sign-in: a client with no secret anywhere is public (none); a secret anywhere keeps the secret method', () => {
    const publicByDefault = {publicByDefault: true}
    assert.equal(resolveConnection('plain', {}, {}, publicByDefault).authMethod, 'none')
    assert.equal(resolveConnection('plain', {}, {TOKENCTL_CLIENT_SECRET: 's'}, publicByDefault).authMethod, 'client_secret_basic')
    assert.equal(resolveConnection('secret', {}, {}, publicByDefault).authMethod, 'client_secret_basic')
    assert.equal(resolveConnection('plain', {'client-secret-env': 'S'}, {}, publicByDefault).authMethod, 'client_secret_basic')
    assert.equal(resolveConnection('plain', {'auth-method': 'client_secret_post'}, {}, publicByDefault).authMethod, 'client_secret_post')
    assert.equal(resolveConnection('plain', {}, {}).authMethod, 'client_secret_basic', 'not for other commands')
  })

  it("token verify's issuer: from the named client, with its CA file and timeout; none named: exit 3 saying so", () => {
    assert.deepEqual(resolveIssuer('with-issuer', {}, {}), {caFile: '/client-ca.pem', issuer: new URL('https://client.example'), timeoutSeconds: 12})
    let error = thrown(() => resolveIssuer('endpoint-only', {}, {TOKENCTL_ISSUER: 'https://elsewhere.example'}), ConfigError)
    assert.equal(error.message, 'client "endpoint-only" has no issuer: the issuer\'s discovery document names the keys that sign its tokens')
    assert.deepEqual(error.suggestions, ['pass --issuer URL'])
    error = thrown(() => resolveIssuer(undefined, {}, {}), ConfigError)
    assert.equal(error.code, 'missing_configuration')
    assert.equal(error.message, "no issuer: the issuer's discovery document names the keys that sign its tokens")
    assert.deepEqual(error.suggestions, ['pass --issuer URL or the name of a client added with tokenctl client add (or set TOKENCTL_ISSUER)'])
    assert.match(thrown(() => resolveIssuer(undefined, {issuer: 'http://idp.example'}, {}), ConfigError).message, /\(--issuer\)/)
    assert.equal(resolveIssuer(undefined, {issuer: 'https://idp.example'}, {}).timeoutSeconds, 30)
  })
})

describe('the DPoP key a connection uses', () => {
  const dpopOf = (settings: Partial<ClientSettings>, clientName?: string) => toConnection({...SERVER, ...settings}, {clientName, credential: {kind: 'environment'}}).dpop

  it("--dpop-key-file first, else the named client's stored key (by its thumbprint), else one for this connection; none without --dpop", () => {
    assert.equal(dpopOf({}), undefined)
    assert.equal(dpopOf({dpopJkt: 'jkt'}, 'ci'), undefined, 'a thumbprint kept without --dpop binds nothing')
    assert.deepEqual(dpopOf({dpop: true}), {kind: 'connection'})
    assert.deepEqual(dpopOf({dpop: true}, 'ci'), {kind: 'connection'}, 'a named client without a kept key')
    assert.deepEqual(dpopOf({dpop: true, dpopJkt: 'jkt'}), {kind: 'connection'}, 'a thumbprint without a client name')
    assert.deepEqual(dpopOf({dpop: true, dpopJkt: 'jkt'}, 'ci'), {jkt: 'jkt', kind: 'named_client', name: 'ci'})
    assert.deepEqual(dpopOf({dpop: true, dpopJkt: 'jkt', dpopKeyFile: '/k.jwk'}, 'ci'), {kind: 'file', path: '/k.jwk'})
    assert.deepEqual(dpopOf({dpopKeyFile: '/k.jwk'}), {kind: 'file', path: '/k.jwk'}, 'a key file is DPoP by itself')
  })
  it('from the command line: --dpop, or --dpop-key-file alone (kept absolute, for runs from other folders)', () => {
    assert.equal(settingsFromFlags({}).dpop, undefined)
    assert.equal(settingsFromFlags({dpop: false}).dpop, undefined)
    assert.equal(settingsFromFlags({dpop: true}).dpop, true)
    assert.equal(settingsFromFlags({dpop: true}).dpopKeyFile, undefined)
    const fromFile = settingsFromFlags({'dpop-key-file': 'k.jwk'})
    assert.deepEqual([fromFile.dpop, fromFile.dpopKeyFile], [true, resolve('k.jwk')])
  })

  it('a key given with a mutual-TLS method: exit 2 saying the method presents a certificate', () => {
    const error = thrown(() => toConnection({...SERVER, authMethod: 'tls_client_auth'}, {credential: {kind: 'given', source: {file: 'k.pem', kind: 'private_key'}}}), UsageError)
    assert.equal(error.message, '--auth-method tls_client_auth does not go with --private-key-file')
    assert.deepEqual(error.suggestions, ['tls_client_auth presents a certificate in the TLS handshake: pass --certificate-file PATH (PEM or PKCS#12)'])
  })
})
