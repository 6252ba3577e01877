/**
 * `tokenctl demo`: both reference flows (IdentityModel's worker, Microsoft.Identity.Web's long-running OBO), end to end, against the embedded authorization server — each
 * step a real tokenctl command in a child process, in a temporary TOKENCTL_HOME with its own
 * encrypted file store (never the user's). The scenario reports through a DemoReporter; the command
 * prints. Any step that does not do what it should ends the demo with that step's failure.
 */
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {ExitCode, TokenctlError} from './errors.js'
import {maskToken} from './http/trace.js'
import {decodeJwtClaims} from './jwt.js'

export interface DemoReporter {
  /** The command line as a person would type it (secrets on stdin, never on it). */
  command(line: string): void
  /** What came back, for people. */
  outcome(text: string): void
  /** A numbered step begins; section names the reference flow it belongs to. */
  step(number: number, title: string, section: string): void
}

/** A step whose command failed (its exit code is the demo's), or did not do what the demo expected (exit 1). */
export class DemoStepError extends TokenctlError {
  constructor(step: number, title: string, detail: string, exitCode: number) {
    const code = (Object.values(ExitCode) as number[]).includes(exitCode) && exitCode !== ExitCode.ok ? (exitCode as ExitCode) : ExitCode.internal
    super(`demo step ${step} (${title}) failed: ${detail}`, 'demo_failed', code)
  }
}

interface Ran {
  code: null | number
  stderr: string
  stdout: string
}

/** The child's environment: the user's minus anything that would reach their own tokenctl state or proxies. */
function demoEnvironment(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(TOKENCTL_|DBUS_SESSION_BUS_ADDRESS$|(https?|all|no)_proxy$)/i.test(name)) env[name] = value
  }

  return {...env, NO_COLOR: '1', TOKENCTL_HOME: home, TOKENCTL_STORE: 'file', TOKENCTL_STORE_PASSPHRASE: randomBytes(24).toString('base64url')}
}

/** A member of tokenctl's JSON or of the echoed claims the walk shows: all scalars. */
type Shown = boolean | null | number | string | undefined
const json = (ran: Ran): Record<string, Shown> => JSON.parse(ran.stdout) as Record<string, Shown>
/** The caller's claims, as dev idp's protected API echoes them. */
const claimsOf = (ran: Ran): Record<string, Shown> => (JSON.parse(ran.stdout) as {claims: Record<string, Shown>}).claims

function describeToken(token: unknown): string {
  const claims = decodeJwtClaims(String(token)) ?? {}
  const who = claims.sub === claims.client_id ? `client ${String(claims.client_id)}` : `user ${String(claims.sub)}`
  return `${maskToken(String(token))} — ${who}, aud ${String(claims.aud)}`
}

export interface DemoOptions {
  /** How to start tokenctl: the node binary and the script this process was started with. */
  tokenctl: string[]
}

