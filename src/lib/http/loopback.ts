import type {Server as HttpServer} from 'node:http'
import type {AddressInfo, Server} from 'node:net'

/** Listens on 127.0.0.1 only (port 0: a free one) and resolves with the port it got. */
export async function listenOnLoopback(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  return (server.address() as AddressInfo).port
}

/** Closes an HTTP server; open connections (keep-alive, a hanging request) are cut rather than awaited. */
export async function closeServer(server: HttpServer): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  server.closeAllConnections()
  await closed
}
