/**
 * token verify's pure parts, line by line (src/lib/verify: checks, Entra's shapes, the verdict's
 * lines and JSON, the command line's input): every detail compared whole, every boundary on both
 * sides. The `verify` mutation set runs these first (stryker.config.mjs).
 */
import {strict as assert} from 'node:assert'

import {
  AUDIENCE_NOT_CHECKED,
  type Check,
  checkAudience,
  checkExpiry,
  checkIssuer,
  checkNotBefore,
  checkRoles,
  checkScopes,
  claimChecks,
  duration,
  failed,
  passed,
  skipped,
} from '../../src/lib/verify/checks.js'
import {explainIssuerMismatch, GRAPH_TOKEN_EXPLANATION, isGraphAudience, issuerShape, otherAppName, webApiAudiences} from '../../src/lib/verify/entra.js'
import {checkTokenSyntax, readTokenFromStdin, tokenArguments} from '../../src/lib/verify/input.js'
import {checkLines, failedNames, uncheckedAudienceWarning, verifyJson} from '../../src/lib/verify/report.js'

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
const OTHER_TENANT = '11111111-2222-3333-4444-555555555555'
const V1 = `https://sts.windows.net/${TENANT}/`
const V2 = `https://login.microsoftonline.com/${TENANT}/v2.0`
const GRAPH = '00000003-0000-0000-c000-000000000000'
/** 2023-11-14T22:13:20Z */
const NOW = 1_700_000_000
const AT = {clockSkewSeconds: 300, now: NOW}
const MAX_NUMERIC_DATE = 253_402_300_799
const MANIFEST = "Entra issues v1.0 or v2.0 access tokens as the web API's app registration says (manifest: accessTokenAcceptedVersion null or 1 → v1.0, 2 → v2.0)"
const APP_ONLY = "an app-only token (client credentials), where a user token was expected — on-behalf-of needs a user's token"