export async function runDemo(reporter: DemoReporter, options: DemoOptions): Promise<void> {
  const [{startDevIdp}, {approveDevice}] = await Promise.all([import('./devidp/server.js'), import('./devidp/robot.js')])
  const home = mkdtempSync(path.join(tmpdir(), 'tokenctl-demo-'))
  // Downstream tokens live 65 s: with the 60 s buffer, "expired" arrives after a few seconds, not an hour.
  const idp = await startDevIdp({accessTokenTTL: 65, deviceInterval: 1, port: 0})
  const env = demoEnvironment(home)
  let number = 0
  let section = ''
  let title = ''
  const step = (name: string) => {
    number++
    title = name
    reporter.step(number, name, section)
  }

  const fail = (detail: string, ran?: Ran): never => {
    const said = ran?.stderr.trim() ? `: ${ran.stderr.trim().split('\n').at(-1)}` : ''
    throw new DemoStepError(number, title, `${detail}${said}`, ran?.code ?? 1)
  }

  /** Runs one tokenctl command; onStderr sees its stderr as it comes (the device prompt). */
  const tokenctl = (args: string[], shown: string, input?: string, onStderr?: (text: string) => void): Promise<Ran> => {
    reporter.command(`tokenctl ${shown}`)
    return new Promise((resolve, reject) => {
      const child = spawn(options.tokenctl[0], [...options.tokenctl.slice(1), ...args], {env, stdio: ['pipe', 'pipe', 'pipe']})
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk) => (stdout += chunk))
      child.stderr.on('data', (chunk) => {
        stderr += chunk
        onStderr?.(stderr)
      })
      child.on('error', reject)
      child.on('close', (code) => resolve({code, stderr, stdout}))
      child.stdin.on('error', () => {})
      child.stdin.end(input)
    })
  }

  const succeed = async (args: string[], shown: string, input?: string): Promise<Ran> => {
    const ran = await tokenctl(args, shown, input)
    if (ran.code !== ExitCode.ok) fail(`exit ${ran.code}`, ran)
    return ran
  }

  const iss = idp.issuer
  const {api: web, cli, worker} = idp.clients
  try {
    section = "the worker (client credentials, as IdentityModel's worker token management does)"
    step('name the worker client; its secret goes to the encrypted store')
    await succeed(
      ['client', 'add', 'worker', '--issuer', iss, '--client-id', worker.clientId, '--scope', 'api', '--client-secret-stdin'],
      `client add worker --issuer ${iss} --client-id ${worker.clientId} --scope api --client-secret-stdin   # secret on stdin`,
      worker.clientSecret,
    )
    reporter.outcome('added client worker')

    step('its token, from the identity provider')
    const first = json(await succeed(['token', 'client', 'worker', '--json'], 'token client worker --json'))
    if (first.token_source !== 'identity_provider') fail(`token_source ${first.token_source}`)
    reporter.outcome(`token_source: identity_provider, expires in ${first.expires_in} s — ${describeToken(first.access_token)}`)

    step('again: from the cache, no request')
    const second = json(await succeed(['token', 'client', 'worker', '--json'], 'token client worker --json'))
    if (second.token_source !== 'cache' || second.access_token !== first.access_token) fail(`token_source ${second.token_source}`)
    reporter.outcome('token_source: cache (the same token)')

    step('call an API with it')
    const called = claimsOf(await succeed(['call', `${idp.apiUrl}/echo`, '--client', 'worker'], `call ${idp.apiUrl}/echo --client worker`))
    reporter.outcome(`200 — the API verified the token: client_id ${called.client_id}, scope ${called.scope}`)

    section = "the web API (on-behalf-of and a long-running session, as Microsoft.Identity.Web's long-running OBO does)"
    step('a user signs in with the device flow (the demo approves as "alice")')
    let approving: Promise<void> | undefined
    const signedIn = await tokenctl(
      ['token', 'user', '--issuer', iss, '--client-id', cli.clientId, '--scope', 'access_as_user', '--device'],
      `token user --issuer ${iss} --client-id ${cli.clientId} --scope access_as_user --device`,
      undefined,
      (stderr) => {
        const prompt = /open (\S+) and enter the code (\S+)/.exec(stderr)
        if (prompt && !approving) {
          reporter.outcome(`the user is asked to open ${prompt[1]} and enter ${prompt[2]}`)
          approving = approveDevice(prompt[1], {login: 'alice', userCode: prompt[2]})
        }
      },
    )
    await approving
    if (signedIn.code !== ExitCode.ok) fail(`exit ${signedIn.code}`, signedIn)
    const userToken = signedIn.stdout.trim()
    reporter.outcome(`the token a web API would receive: ${describeToken(userToken)}`)

    step('name the web API client')
    await succeed(
      ['client', 'add', 'api', '--issuer', iss, '--client-id', web.clientId, '--client-secret-stdin'],
      `client add api --issuer ${iss} --client-id ${web.clientId} --client-secret-stdin   # secret on stdin`,
      web.clientSecret,
    )
    reporter.outcome('added client api')

    step("the web API exchanges the user's token on-behalf-of")
    const obo = json(
      await succeed(['token', 'obo', 'api', '--assertion-stdin', '--scope', 'read', '--json'], 'token obo api --assertion-stdin --scope read --json   # the user token on stdin', userToken),
    )
    reporter.outcome(`flavor ${obo.flavor}: ${describeToken(obo.access_token)}`)

    step('and starts a long-running session for later work')
    const key = (
      await succeed(['session', 'start', 'api', '--assertion-stdin', '--scope', 'read', '--key', 'nightly-report'], 'session start api --assertion-stdin --scope read --key nightly-report', userToken)
    ).stdout.trim()
    reporter.outcome(`session key: ${key} (the refresh token is in the store)`)

    step('a cron job asks for a token: the stored one is still valid')
    const cached = json(await succeed(['session', 'refresh', '--key', key, '--json'], `session refresh --key ${key} --json`))
    if (cached.token_source !== 'cache') fail(`token_source ${cached.token_source}`)
    reporter.outcome(`token_source: cache, expires in ${cached.expires_in} s`)

    const wait = Math.max(0, Number(cached.expires_in) - 59)
    step(`${wait} s later the token is inside the 60 s buffer: the refresh token is redeemed (and rotated)`)
    await sleep(wait * 1000)
    const refreshed = json(await succeed(['session', 'refresh', '--key', key, '--json'], `session refresh --key ${key} --json`))
    if (refreshed.token_source !== 'identity_provider') fail(`token_source ${refreshed.token_source}`)
    const shown = json(await succeed(['session', 'show', '--key', key, '--json'], `session show --key ${key} --json`))
    reporter.outcome(`token_source: identity_provider; session ${shown.status}, refreshed ${shown.refresh_count}× — ${describeToken(refreshed.access_token)}`)

    step('call the API for the user, with the session')
    const forUser = claimsOf(await succeed(['call', `${idp.apiUrl}/echo`, '--session', key], `call ${idp.apiUrl}/echo --session ${key}`))
    reporter.outcome(`200 — on behalf of user ${forUser.sub}, by client ${forUser.client_id}`)

    step('end the session: the refresh token is revoked at the server')
    const ended = json(await succeed(['session', 'end', '--key', key, '--json'], `session end --key ${key}`))
    if (ended.revocation !== 'revoked') fail(`revocation ${ended.revocation}`)
    reporter.outcome('session removed, refresh token revoked')
  } finally {
    await idp.stop()
    rmSync(home, {force: true, recursive: true})
  }
}
