/**
 * A scripted server on a Unix socket, for fakes of QEMU's sockets (QMP, the
 * guest agent, NBD): connections are handed to `onConnection`, their errors
 * ignored (a fake's peer may drop at any time), and the server with every
 * open connection is closed at teardown.
 */
import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import type { Teardown } from './fixtures.ts'

export async function serveUnixSocket (t: Teardown, path: string, onConnection: (socket: Socket) => void): Promise<Server> {
  const sockets = new Set<Socket>()
  const server = createServer(socket => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => { sockets.delete(socket) })
    onConnection(socket)
  })
  server.listen(path)
  await once(server, 'listening')
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    server.close()
    await once(server, 'close')
  })
  return server
}
