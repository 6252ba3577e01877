/**
 * Every undici dispatcher a command opened, so that the command can close them when it ends. A
 * connection still waiting (a proxy that never answers CONNECT, a request abandoned on a timeout)
 * would otherwise keep the process alive after the command has already reported its error.
 */
interface Closable {
  destroy(): Promise<void>
}

const open = new Set<Closable>()

export function trackConnections(dispatcher: Closable): void {
  open.add(dispatcher)
}

/** Destroys every tracked dispatcher: pending requests are aborted, sockets closed. */
export async function closeConnections(): Promise<void> {
  const dispatchers = [...open]
  open.clear()
  await Promise.allSettled(dispatchers.map((dispatcher) => dispatcher.destroy()))
}
