import type {Hooks} from './http/context.js'
import type {SecretStore} from './store/types.js'

/** What every library operation needs from the command that runs it. */
export interface Runtime {
  hooks: Hooks
  /** Opens the secure store on first use (memoised by the caller): a --no-cache run never does. */
  openStore: () => Promise<SecretStore>
}