describe('token verify, check by check (unit)', () => {
  it('duration: seconds below 2 minutes, minutes below 2 hours, hours below 2 days, then days; never negative', () => {
    const cases: Array<[number, string]> = [
      [-5, '0 seconds'],
      [0, '0 seconds'],
      [1, '1 second'],
      [1.4, '1 second'],
      [59.5, '60 seconds'],
      [119, '119 seconds'],
      [120, '2 minutes'],
      [7199, '119 minutes'],
      [7200, '2 hours'],
      [86_400, '24 hours'],
      [172_799, '47 hours'],
      [172_800, '2 days'],
      [86_400 * 400, '400 days'],
    ]
    for (const [seconds, text] of cases) assert.equal(duration(seconds), text, String(seconds))
  })

  it('iss: equal, absent, another (as text, JSON for non-strings), and Entra explained only for string issuers', () => {
    assert.deepEqual(checkIssuer({iss: V2}, V2), passed('iss', V2))
    assert.deepEqual(checkIssuer({}, V2), failed('iss', `no iss claim; expected ${V2}`))
    assert.deepEqual(checkIssuer({iss: 'https://a.example'}, 'https://b.example'), failed('iss', 'https://a.example, expected https://b.example'))
    assert.deepEqual(checkIssuer({iss: null}, 'https://b.example'), failed('iss', 'null, expected https://b.example'))
    assert.deepEqual(checkIssuer({iss: V1}, V2), failed('iss', `${V1}, expected ${V2}: a v1.0 token checked against the v2.0 issuer: ${MANIFEST}; set it to 2, or verify with --issuer ${V1}`))
    assert.deepEqual(checkIssuer({iss: [V1]}, V2), failed('iss', `["${V1}"], expected ${V2}`), 'a list is no issuer, even one that reads as a URL')
  })

  it('aud: one accepted directly; a client id for its app ID URI and back; a list; Graph named; nothing accepted means not checked', () => {
    assert.deepEqual(checkAudience({aud: 'api'}, ['x', 'api']), passed('aud', 'api'))
    assert.deepEqual(checkAudience({aud: ['y', 'api']}, ['api']), passed('aud', 'api'))
    assert.deepEqual(checkAudience({aud: 'x'}, ['api://x']), passed('aud', 'x matches --audience api://x: an Entra app is addressed both by its client id and its app ID URI (x and api://x)'))
    assert.deepEqual(checkAudience({aud: 'api://x'}, ['x']), passed('aud', 'api://x matches --audience x: an Entra app is addressed both by its client id and its app ID URI (x and api://x)'))
    assert.deepEqual(checkAudience({aud: 'c'}, ['a']), failed('aud', 'c, expected a'))
    assert.deepEqual(checkAudience({aud: ['c', 'd']}, ['a', 'b']), failed('aud', 'c d, expected one of a b'))
    assert.deepEqual(checkAudience({aud: ['other', GRAPH]}, ['api']), failed('aud', `other ${GRAPH}, expected api: a token for Microsoft Graph, not for your API`))
    assert.deepEqual(checkAudience({aud: 42}, ['a']), failed('aud', 'aud 42 is not a string or a list of strings; expected a'))
    assert.deepEqual(checkAudience({}, ['a', 'b'], 'defaults'), failed('aud', 'no aud claim; expected a b (defaults)'))
    assert.deepEqual(checkAudience({aud: 'api'}, [], 'ignored'), skipped('aud', `${AUDIENCE_NOT_CHECKED}: the token's aud is api`))
  })

  it('exp: required, a NumericDate up to the year 9999, expired beyond the skew, passed within it (and says so)', () => {
    assert.deepEqual(checkExpiry({}, AT), failed('exp', 'no exp claim: a web API refuses a token that never expires'))
    assert.deepEqual(checkExpiry({exp: 'x'}, AT), failed('exp', 'exp x is not a NumericDate (seconds since 1970)'))
    assert.deepEqual(checkExpiry({exp: Number.NaN}, AT), failed('exp', 'exp null is not a NumericDate (seconds since 1970)'))
    assert.deepEqual(checkExpiry({exp: MAX_NUMERIC_DATE + 1}, AT), failed('exp', 'exp 253402300800 is not a NumericDate (seconds since 1970)'))
    assert.deepEqual(checkExpiry({exp: MAX_NUMERIC_DATE}, AT), passed('exp', 'expires in 2913221 days (exp 9999-12-31T23:59:59.000Z; clock skew 300 s)'))
    assert.deepEqual(checkExpiry({exp: NOW - 301}, AT), failed('exp', 'expired 5 minutes ago (exp 2023-11-14T22:08:19.000Z; clock skew 300 s)'))
    assert.deepEqual(checkExpiry({exp: NOW - 300}, AT), passed('exp', 'expired 5 minutes ago but within the clock skew 300 s (exp 2023-11-14T22:08:20.000Z)'))
    assert.deepEqual(checkExpiry({exp: NOW}, AT), passed('exp', 'expires in 0 seconds (exp 2023-11-14T22:13:20.000Z; clock skew 300 s)'))
    assert.deepEqual(checkExpiry({exp: NOW + 7200}, {clockSkewSeconds: 0, now: NOW}), passed('exp', 'expires in 2 hours (exp 2023-11-15T00:13:20.000Z; clock skew 0 s)'))
    assert.deepEqual(checkExpiry({exp: NOW - 1}, {clockSkewSeconds: 0, now: NOW}), failed('exp', 'expired 1 second ago (exp 2023-11-14T22:13:19.000Z; clock skew 0 s)'))
  })

  it('nbf: optional, a NumericDate, not yet valid beyond the skew (how much longer), valid within it', () => {
    assert.deepEqual(checkNotBefore({}, AT), skipped('nbf', 'no nbf claim'))
    assert.deepEqual(checkNotBefore({nbf: null}, AT), failed('nbf', 'nbf null is not a NumericDate (seconds since 1970)'))
    assert.deepEqual(checkNotBefore({nbf: NOW + 301}, AT), failed('nbf', "not valid for 1 more second (nbf 2023-11-14T22:18:21.000Z; clock skew 300 s): check this machine's clock"))
    assert.deepEqual(checkNotBefore({nbf: NOW + 500}, AT), failed('nbf', "not valid for 3 more minutes (nbf 2023-11-14T22:21:40.000Z; clock skew 300 s): check this machine's clock"))
    assert.deepEqual(checkNotBefore({nbf: NOW + 300}, AT), passed('nbf', 'valid since 2023-11-14T22:18:20.000Z (clock skew 300 s)'))
    assert.deepEqual(checkNotBefore({nbf: NOW - 60}, AT), passed('nbf', 'valid since 2023-11-14T22:12:20.000Z (clock skew 300 s)'))
  })

  it('scp: a string or a list (only its strings), RFC 9068 scope; none asked says what the token holds; api://app/name matches name', () => {
    assert.deepEqual(checkScopes({scp: 'a  b'}, []), skipped('scp', 'no --scope given (scp: a b)'))
    assert.deepEqual(checkScopes({scp: ['a', 1, 'b']}, []), skipped('scp', 'no --scope given (scp: a b)'))
    assert.deepEqual(checkScopes({scope: 'read'}, []), skipped('scp', 'no --scope given (scope: read)'))
    assert.deepEqual(checkScopes({scp: 42, scope: ['read']}, []), skipped('scp', 'no --scope given (scope: read)'))
    assert.deepEqual(checkScopes({}, []), skipped('scp', 'no --scope given (no scp claim)'))
    assert.deepEqual(checkScopes({roles: ['R', 'S']}, []), skipped('scp', `no --scope given (no scp claim but roles (R S): ${APP_ONLY})`))
    assert.deepEqual(checkScopes({roles: 'R'}, ['read']), failed('scp', `no scp claim but roles (R): ${APP_ONLY}; expected read`))
    assert.deepEqual(checkScopes({}, ['read', 'write']), failed('scp', 'no scp claim; expected read write'))
    assert.deepEqual(checkScopes({scp: 'read', roles: ['R']}, ['read']), passed('scp', 'read (scp: read)'))
    assert.deepEqual(checkScopes({scp: 'read'}, ['read', 'write']), failed('scp', 'missing write (scp: read)'))
    assert.deepEqual(checkScopes({scp: ''}, ['read']), failed('scp', 'missing read (scp: (empty))'))
    assert.deepEqual(checkScopes({scp: 'read write'}, ['write', 'read']), passed('scp', 'write read (scp: read write)'))
    assert.deepEqual(checkScopes({scp: 'read'}, ['api://orders/read']), passed('scp', 'api://orders/read (scp: read)'))
    assert.deepEqual(checkScopes({scp: 'read'}, ['api://orders/write']), failed('scp', 'missing api://orders/write (scp: read)'))
    assert.deepEqual(checkScopes({scp: 'read'}, ['/read']), failed('scp', 'missing /read (scp: read)'))
  })

  it('roles: a list (only its strings) or one string; none asked says what the token holds; each asked must be there', () => {
    assert.deepEqual(checkRoles({}, []), skipped('roles', 'no --role given (no roles claim)'))
    assert.deepEqual(checkRoles({roles: ['A', 'B']}, []), skipped('roles', 'no --role given (roles: A B)'))
    const noRoles = "no roles claim; expected A: app roles are assigned to the calling app or user in the web API's app registration"
    assert.deepEqual(checkRoles({}, ['A']), failed('roles', noRoles))
    assert.deepEqual(checkRoles({roles: 7}, ['A']), failed('roles', noRoles))
    assert.deepEqual(checkRoles({roles: ['A', 5]}, ['A', 'B']), failed('roles', 'missing B (roles: A)'))
    assert.deepEqual(checkRoles({roles: []}, ['A']), failed('roles', 'missing A (roles: (empty))'))
    assert.deepEqual(checkRoles({roles: 'A'}, ['A']), passed('roles', 'A (roles: A)'))
    assert.deepEqual(checkRoles({roles: ['B', 'A']}, ['A', 'B']), passed('roles', 'A B (roles: B A)'))
  })

  it('claimChecks: aud, exp, nbf, scp, roles in that order, with the options each takes', () => {
    const checks = claimChecks({aud: 'x', exp: NOW + 60, scp: 's', roles: ['r']}, {...AT, audiences: ['api://x'], audienceDefault: 'd', roles: ['r'], scopes: ['s']})
    assert.deepEqual(
      checks.map((check) => [check.name, check.status]),
      [
        ['aud', 'passed'],
        ['exp', 'passed'],
        ['nbf', 'skipped'],
        ['scp', 'passed'],
        ['roles', 'passed'],
      ],
    )
    assert.equal(claimChecks({aud: 'y'}, {...AT, audiences: ['x'], audienceDefault: 'the default', roles: [], scopes: []})[0].detail, 'y, expected x (the default)')
  })
})

