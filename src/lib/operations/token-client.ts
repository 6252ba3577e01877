/**
 * `token client`: what the command does once its flags are parsed, shared by the oclif command and the
 * fast path of bin/run.js (one implementation; see ../command-shell.ts).
 */
import type {CommandShell} from '../command-shell.js'
import {resolveConnection} from '../config/connection.js'
import {clientCredentialsToken} from '../oauth/client-credentials.js'
import {checkTokenFormat, formatToken, type TokenFormat, tokenJson, type TokenJson} from '../output.js'
import type {CommandInput} from './input.js'
import {orWithoutCache} from './store-advice.js'
import type * as TokenClient from './token-client.flags.js'

export async function tokenClient({args, flags}: CommandInput<typeof TokenClient>, shell: CommandShell): Promise<TokenJson> {
  checkTokenFormat(flags.format)
  const connection = resolveConnection(args.name, flags)
  const options = {force: flags.force, minTtlSeconds: flags['min-ttl'], noCache: flags['no-cache']}
  const result = await clientCredentialsToken(connection, options, shell.runtime()).catch(orWithoutCache(connection, options.noCache))
  shell.log(formatToken(result.token, flags.format as TokenFormat))
  return tokenJson(result, {client: args.name ?? null})
}
