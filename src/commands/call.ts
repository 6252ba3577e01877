import {pipeline} from 'node:stream/promises'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../lib/base-command.js'
import {secureUrl} from '../lib/config/urls.js'
import {HttpStatusError, NetworkError, UsageError} from '../lib/errors.js'
import {type CallBody, callApi, type CallResponse, parseHeaders, parseMethod} from '../lib/http/call.js'
import {connectionFlags, environmentVariableFlag} from '../lib/flags.js'
import {tokenSourceOf} from '../lib/oauth/token-sources.js'

const SOURCE = 'TOKEN SOURCE (exactly one)'

interface CallJson {
  body: unknown
  headers: Record<string, string | string[]>
  status: number
}

export default class Call extends BaseCommand {
  static override args = {url: Args.string({description: 'the API URL (https, or http to a loopback host)', ignoreStdin: true, required: true})}

  static override description = `Calls an HTTP API with a managed token attached, as IdentityModel's ClientAccessTokenHandler does.
The body streams to stdout (or -o PATH), binary-safe. Retries (default 3): connection errors, 429, 502, 503, 504, for idempotent methods (all with --retry-all), exponential backoff with jitter, Retry-After honoured.
A 401 with --client or --session renews the token once and retries once. Status >= 400 after retries: exit 8, the body still printed (unless --no-fail).
A body without -H 'Content-Type: …' is sent as application/json when -d is JSON, application/x-www-form-urlencoded for other -d data, application/octet-stream for --data-file.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> https://api.example.com/things --client ci',
    '<%= config.bin %> <%= command.id %> https://graph.microsoft.com/v1.0/me --session nightly-report -i',
    '<%= config.bin %> <%= command.id %> https://api.example.com/upload --token-env TOKEN -X PUT --data-file big.bin',
    '<%= config.bin %> <%= command.id %> https://api.example.com/things --client ci -d \'{"name":"x"}\' --json',
  ]

  static override flags = {
    'ca-file': connectionFlags['ca-file'],
    client: Flags.string({description: 'named client: client credentials, cached', helpGroup: SOURCE, helpValue: 'NAME'}),
    data: Flags.string({char: 'd', description: 'request body (default method POST)', exclusive: ['data-file']}),
    'data-file': Flags.string({description: 'request body from a file, or - for stdin; streamed', helpValue: 'PATH|-'}),
    header: Flags.string({char: 'H', description: 'request header (repeatable)', helpValue: "'Name: value'", multiple: true}),
    include: Flags.boolean({char: 'i', description: 'print the status line and the response headers first'}),
    'no-fail': Flags.boolean({description: 'exit 0 even when the API answers with a status >= 400'}),
    output: Flags.string({
      char: 'o',
      description: 'write the body (and with -i the headers) to PATH instead of stdout: a temporary file renamed over PATH only on success (a status >= 400 leaves PATH as it was, unless --no-fail); - is stdout',
      helpValue: 'PATH',
    }),
    request: Flags.string({char: 'X', description: 'HTTP method (default GET, or POST with a body)', helpValue: 'METHOD'}),
    retries: Flags.integer({default: 3, description: 'attempts after the first; 0 turns retries off', min: 0}),
    'retry-all': Flags.boolean({description: 'retry non-idempotent methods (POST, PATCH) too'}),
    session: Flags.string({description: 'session key: the session refresh rules', helpGroup: SOURCE, helpValue: 'KEY'}),
    timeout: Flags.integer({default: 30, description: 'seconds to wait for the response headers, and for each chunk of the body', min: 1}),
    'token-env': environmentVariableFlag('token-env', 'a bearer token from this environment variable', [], SOURCE),
    'token-stdin': Flags.boolean({description: 'a bearer token from stdin', helpGroup: SOURCE}),
  }

  static override summary = 'Call an API with a managed token'

  async run(): Promise<CallJson | undefined> {
    const {args, flags} = await this.parse(Call)
    const body: CallBody | undefined =
      flags.data === undefined
        ? flags['data-file'] === undefined
          ? undefined
          : flags['data-file'] === '-'
            ? {kind: 'stdin'}
            : {kind: 'file', path: flags['data-file']}
        : {data: flags.data, kind: 'data'}
    if (body?.kind === 'stdin' && flags['token-stdin']) throw new UsageError('stdin cannot carry both the token (--token-stdin) and the body (--data-file -)')
    const headers = parseHeaders(flags.header)
    if (headers.some(([name]) => name.toLowerCase() === 'authorization')) {
      throw new UsageError('the token source sets Authorization: drop the -H \'Authorization: …\' header')
    }

    if (!URL.canParse(args.url)) throw new UsageError(`not a URL: "${args.url}"`, 'usage_error', {suggestions: ['pass an absolute URL such as https://api.example.com/things']})
    const request = {body, headers, method: parseMethod(flags.request ?? (body ? 'POST' : 'GET')), url: secureUrl(args.url, 'the URL')}
    const source = tokenSourceOf(flags, this.runtime())
    const options = {caFile: flags['ca-file'], retries: flags.retries, retryAll: flags['retry-all'], timeoutSeconds: flags.timeout}
    const response = await callApi(request, source, options, this.hooks())
    const failed = response.status >= 400 && !flags['no-fail']
    if (this.jsonEnabled()) {
      if (failed) process.exitCode = 8
      return {body: parseBody(await readText(response)), headers: headerObject(response), status: response.status}
    }

    await this.writeResponse(response, flags.include)
    if (failed) throw new HttpStatusError(`the API answered ${response.status} ${response.statusText}`.trim(), response.status)
    return undefined
  }

  /** Streams the answer to stdout or into the --output file, which the base command commits only on success. */
  private async writeResponse(response: CallResponse, include: boolean): Promise<void> {
    const out = this.dataStream()
    if (include) out.write(statusAndHeaders(response))
    try {
      await pipeline(response.body, out, {end: false})
    } catch (error) {
      if (error instanceof NetworkError) throw error
      throw new NetworkError(`the response body broke off: ${(error as Error).message}`, 'network_error', {cause: error})
    }
  }
}

/** undici speaks HTTP/1.1; fetch does not say, so the status line does. */
function statusAndHeaders(response: CallResponse): string {
  const lines = [`HTTP/1.1 ${response.status} ${response.statusText}`.trim()]
  for (const [name, value] of response.headers) lines.push(`${name}: ${value}`)
  return `${lines.join('\r\n')}\r\n\r\n`
}

async function readText(response: CallResponse): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of response.body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Headers as one object; a repeated header's values joined as fetch would (set-cookie kept apart). */
function headerObject(response: CallResponse): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of response.headers) {
    const key = name.toLowerCase()
    const previous = headers[key]
    if (previous === undefined) headers[key] = value
    else if (key === 'set-cookie') headers[key] = [...(Array.isArray(previous) ? previous : [previous]), value]
    else headers[key] = `${previous}, ${value}`
  }

  return headers
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
