import {strict as assert} from 'node:assert'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'

import {AUDIENCE_NOT_CHECKED, checkAudience, checkExpiry, checkIssuer, checkNotBefore, checkScopes, duration, failed, passed, skipped} from '../../src/lib/verify/checks.js'
import {embeddedKeyParameters, noteEmbeddedKeys} from '../../src/lib/verify/embedded-keys.js'
import {explainIssuerMismatch, issuerShape, otherAppName, webApiAudiences} from '../../src/lib/verify/entra.js'
import {audienceOptions, checkTokenSyntax, readTokenFromStdin, tokenArguments} from '../../src/lib/verify/input.js'
import {checkLines, uncheckedAudienceWarning, verifyJson} from '../../src/lib/verify/report.js'
import {refusedByHeader} from '../../src/lib/verify/signature.js'
import {introspectToken, type VerifyOptions, verifyJwt} from '../../src/lib/verify/verify.js'
import {toConnection} from '../../src/lib/config/connection.js'
import type {Progress} from '../../src/lib/http/context.js'
import {startTestIssuer, type TestIssuer} from '../helpers/jwt-issuer.js'
import {KEY_PARAMETERS, type KeyForger, startKeyForger} from '../helpers/key-forger.js'

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'

describe('token verify building blocks', () => {
  it('recognises Entra issuer shapes by tenant id and version, and nothing else', () => {
    assert.deepEqual(issuerShape(`https://sts.windows.net/${TENANT}/`), {tenant: TENANT, version: '1.0'})
    assert.deepEqual(issuerShape(`https://login.microsoftonline.com/${TENANT}/v2.0`), {tenant: TENANT, version: '2.0'})
    assert.equal(issuerShape('https://login.microsoftonline.com/common/v2.0'), undefined)
    assert.equal(issuerShape('https://idp.example.com/realms/x/'), undefined)
    assert.equal(issuerShape('not a url'), undefined)
    assert.match(explainIssuerMismatch(`https://login.microsoftonline.com/${TENANT}/v2.0`, `https://sts.windows.net/${TENANT}/`)!, /^a v2\.0 token checked against the v1\.0 issuer: /)
    assert.equal(explainIssuerMismatch('https://a.example/', 'https://b.example/'), undefined)
  })

  it('pairs an app ID URI api://X with the client id X, and infers nothing for custom URIs', () => {
    assert.equal(otherAppName('api://6e74172b-be56-4843-9ff4-e66a39bb12e3'), '6e74172b-be56-4843-9ff4-e66a39bb12e3')
    assert.equal(otherAppName('6e74172b-be56-4843-9ff4-e66a39bb12e3'), 'api://6e74172b-be56-4843-9ff4-e66a39bb12e3')
    assert.equal(otherAppName('https://contoso.com/api'), undefined)
    assert.equal(otherAppName('api://contoso.com/api'), undefined)
    assert.equal(checkAudience({aud: ['x', 'api://app']}, ['app']).status, 'passed')
    assert.equal(checkAudience({aud: 'https://contoso.com/api'}, ['contoso.com/api']).status, 'failed')
    assert.equal(checkAudience({aud: 42}, ['app']).detail, 'aud 42 is not a string or a list of strings; expected app')
  })

  it('times: durations as people say them, NumericDates range-checked, the skew applied on both sides', () => {
    assert.equal(duration(1), '1 second')
    assert.equal(duration(119), '119 seconds')
    assert.equal(duration(600), '10 minutes')
    assert.equal(duration(3 * 3600), '3 hours')
    assert.equal(duration(3 * 86_400), '3 days')
    const at = {clockSkewSeconds: 300, now: 1_700_000_000}
    assert.equal(checkExpiry({exp: 1e300}, at).detail, 'exp 1e+300 is not a NumericDate (seconds since 1970)')
    assert.equal(checkExpiry({exp: '1700000000'}, at).status, 'failed')
    assert.equal(checkExpiry({exp: at.now - 300}, at).status, 'passed')
    assert.equal(checkExpiry({exp: at.now - 301}, at).status, 'failed')
    assert.equal(checkNotBefore({nbf: at.now + 300}, at).status, 'passed')
    assert.equal(checkNotBefore({nbf: at.now + 301}, at).detail, `not valid for 1 more second (nbf ${new Date((at.now + 301) * 1000).toISOString()}; clock skew 300 s): check this machine's clock`)
    assert.equal(checkNotBefore({}, at).status, 'skipped')
  })

  it('scopes: scp or RFC 9068 scope, a list or a string; api://app/name matches the bare name Entra puts in scp', () => {
    assert.equal(checkScopes({scp: 'a b'}, ['b']).status, 'passed')
    assert.equal(checkScopes({scp: ['a', 'b']}, ['a', 'b']).status, 'passed')
    assert.equal(checkScopes({scope: 'read'}, ['read']).detail, 'read (scope: read)')
    assert.equal(checkScopes({scp: 'access_as_user'}, ['api://orders/access_as_user']).status, 'passed')
    assert.equal(checkScopes({}, ['read']).detail, 'no scp claim; expected read')
    assert.equal(checkIssuer({}, 'https://x.example').detail, 'no iss claim; expected https://x.example')
  })

  it('refuses by the header alone: none (any case), HS*, algs off the list, unencoded payloads', () => {
    assert.match(refusedByHeader({alg: 'NONE'})!.detail, /^alg none: /)
    assert.match(refusedByHeader({alg: 'HS512'})!.detail, /^alg HS512 is symmetric/)
    assert.match(refusedByHeader({alg: 'RS1'})!.detail, /^alg RS1 is not allowed \(allowed: RS256 /)
    assert.equal(refusedByHeader({})!.detail, 'no alg in the header')
    assert.match(refusedByHeader({alg: 'RS256', b64: false})!.detail, /^b64 false/)
    assert.equal(refusedByHeader({alg: 'ES256', kid: 'k'}), undefined)
  })

  it('the token: RFC 6750 syntax, blanks trimmed; a lone argument naming a client is the client', () => {
    assert.equal(checkTokenSyntax('  a.b.c\n'), 'a.b.c')
    assert.throws(() => checkTokenSyntax('a b'), {exitCode: 2, code: 'invalid_jwt'})
    assert.throws(() => checkTokenSyntax('a\u001b[2Jb'), {exitCode: 2})
    const isClient = (value: string) => value === 'web'
    assert.deepEqual(tokenArguments({token: 'web'}, isClient), {clientName: 'web'})
    assert.deepEqual(tokenArguments({token: '-', name: 'web'}, isClient), {clientName: 'web', token: undefined})
    assert.deepEqual(tokenArguments({token: 'a.b.c'}, isClient), {clientName: undefined, token: 'a.b.c'})
    assert.deepEqual(tokenArguments({token: 'web', name: 'other'}, isClient), {clientName: 'other', token: 'web'})
  })

  it('refuses what is not a signed JWT before any request: a JWE, three segments that are not JSON', async () => {
    const issuer = {issuer: new URL('http://127.0.0.1:1/'), timeoutSeconds: 1}
    const options = {audiences: [], clockSkewSeconds: 300, roles: [], scopes: []}
    await assert.rejects(verifyJwt('a.b.c.d.e', issuer, options, {}), {exitCode: 2, message: /^an encrypted token \(JWE/})
    await assert.rejects(verifyJwt('a.b.c', issuer, options, {}), {exitCode: 2, code: 'invalid_jwt', message: /^not a JWT/})
  })

  it('reads stdin up to the bound and no further', async () => {
    let pulled = 0
    const endless = new Readable({
      read() {
        pulled++
        this.push(Buffer.alloc(16 * 1024, 0x61))
      },
    }) as unknown as NodeJS.ReadStream
    await assert.rejects(readTokenFromStdin(endless), {exitCode: 2, message: /stdin holds more than 64 KiB/})
    assert.ok(pulled <= 6, `read ${pulled} chunks of an endless stream`)
    assert.equal(await readTokenFromStdin(Readable.from([Buffer.from(' tok.en \n')]) as unknown as NodeJS.ReadStream), 'tok.en')
  })

  it('escapes control characters in details; JSON marks skipped checks ok: null', () => {
    const lines = checkLines({checks: [{detail: 'a\u001b[31mb\u0007\u009bc', name: 'iss', status: 'failed'}], claims: {}, valid: false} as never)
    assert.match(lines[0], /a\\x1b\[31mb\\x07\\u009bc$/)
    const json = verifyJson({
      checks: [
        {name: 'aud', status: 'skipped', detail: 'd'},
        {name: 'exp', status: 'failed', detail: 'e'},
      ],
      claims: {},
      valid: false,
    })
    assert.deepEqual(json.checks, [
      {name: 'aud', ok: null, status: 'skipped', detail: 'd'},
      {name: 'exp', ok: false, status: 'failed', detail: 'e'},
    ])
  })

  it("a key in the header is named on the signature line, never counted: not used when it fails, ignored when the issuer's key verified", () => {
    assert.deepEqual(embeddedKeyParameters({alg: 'RS256', x5u: 'u', kid: 'k', jwk: {}, x5c: [], jku: 'j', x5t: 't'}), ['jwk', 'jku', 'x5c', 'x5u'])
    assert.deepEqual(embeddedKeyParameters({alg: 'RS256', kid: 'k', x5t: 't'}), [])
    const bad = failed('signature', 'bad signature')
    assert.equal(noteEmbeddedKeys(bad, {alg: 'RS256'}), bad)
    assert.deepEqual(noteEmbeddedKeys(bad, {jwk: {}, x5u: 'u'}), {
      name: 'signature',
      status: 'failed',
      detail: "bad signature; the header's own key (jwk, x5u) was not used: a token cannot vouch for itself, only the issuer's JWKS can",
    })
    assert.deepEqual(noteEmbeddedKeys(passed('signature', 'RS256, kid k'), {x5c: ['MII']}), {
      name: 'signature',
      status: 'passed',
      detail: "RS256, kid k; the header's own key (x5c) was ignored: only the issuer's JWKS is trusted",
    })
  })

  it('iss: a token without one fails the check (a web API refuses it), never skips it', () => {
    assert.deepEqual(checkIssuer({}, 'https://x.example'), {name: 'iss', status: 'failed', detail: 'no iss claim; expected https://x.example'})
    assert.deepEqual(checkIssuer({iss: 'https://x.example'}, 'https://x.example'), {name: 'iss', status: 'passed', detail: 'https://x.example'})
    assert.deepEqual(checkIssuer({iss: 7}, 'https://x.example'), {name: 'iss', status: 'failed', detail: '7, expected https://x.example'})
  })

  it('aud without an audience to compare: not checked, and the line says so, whatever the token holds', () => {
    const notChecked = (has: string) => ({name: 'aud', status: 'skipped', detail: `${AUDIENCE_NOT_CHECKED}: ${has}`})
    assert.equal(AUDIENCE_NOT_CHECKED, "not checked, pass --audience (the web API's client id or app ID URI)")
    assert.deepEqual(checkAudience({aud: 'api'}, []), notChecked("the token's aud is api"))
    assert.deepEqual(checkAudience({aud: ['a', 'b']}, []), notChecked("the token's aud is a b"))
    assert.deepEqual(checkAudience({}, []), notChecked('the token has no aud claim'))
    assert.deepEqual(checkAudience({aud: 42}, []), notChecked("the token's aud 42 is not a string or a list of strings"))
    assert.deepEqual(checkAudience({aud: ['a', 1]}, []), notChecked('the token\'s aud ["a",1] is not a string or a list of strings'))
    assert.deepEqual(checkAudience({}, ['api']), {name: 'aud', status: 'failed', detail: 'no aud claim; expected api'})
  })

  it('a named client that authenticates defaults the audience to its client id and api://{client id}, as Microsoft.Identity.Web; a public client does not', () => {
    assert.deepEqual(webApiAudiences('6e74172b'), ['6e74172b', 'api://6e74172b'])
    const defaulted = {
      audiences: ['api', 'api://api'],
      audienceDefault: 'no --audience: client "web"\'s id and app ID URI, the audiences Microsoft.Identity.Web accepts by default',
    }
    const named = (settings: Record<string, unknown>) => ({name: 'web', settings: {clientId: 'api', ...settings}})
    assert.deepEqual(audienceOptions(undefined, named({storedCredential: 'secret'})), defaulted)
    assert.deepEqual(audienceOptions([], named({storedCredential: 'certificate'})), defaulted)
    assert.deepEqual(audienceOptions(undefined, named({federatedToken: {kind: 'env', variable: 'X'}})), defaulted)
    assert.deepEqual(audienceOptions(undefined, named({authMethod: 'client_secret_post'})), defaulted)
    assert.deepEqual(audienceOptions(['x'], named({storedCredential: 'secret'})), {audiences: ['x']})
    assert.deepEqual(audienceOptions(undefined, named({authMethod: 'none', storedCredential: 'secret'})), {audiences: []})
    assert.deepEqual(audienceOptions(undefined, named({})), {audiences: []})
    assert.deepEqual(audienceOptions(undefined), {audiences: []})
    assert.deepEqual(audienceOptions(['x']), {audiences: ['x']})
    const from = ` (${defaulted.audienceDefault})`
    assert.deepEqual(checkAudience({aud: 'api://api'}, defaulted.audiences, defaulted.audienceDefault), {name: 'aud', status: 'passed', detail: `api://api${from}`})
    assert.equal(checkAudience({aud: 'other'}, defaulted.audiences, defaulted.audienceDefault).detail, `other, expected one of api api://api${from}`)
    assert.equal(checkAudience({}, defaulted.audiences, defaulted.audienceDefault).detail, `no aud claim; expected api api://api${from}`)
    assert.equal(checkAudience({aud: 'https://graph.microsoft.com'}, ['api'], 'd').detail, 'https://graph.microsoft.com, expected api (d): a token for Microsoft Graph, not for your API')
  })

  it('a verdict that passed without the audience checked warns; one that failed, or checked it, does not', () => {
    const aud = (status: 'failed' | 'passed' | 'skipped', detail: string) => ({name: 'aud' as const, status, detail})
    const notChecked = aud('skipped', `${AUDIENCE_NOT_CHECKED}: the token has no aud claim`)
    assert.equal(
      uncheckedAudienceWarning({checks: [notChecked], claims: {}, valid: true}),
      "the audience was not checked: pass --audience with the web API's client id or app ID URI (or name its client), or a token for another API passes too",
    )
    assert.equal(uncheckedAudienceWarning({checks: [notChecked], claims: {}, valid: false}), undefined)
    assert.equal(uncheckedAudienceWarning({checks: [aud('skipped', 'the token is not active')], claims: {}, valid: true}), undefined)
    assert.equal(uncheckedAudienceWarning({checks: [aud('passed', 'api')], claims: {}, valid: true}), undefined)
    assert.equal(uncheckedAudienceWarning({checks: [], claims: {}, valid: true}), undefined)
  })

  describe('verifyJwt against an issuer in this process (discovery, its JWKS)', () => {
    let issuer: TestIssuer
    let forger: KeyForger
    let home: string
    const savedHome = process.env.TOKENCTL_HOME
    const options: VerifyOptions = {audiences: ['api'], clockSkewSeconds: 300, roles: [], scopes: []}
    const verify = (token: string, more: Partial<VerifyOptions> = {}) => verifyJwt(token, {issuer: new URL(issuer.issuer), timeoutSeconds: 10}, {...options, ...more}, {})
    const byName = <T extends {name: string}>(checks: T[], name: string) => checks.find((check) => check.name === name)

    before(async () => {
      home = mkdtempSync(join(tmpdir(), 'tokenctl-verify-'))
      process.env.TOKENCTL_HOME = home
      ;[issuer, forger] = await Promise.all([startTestIssuer(), startKeyForger()])
    })
    after(async () => {
      await Promise.all([issuer?.stop(), forger?.stop()])
      if (savedHome === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = savedHome
      rmSync(home, {force: true, recursive: true})
    })

    for (const parameter of KEY_PARAMETERS) {
      it(`${parameter}: a token signed by the key its header carries fails the signature check; nothing is fetched from the header's URLs`, async () => {
        forger.requests.length = 0
        const result = await verify(await forger.forge({iss: issuer.issuer, aud: 'api'}, parameter))
        assert.equal(result.valid, false)
        const signature = result.checks[0]
        assert.equal(signature.name, 'signature')
        assert.equal(signature.status, 'failed')
        assert.ok(signature.detail.endsWith(`; the header's own key (${parameter}) was not used: a token cannot vouch for itself, only the issuer's JWKS can`), signature.detail)
        assert.deepEqual(
          result.checks.filter((check) => check.status === 'failed').map((check) => check.name),
          ['signature'],
        )
        assert.deepEqual(forger.requests, [])
      })
    }

    it("a token the issuer signed passes even with a stranger's key in its header, which the line says was ignored", async () => {
      const result = await verify(await issuer.sign({aud: 'api'}, {header: {jwk: forger.publicJwk}}))
      assert.equal(result.valid, true)
      assert.equal(result.checks[0].status, 'passed')
      assert.match(result.checks[0].detail, /; the header's own key \(jwk\) was ignored: only the issuer's JWKS is trusted$/)
    })

    it('a token without iss fails the iss check alone', async () => {
      const result = await verify(await issuer.sign({iss: undefined, aud: 'api'}))
      assert.equal(result.valid, false)
      assert.deepEqual(byName(result.checks, 'iss'), {name: 'iss', status: 'failed', detail: `no iss claim; expected ${issuer.issuer}`})
      assert.deepEqual(
        result.checks.filter((check) => check.status === 'failed').map((check) => check.name),
        ['iss'],
      )
    })

    it('no audience asked: a token with no aud passes with aud not checked; with audiences, where they came from is said', async () => {
      const token = await issuer.sign()
      const unchecked = await verify(token, {audiences: []})
      assert.equal(unchecked.valid, true)
      assert.deepEqual(byName(unchecked.checks, 'aud'), {name: 'aud', status: 'skipped', detail: `${AUDIENCE_NOT_CHECKED}: the token has no aud claim`})
      const defaulted = await verify(await issuer.sign({aud: 'api://web'}), {audiences: ['web', 'api://web'], audienceDefault: 'the default'})
      assert.equal(defaulted.valid, true)
      assert.equal(byName(defaulted.checks, 'aud')?.detail, 'api://web (the default)')
    })
  })

  describe('against purpose-made issuers in this process: their keys and their introspection answers', () => {
    const savedHome = process.env.TOKENCTL_HOME
    const SECRET_VARIABLE = 'TOKEN_VERIFY_UNIT_SECRET'
    let home: string
    let issuer: TestIssuer
    const options: VerifyOptions = {audiences: ['api'], clockSkewSeconds: 300, roles: [], scopes: []}
    const issuerOf = (server: TestIssuer) => ({issuer: new URL(server.issuer), timeoutSeconds: 10})
    const connection = () => toConnection({clientId: 'c', issuer: issuer.issuer, timeout: 10}, {credential: {kind: 'given', source: {kind: 'secret', from: {kind: 'env', variable: SECRET_VARIABLE}}}})
    const runtime = (progress: Progress[] = []) => ({hooks: {progress: (event: Progress) => progress.push(event)}, openStore: () => assert.fail('the store was opened')})
    const introspect = (more: Partial<VerifyOptions> = {}, progress?: Progress[]) => introspectToken('opaque-token', connection(), {...options, ...more}, runtime(progress))

    before(async () => {
      issuer = await startTestIssuer()
      process.env[SECRET_VARIABLE] = 's3cret'
    })
    after(async () => {
      await issuer?.stop()
      delete process.env[SECRET_VARIABLE]
      if (savedHome === undefined) delete process.env.TOKENCTL_HOME
      else process.env.TOKENCTL_HOME = savedHome
    })
    // A fresh home for each discovery: it is cached there, and the tests change what it says.
    const freshHome = () => {
      if (home) rmSync(home, {force: true, recursive: true})
      home = mkdtempSync(join(tmpdir(), 'tokenctl-verify-'))
      process.env.TOKENCTL_HOME = home
    }

    beforeEach(() => {
      freshHome()
      issuer.introspectWith(undefined)
    })
    afterEach(() => {
      rmSync(home, {force: true, recursive: true})
    })

    it('refuses what is not a signed JWT, saying what to do with an opaque one', async () => {
      await assert.rejects(verifyJwt('a.b.c.d.e', issuerOf(issuer), options, {}), {
        exitCode: 2,
        code: 'invalid_jwt',
        message: 'an encrypted token (JWE, five segments): only the API holding its decryption key can read it',
      })
      await assert.rejects(verifyJwt('a.b.c', issuerOf(issuer), options, {}), {
        exitCode: 2,
        code: 'invalid_jwt',
        message: 'not a JWT (three base64url segments with a JSON header and payload)',
        suggestions: ['for an opaque token, add --introspect: the issuer is asked about it (RFC 7662)'],
      })
      assert.equal(issuer.discoveryRequests, 0)
    })

    it('an expired token fails exp by this clock; a key rotated since the cache was written is fetched again', async () => {
      const expired = await verifyJwt(await issuer.sign({aud: 'api', exp: Math.floor(Date.now() / 1000) - 3600}), issuerOf(issuer), options, {})
      assert.deepEqual(
        expired.checks.filter((check) => check.status === 'failed').map((check) => check.name),
        ['exp'],
      )
      const cachedKey = await verifyJwt(await issuer.sign({aud: 'api'}), issuerOf(issuer), options, {})
      assert.equal(cachedKey.valid, true)
      await issuer.rotate()
      const rotated = await verifyJwt(await issuer.sign({aud: 'api'}), issuerOf(issuer), options, {})
      assert.equal(rotated.valid, true, rotated.checks[0].detail)
    })

    it('a discovery document without a usable jwks_uri: exit 3 when a key is needed, and not before', async () => {
      const keyless = await startTestIssuer({jwksUri: () => undefined})
      const insecure = await startTestIssuer({jwksUri: () => 'http://keys.example/jwks'})
      try {
        await assert.rejects(verifyJwt(await keyless.sign({aud: 'api'}), issuerOf(keyless), options, {}), {
          exitCode: 3,
          code: 'config_error',
          message: `the issuer ${keyless.issuer} publishes no jwks_uri, so no key to check a signature with`,
          suggestions: ['ask the issuer itself with --introspect, if it has an introspection endpoint'],
        })
        const unsigned = await verifyJwt(keyless.unsigned({aud: 'api'}), issuerOf(keyless), options, {})
        assert.equal(unsigned.checks[0].detail, 'alg none: an unsigned token, which no web API accepts')
        await assert.rejects(verifyJwt(await insecure.sign({aud: 'api'}), issuerOf(insecure), options, {}), {exitCode: 3, message: /the discovered jwks_uri/})
      } finally {
        await Promise.all([keyless.stop(), insecure.stop()])
      }
    })

    it('--introspect needs an issuer that advertises an introspection endpoint, over https or to loopback', async () => {
      const noIssuer = toConnection({clientId: 'c', tokenEndpoint: `${issuer.issuer}/token`})
      await assert.rejects(introspectToken('t', noIssuer, options, runtime()), {
        exitCode: 3,
        code: 'missing_configuration',
        message: '--introspect needs the issuer: its discovery document names the introspection endpoint',
        suggestions: ['pass --issuer URL'],
      })
      await assert.rejects(introspect(), {
        exitCode: 3,
        code: 'config_error',
        message: `the issuer ${issuer.issuer} advertises no introspection endpoint (RFC 7662; Microsoft Entra has none)`,
        suggestions: ["verify a JWT without --introspect: its signature is checked with the issuer's keys"],
      })
      issuer.introspectWith({json: {active: true}, endpoint: 'http://introspect.example/x'})
      freshHome()
      await assert.rejects(introspect(), {exitCode: 3, message: /the discovered introspection_endpoint/})
    })

    it('an inactive token fails active, every other check skipped; the reasons some servers add are quoted', async () => {
      const host = new URL(issuer.issuer).host
      issuer.introspectWith({json: {active: false}})
      const progress: Progress[] = []
      const silent = await introspect({}, progress)
      assert.equal(silent.valid, false)
      assert.deepEqual(silent.claims, {active: false})
      assert.deepEqual(silent.checks, [
        failed('active', `the server at ${host} says the token is not active (RFC 7662 does not say why: expired, revoked, unknown, or not this client's to ask about)`),
        ...['signature', 'iss', 'aud', 'exp', 'nbf', 'scp', 'roles'].map((name) => ({name, status: 'skipped', detail: 'the token is not active'})),
      ])
      assert.deepEqual(progress, [{message: `asking ${host} about the token`, state: 'request'}, {state: 'done'}])

      issuer.introspectWith({json: {active: false, error: 'token_expired', error_description: '', reason: 'revoked by an admin', status: 7}})
      assert.equal((await introspect()).checks[0].detail, `the server at ${host} says the token is not active: token_expired: revoked by an admin`)
      issuer.introspectWith({json: {active: false, error_description: 'gone'}})
      assert.equal((await introspect()).checks[0].detail, `the server at ${host} says the token is not active: gone`)
    })

    it("an active token: its claims checked as a JWT's would be; no iss and no exp are skipped, not failed", async () => {
      const host = new URL(issuer.issuer).host
      const now = Math.floor(Date.now() / 1000)
      issuer.introspectWith({json: {active: true, iss: issuer.issuer, aud: 'api', scope: 'read', exp: now + 3600, nbf: now - 10}})
      const full = await introspect({scopes: ['read']})
      assert.equal(full.valid, true)
      assert.deepEqual(full.checks.slice(0, 3), [
        passed('active', `the server at ${host} says the token is active`),
        skipped('signature', 'not checked here: the introspection endpoint answered for the token'),
        passed('iss', issuer.issuer),
      ])
      assert.deepEqual(
        full.checks.map((check) => [check.name, check.status]),
        [
          ['active', 'passed'],
          ['signature', 'skipped'],
          ['iss', 'passed'],
          ['aud', 'passed'],
          ['exp', 'passed'],
          ['nbf', 'passed'],
          ['scp', 'passed'],
          ['roles', 'skipped'],
        ],
      )

      issuer.introspectWith({json: {active: true, aud: 'api'}})
      const bare = await introspect()
      assert.equal(bare.valid, true)
      assert.deepEqual(bare.checks[2], skipped('iss', 'the introspection response names no issuer'))
      assert.deepEqual(bare.checks[4], skipped('exp', 'the introspection response gives no exp'))
      assert.deepEqual(
        bare.checks.map((check) => check.name),
        ['active', 'signature', 'iss', 'aud', 'exp', 'nbf', 'scp', 'roles'],
      )

      issuer.introspectWith({json: {active: true, iss: 'https://other.example', aud: 'other', exp: now - 3600}})
      const wrong = await introspect()
      assert.deepEqual(
        wrong.checks.filter((check) => check.status === 'failed').map((check) => check.name),
        ['iss', 'aud', 'exp'],
      )
    })

    it('without a progress hook, and against an endpoint that does not answer: exit 6 naming its host', async () => {
      issuer.introspectWith({json: {active: true, aud: 'api'}})
      const quiet = await introspectToken('opaque-token', connection(), options, {hooks: {}, openStore: () => assert.fail('the store was opened')})
      assert.equal(quiet.valid, true)
      issuer.introspectWith({json: {active: true}, endpoint: 'http://127.0.0.1:1/introspect'})
      freshHome()
      await assert.rejects(introspect(), {exitCode: 6, message: /^cannot reach 127\.0\.0\.1:1: /})
    })

    it('unsupported_token_type: exit 4 advising to verify the JWT itself; other refusals as the server said them', async () => {
      issuer.introspectWith({status: 400, json: {error: 'unsupported_token_type', error_description: 'only opaque tokens'}})
      await assert.rejects(introspect(), (error: {code: string; exitCode: number; suggestions: string[]}) => {
        assert.equal(error.code, 'unsupported_token_type')
        assert.equal(error.exitCode, 4)
        assert.deepEqual(error.suggestions, ['this server introspects only opaque tokens: verify a JWT without --introspect'])
        return true
      })
      issuer.introspectWith({status: 400, json: {error: 'invalid_request', error_description: 'no'}})
      await assert.rejects(introspect(), (error: {code: string; suggestions: string[]}) => {
        assert.equal(error.code, 'invalid_request')
        assert.ok(!error.suggestions.some((suggestion) => suggestion.includes('opaque')), error.suggestions.join('; '))
        return true
      })
    })
  })
})