describe("Entra ID's shapes (unit)", () => {
  it('issuerShape: /{tenant GUID}/ is v1.0, /{tenant GUID}/v2.0 is v2.0, judged by the whole path', () => {
    assert.deepEqual(issuerShape(V1), {tenant: TENANT, version: '1.0'})
    assert.deepEqual(issuerShape(V2.replace(TENANT, TENANT.toUpperCase())), {tenant: TENANT, version: '2.0'})
    for (const issuer of [
      `https://login.microsoftonline.com/x/${TENANT}/v2.0`,
      `https://login.microsoftonline.com/${TENANT}/v2.0/extra`,
      `https://login.microsoftonline.com/${TENANT}`,
      `https://login.microsoftonline.com/x${TENANT}/v2.0`,
      `https://login.microsoftonline.com/${TENANT}x/v2.0`,
      'https://login.microsoftonline.com/common/v2.0',
      'not a url',
    ]) {
      assert.equal(issuerShape(issuer), undefined, issuer)
    }
  })

  it('explainIssuerMismatch: another tenant, or the other version (and what decides it); nothing for other issuers', () => {
    assert.equal(explainIssuerMismatch(`https://login.microsoftonline.com/${OTHER_TENANT}/v2.0`, V2), `the token was issued by tenant ${OTHER_TENANT}, the issuer given is tenant ${TENANT}`)
    assert.equal(explainIssuerMismatch(V1, V2), `a v1.0 token checked against the v2.0 issuer: ${MANIFEST}; set it to 2, or verify with --issuer ${V1}`)
    assert.equal(explainIssuerMismatch(V2, V1), `a v2.0 token checked against the v1.0 issuer: ${MANIFEST}; verify with --issuer ${V2}, or set it to 1 (null) if the API expects v1.0`)
    assert.equal(explainIssuerMismatch(`https://login.microsoftonline.us/${TENANT}/v2.0`, V2), undefined, 'same tenant and version: nothing Entra explains')
    assert.equal(explainIssuerMismatch('https://a.example/', V2), undefined)
    assert.equal(explainIssuerMismatch(V2, 'https://a.example/'), undefined)
  })

  it('an app is its client id and api://{client id}; a custom app ID URI pairs with nothing', () => {
    assert.equal(otherAppName('api://abc'), 'abc')
    assert.equal(otherAppName('my.app-1_x'), 'api://my.app-1_x')
    for (const audience of ['xapi://abc', 'api://a/b', 'a b', 'https://contoso.com/api', '']) assert.equal(otherAppName(audience), undefined, audience)
    assert.deepEqual(webApiAudiences('6e74172b'), ['6e74172b', 'api://6e74172b'])
  })

  it("Microsoft Graph's names, in any letter case; its tokens explained", () => {
    for (const audience of [GRAPH, GRAPH.toUpperCase(), 'https://graph.microsoft.com', 'https://graph.microsoft.com/', 'HTTPS://GRAPH.MICROSOFT.COM'])
      assert.equal(isGraphAudience(audience), true, audience)
    for (const audience of ['https://graph.microsoft.com/x', 'api://graph', '']) assert.equal(isGraphAudience(audience), false, audience)
    assert.match(GRAPH_TOKEN_EXPLANATION, /^the header carries a nonce: a token for Microsoft Graph, whose signature only Graph can verify \(Entra signs a hash of the nonce\) — not a token/)
    assert.match(
      GRAPH_TOKEN_EXPLANATION,
      /not a token for your API, and not an assertion your API can exchange on-behalf-of; ask for your API's scope \(api:\/\/\{client id\}\/access_as_user\) instead$/,
    )
  })
})

