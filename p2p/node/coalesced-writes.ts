import { Socket } from 'node:net'
import type { ConnectionEncrypter, MessageStream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** What a connection's `sendData` returns (libp2p's AbstractMessageStream contract). */
interface SendResult { sentBytes: number, canSendMore: boolean }

/** The parts of @libp2p/tcp's connection this relies on; anything else is left alone. */
interface SocketConnection { socket?: unknown, sendData?: (data: Uint8ArrayList) => SendResult }

/**
 * Wraps a connection encrypter (Noise) so that each send it makes on a TCP
 * connection reaches the kernel as one `writev`, not one `write` per part.
 *
 * Why: Noise hands the TCP connection a list of parts per send (a 2-byte
 * length, then the ciphertext of each plaintext part, then the 16-byte tag,
 * for every 64 KiB message), and @libp2p/tcp writes each part on its own.
 * A 1 GiB replication made about 50,000 write system calls, most of them
 * a few bytes long, each its own TCP segment on a no-delay socket. Corked,
 * the same transfer makes a few hundred `writev` calls (`strace -c`,
 * docs/benchmarks.md).
 *
 * How: the raw connection's `sendData` is replaced by one that corks the
 * socket, writes every part and uncorks (Node then writes the parts
 * together, without copying them). It reports every byte as taken, and
 * asks the caller to wait for 'drain' when the socket's buffer is full, as
 * the original does. A connection that is not @libp2p/tcp's (no Node
 * socket, no `sendData`) is passed on unchanged, so a change in that
 * package costs speed, never correctness.
 */
export function coalescedWrites<C> (factory: (components: C) => ConnectionEncrypter): (components: C) => ConnectionEncrypter {
  return (components: C) => {
    const inner = factory(components)
    return {
      protocol: inner.protocol,
      secureInbound: async (connection, options) => await inner.secureInbound(coalesceWrites(connection), options),
      secureOutbound: async (connection, options) => await inner.secureOutbound(coalesceWrites(connection), options)
    }
  }
}

/** Makes `connection` write each send in one go when it is a TCP connection (see above); returns it. */
export function coalesceWrites (connection: MessageStream): MessageStream {
  const target = connection as unknown as SocketConnection
  const socket = target.socket
  if (!(socket instanceof Socket) || typeof target.sendData !== 'function') return connection
  target.sendData = (data: Uint8ArrayList): SendResult => {
    socket.cork()
    for (const part of data) socket.write(part)
    socket.uncork()
    return { sentBytes: data.byteLength, canSendMore: !socket.writableNeedDrain }
  }
  return connection
}
