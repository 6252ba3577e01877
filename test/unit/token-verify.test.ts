import {strict as assert} from 'node:assert'
import {Readable} from 'node:stream'

import {checkAudience, checkExpiry, checkIssuer, checkNotBefore, checkScopes, duration} from '../../src/lib/verify/checks.js'
import {explainIssuerMismatch, issuerShape, otherAppName} from '../../src/lib/verify/entra.js'
import {checkTokenSyntax, readTokenFromStdin, tokenArguments} from '../../src/lib/verify/input.js'
import {checkLines, verifyJson} from '../../src/lib/verify/report.js'
import {refusedByHeader} from '../../src/lib/verify/signature.js'
import {verifyJwt} from '../../src/lib/verify/verify.js'

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
})
