/**
 * `client add`, `client list`, `client show`, `client remove`: named clients, as IdentityModel's
 * options.Client.Clients.Add keeps them; the settings in config.json, the credential in the store.
 */
import {type CommandShell, stdoutColors} from '../command-shell.js'
import {findClient} from '../config/clients.js'
import {addClient, type ClientView, expiryWarning, listClientViews, removeClient, showClient} from '../config/named-clients.js'
import {fieldLines, formatTable} from '../output.js'
import type * as ClientAdd from './client-add.flags.js'
import type * as ClientRemove from './client-remove.flags.js'
import type * as ClientShow from './client-show.flags.js'
import type {CommandInput} from './input.js'

export async function clientAdd({args, flags}: CommandInput<typeof ClientAdd>, shell: CommandShell): Promise<ClientView> {
  const replaced = flags.replace && findClient(args.name) !== undefined
  const view = await addClient(args.name, flags, {replace: flags.replace, store: () => shell.store()})
  shell.logToStderr(`${replaced ? 'replaced' : 'added'} client ${args.name} (credential: ${view.credential})`)
  return view
}

/** On a terminal a table with a header; piped, the same rows tab-separated (formatTable). */
export async function clientList(_input: unknown, shell: CommandShell): Promise<ClientView[]> {
  const clients = listClientViews()
  if (clients.length === 0) {
    shell.logToStderr('no clients yet: tokenctl client add NAME …')
    return clients
  }

  const colors = await stdoutColors()
  const rows = clients.map((client) => [client.name, client.client_id, client.token_endpoint ?? client.issuer ?? '-', client.auth_method, client.secret, client.scopes.join(' ') || '-'])
  const headers = ['NAME', 'CLIENT ID', 'ISSUER / TOKEN ENDPOINT', 'AUTH', 'SECRET', 'SCOPES']
  for (const line of formatTable(headers, rows, {header: colors.bold, terminal: Boolean(process.stdout.isTTY)})) shell.log(line)
  return clients
}

export async function clientShow({args}: CommandInput<typeof ClientShow>, shell: CommandShell): Promise<ClientView> {
  const client = await showClient(args.name, () => shell.store())
  for (const line of fieldLines(client)) shell.log(line)
  const warning = expiryWarning(client)
  if (warning) shell.logToStderr(`warning: ${warning}`)
  return client
}

export async function clientRemove({args}: CommandInput<typeof ClientRemove>, shell: CommandShell): Promise<{name: string; secret_removed: boolean}> {
  const result = await removeClient(args.name, () => shell.store())
  shell.logToStderr(`removed client ${args.name}${result.secret_removed ? ' and its secret' : ''}`)
  return result
}
