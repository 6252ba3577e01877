/**
 * `token client`: what the command does once its flags are parsed, shared by the oclif command and the
 * fast path of bin/run.js (one implementation; see ../command-shell.ts).
 */
import type {CommandShell} from '../command-shell.js'
import {resolveConnection} from '../config/connection.js'
import {clientCredentialsToken, dpopOwnerOf} from '../oauth/client-credentials.js'
import {assertDpopFormat, dpopGivenOf, presentToken, proofRequestOf} from '../oauth/token-header.js'
import {checkTokenFormat, type TokenFormat, tokenJson, type TokenJson} from '../output.js'
import type {CommandInput} from './input.js'
import {orWithoutCache} from './store-advice.js'
import type * as TokenClient from './token-client.flags.js'

export async function tokenClient({args, flags}: CommandInput<typeof TokenClient>, shell: CommandShell): Promise<TokenJson> {
  checkTokenFormat(flags.format)
  const proofRequest = proofRequestOf(flags)
  const connection = resolveConnection(args.name, flags)
  const dpopGiven = dpopGivenOf(flags, connection)
  if (connection.dpop) assertDpopFormat(flags.format, proofRequest, dpopGiven)
  const options = {force: flags.force, minTtlSeconds: flags['min-ttl'], noCache: flags['no-cache']}
  const runtime = shell.runtime()
  const result = await clientCredentialsToken(connection, options, runtime).catch(orWithoutCache(connection, options.noCache))
  const prover = async () => (await import('../oauth/dpop.js')).resourceProverFor(dpopOwnerOf(connection), runtime.openStore)
  shell.log(await presentToken(result.token, flags.format as TokenFormat, proofRequest, prover, dpopGiven))
  return tokenJson(result, {client: args.name ?? null})
}
