/**
 * `call`: what the command does once its flags are parsed, shared by the oclif command and the fast
 * path of bin/run.js (one implementation; see ../command-shell.ts).
 */
import {pipeline} from 'node:stream/promises'

import type {CommandShell} from '../command-shell.js'
import {secureUrl} from '../config/urls.js'
import {readCertificateFile} from '../config/certificates.js'
import {ExitCode, HttpStatusError, NetworkError, UsageError} from '../errors.js'
import {type CallBody, callApi, type CallResponse, parseHeaders, parseMethod, refusalOf} from '../http/call.js'
import {clientCertificateOf} from '../http/mtls.js'
import {tokenSourceOf} from '../oauth/token-sources.js'
import type * as Call from './call.flags.js'
import type {CommandInput} from './input.js'

export interface CallJson {
  body: unknown
  headers: Record<string, string | string[]>
  status: number
}

export async function call({args, flags}: CommandInput<typeof Call>, shell: CommandShell): Promise<CallJson | undefined> {
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
    throw new UsageError("the token source sets Authorization: drop the -H 'Authorization: …' header")
  }

  if (!URL.canParse(args.url)) throw new UsageError(`not a URL: "${args.url}"`, 'usage_error', {suggestions: ['pass an absolute URL such as https://api.example.com/things']})
  const request = {body, headers, method: parseMethod(flags.request ?? (body ? 'POST' : 'GET')), url: secureUrl(args.url, 'the URL')}
  const source = tokenSourceOf({...flags, session: flags['session-key']}, shell.runtime())
  // A certificate-bound token from outside (--token-env) goes over a connection presenting its certificate.
  const certificate = flags['certificate-file'] === undefined ? undefined : clientCertificateOf(await readCertificateFile(flags['certificate-file'], flags['certificate-password-env']))
  const renewed = flags.client ? `--client ${flags.client}` : `--session-key ${flags['session-key']}`
  const options = {
    caFile: flags['ca-file'],
    clientCertificate: certificate,
    // The one renewal is not silent: a 401 that a new token cured still says the old one was refused.
    onRenewal: (why: string) => shell.logToStderr(`the API refused the token (${why}): got a new one (${renewed}) and sent the request again`),
    retries: flags.retries,
    retryAll: flags['retry-all'],
    timeoutSeconds: flags.timeout,
  }
  const response = await callApi(request, source, options, shell.hooks())
  const failed = response.status >= 400 && !flags['no-fail']
  if (shell.json) {
    if (failed) process.exitCode = ExitCode.httpStatus
    return {body: parseBody(await readText(response)), headers: headerObject(response), status: response.status}
  }

  await writeResponse(response, flags.include, shell.dataStream())
  if (failed) throw statusError(response)
  return undefined
}

/** Exit 8, with the API's own reason when its challenge gives one (a DPoP proof it refused). */
function statusError(response: CallResponse): HttpStatusError {
  const status = `${response.status} ${response.statusText}`.trim()
  const refusal = refusalOf(response)
  if (!refusal) return new HttpStatusError(`the API answered ${status}`, response.status)
  return new HttpStatusError(`the API answered ${status}: ${refusal.message}`, response.status, {suggestions: [refusal.suggestion]})
}

/** Streams the answer to stdout or into the --output file, which the shell commits only on success. */
async function writeResponse(response: CallResponse, include: boolean, out: NodeJS.WritableStream): Promise<void> {
  if (include) out.write(statusAndHeaders(response))
  try {
    await pipeline(response.body, out, {end: false})
  } catch (error) {
    if (error instanceof NetworkError) throw error
    throw new NetworkError(`the response body broke off: ${(error as Error).message}`, 'network_error', {cause: error})
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
    else if (Array.isArray(previous)) headers[key] = [...previous, value]
    else if (key === 'set-cookie') headers[key] = [previous, value]
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
