/** `store status`: which secure store is in use, why, where, and whether it answers now; never a secret. */
import type {CommandShell} from '../command-shell.js'
import {ExitCode} from '../errors.js'
import {storeStatus as statusOfStore, type StoreStatus} from '../store/status.js'

/** The report, whatever the store's state: a store that is missing or does not answer is exit 7, said in it. */
export async function storeStatus(_input: unknown, shell: CommandShell): Promise<StoreStatus> {
  const status = await statusOfStore()
  shell.log(`backend:  ${status.backend}`)
  shell.log(`reason:   ${status.reason}`)
  shell.log(`location: ${status.location ?? '-'}`)
  if (status.sealed_with) shell.log(`sealed:   with a ${status.sealed_with}`)
  // A store that could not be chosen has said why in its reason already.
  shell.log(`answers:  ${status.ok ? 'yes' : status.backend === 'none' ? 'no' : `no — ${status.error}`}`)
  for (const [index, advice] of (status.advice ?? []).entries()) shell.log(`${index === 0 ? 'to do:   ' : '         '} ${advice}`)
  if (!status.ok) process.exitCode = ExitCode.store
  return status
}