describe('token verify: its input and its verdict (unit)', () => {
  it('the token: blanks trimmed; empty, over 64 KiB or with characters no header carries refused (exit 2)', () => {
    assert.equal(checkTokenSyntax(' \tab.c-d_e~f+g/h==\n'), 'ab.c-d_e~f+g/h==')
    assert.throws(() => checkTokenSyntax('  \n'), {exitCode: 2, message: 'token verify: the token is empty'})
    assert.equal(checkTokenSyntax('a'.repeat(64 * 1024)).length, 64 * 1024)
    assert.throws(() => checkTokenSyntax('a'.repeat(64 * 1024 + 1)), {exitCode: 2, message: 'token verify: more than 64 KiB is no token'})
    assert.throws(() => checkTokenSyntax('a.b c'), {
      code: 'invalid_jwt',
      exitCode: 2,
      message: 'token verify: not a token: it holds characters a bearer token cannot carry (RFC 6750: letters, digits, - . _ ~ + / and trailing =)',
    })
  })

  it('stdin that is a terminal: a usage error saying how to pipe the token in', async () => {
    const terminal = Object.assign((async function* () {})(), {isTTY: true})
    await assert.rejects(readTokenFromStdin(terminal), {
      exitCode: 2,
      message: 'token verify: stdin is a terminal; pipe the value in (for example: tokenctl token user … | tokenctl token verify …, or pass the token as the argument)',
    })
  })

  it('the arguments: a lone client name is the client (token from stdin); - and nothing are stdin', () => {
    const always = () => true
    assert.deepEqual(tokenArguments({}, always), {clientName: undefined, token: undefined})
    assert.deepEqual(tokenArguments({token: '-'}, always), {clientName: undefined, token: undefined})
    assert.deepEqual(tokenArguments({token: 'web'}, always), {clientName: 'web'})
    assert.deepEqual(tokenArguments({token: 'web', name: 'api'}, always), {clientName: 'api', token: 'web'})
    assert.deepEqual(
      tokenArguments({token: 'a.b.c'}, () => false),
      {clientName: undefined, token: 'a.b.c'},
    )
  })

  const check = (name: Check['name'], status: Check['status'], detail = 'd'): Check => ({detail, name, status})

  it('the lines: name and status in columns, the detail escaped; the failed names; JSON ok true, false or null', () => {
    const result = {checks: [check('signature', 'passed', 'RS256'), check('iss', 'failed', 'a\u001bb'), check('aud', 'skipped')], claims: {sub: 'x'}, valid: false}
    assert.deepEqual(checkLines(result), ['signature  passed   RS256', 'iss        failed   a\\x1bb', 'aud        skipped  d'])
    assert.deepEqual(failedNames(result), ['iss'])
    assert.deepEqual(failedNames({...result, checks: [check('exp', 'failed'), check('iss', 'passed'), check('scp', 'failed')]}), ['exp', 'scp'])
    assert.deepEqual(verifyJson(result), {
      valid: false,
      checks: [
        {name: 'signature', ok: true, status: 'passed', detail: 'RS256'},
        {name: 'iss', ok: false, status: 'failed', detail: 'a\u001bb'},
        {name: 'aud', ok: null, status: 'skipped', detail: 'd'},
      ],
      claims: {sub: 'x'},
    })
  })

  it('the warning: only for a passing verdict whose aud line says it was not checked', () => {
    const notChecked = check('aud', 'skipped', `${AUDIENCE_NOT_CHECKED}: the token's aud is api`)
    const warning = "the audience was not checked: pass --audience with the web API's client id or app ID URI (or name its client), or a token for another API passes too"
    assert.equal(uncheckedAudienceWarning({checks: [check('signature', 'passed'), notChecked], claims: {}, valid: true}), warning)
    assert.equal(uncheckedAudienceWarning({checks: [check('nbf', 'skipped', notChecked.detail), check('aud', 'passed')], claims: {}, valid: true}), undefined)
    assert.equal(uncheckedAudienceWarning({checks: [notChecked], claims: {}, valid: false}), undefined)
  })
})
