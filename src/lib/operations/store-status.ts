/** `store status`: which secure store is in use, why, where, and whether it answers now; never a secret. */
import type {CommandShell} from '../command-shell.js'
import {ExitCode} from '../errors.js'
import {storeStatus as statusOfStore, type StoreStatus} from '../store/status.js'

export async function storeStatus(_input: unknown, shell: CommandShell): Promise<StoreStatus> {
  const status = await statusOfStore()
  shell.log(`backend:  ${status.backend}`)
  shell.log(`reason:   ${status.reason}`)
  shell.log(`location: ${status.location}`)
  if (status.sealed_with) shell.log(`sealed:   with a ${status.sealed_with}`)
  shell.log(`answers:  ${status.ok ? 'yes' : `no — ${status.error}`}`)
  if (!status.ok) process.exitCode = ExitCode.store
  return status
}
