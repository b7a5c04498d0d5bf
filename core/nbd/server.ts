import { chmod, link, mkdtemp, rm, unlink } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { basename, dirname, join } from 'node:path'
import { checkTimeout } from '../deadline.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { MAX_CONNECTIONS, MAX_SOCKET_PATH_BYTES, TIMEOUT_SERVER_HANDSHAKE_MS } from './constants.ts'
import { indexExports, type NbdExport } from './export.ts'
import { ServerConnection, type NbdServerFailure } from './server-connection.ts'

export interface NbdServerInit {
  /** Unix socket path to listen on, created mode 0600; nothing may exist there yet. */
  socketPath: string
  /** What the server serves, by name (read-only). */
  exports: readonly NbdExport[]
  /**
   * Called when an export call fails (a block whose hash does not match, a
   * missing block): the request is answered EIO, the connection goes on.
   * Not called for calls aborted because their client left.
   */
  onError?: (err: unknown, where: NbdServerFailure) => void
  /** From accept to the end of option haggling; TIMEOUT_SERVER_HANDSHAKE_MS when absent. */
  handshakeTimeoutMs?: number
}

type State = 'new' | 'started' | 'stopped'

/**
 * A read-only NBD server on a Unix socket (docs/nbd-server.md): fixed
 * newstyle handshake, structured replies, base:allocation, pipelined READ
 * answered out of order; every write-like command refused with EPERM.
 *
 * Lifecycle: start() once, then stop() (idempotent; also valid before or
 * instead of start). At most MAX_CONNECTIONS clients at once: a further one
 * is closed at accept. After stop() resolves, the socket file is gone, every
 * client is disconnected and no export call runs or will be made.
 */
export class NbdServer {
  readonly socketPath: string
  readonly #exports: ReadonlyMap<string, NbdExport>
  readonly #onError: (err: unknown, where: NbdServerFailure) => void
  readonly #handshakeTimeoutMs: number
  readonly #connections = new Map<ServerConnection, Promise<void>>()
  #server: Server | undefined
  #state: State = 'new'
  #starting: Promise<void> | undefined
  #linked = false

  constructor (init: NbdServerInit) {
    if (typeof init.socketPath !== 'string' || init.socketPath === '') throw new TypeError('socketPath must be a non-empty string')
    this.socketPath = init.socketPath
    this.#exports = indexExports(init.exports)
    this.#onError = init.onError ?? (() => {})
    this.#handshakeTimeoutMs = checkTimeout(init.handshakeTimeoutMs ?? TIMEOUT_SERVER_HANDSHAKE_MS, 'handshakeTimeoutMs')
  }

  /** Clients connected now. */
  get connections (): number { return this.#connections.size }

  /** Requests read and not yet answered, and the reply bytes they hold, over all connections (backpressure: docs/nbd-server.md). */
  get pending (): { requests: number, bytes: number } {
    let requests = 0
    let bytes = 0
    for (const c of this.#connections.keys()) {
      requests += c.pendingRequests
      bytes += c.pendingBytes
    }
    return { requests, bytes }
  }

  /**
   * Listens on socketPath. The socket is bound in a private directory
   * beside it, made 0600, then linked into place, so no other user can
   * connect in between and an existing file is never replaced. Throws
   * CORE_NBD_LISTEN_FAILED (path taken, directory missing or not writable,
   * path too long for a Unix socket); the server is then stopped.
   */
  async start (): Promise<void> {
    if (this.#state !== 'new') throw new TypeError(`start() on a ${this.#state} NbdServer`)
    this.#state = 'started'
    this.#starting = this.#listen()
    try {
      await this.#starting
    } catch (err) {
      await this.stop()
      throw new CoreError(CoreErrorCode.CORE_NBD_LISTEN_FAILED, `NBD server cannot listen on ${this.socketPath}: ${(err as Error).message}`,
        { cause: err, details: { path: this.socketPath } })
    }
  }

  async #listen (): Promise<void> {
    if (Buffer.byteLength(this.socketPath) > MAX_SOCKET_PATH_BYTES) throw new Error(`the path is longer than ${MAX_SOCKET_PATH_BYTES} bytes, which no client can connect to`)
    const server = createServer(socket => { this.#accept(socket) })
    this.#server = server
    const privateDir = await mkdtemp(join(dirname(this.socketPath), `.${basename(this.socketPath).slice(0, 8)}-`))
    try {
      const bound = join(privateDir, 's')
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(bound, () => { server.off('error', reject); resolve() })
      })
      // Once listening, an accept failure (out of file descriptors) only costs that client its connection.
      server.on('error', () => {})
      await chmod(bound, 0o600)
      await link(bound, this.socketPath)
      this.#linked = true
    } finally {
      await rm(privateDir, { recursive: true, force: true })
    }
  }

  /**
   * Stops listening, disconnects every client (their export calls are
   * aborted), waits for those calls to settle, and removes the socket file.
   * Idempotent; never rejects.
   */
  async stop (): Promise<void> {
    if (this.#state === 'stopped') return
    this.#state = 'stopped'
    await this.#starting?.catch(() => {})
    const server = this.#server
    const closed = server === undefined || !server.listening
      ? Promise.resolve()
      : new Promise<void>(resolve => { server.close(() => { resolve() }) })
    for (const c of this.#connections.keys()) c.close()
    await Promise.all([closed, ...this.#connections.values()])
    if (this.#linked) {
      this.#linked = false
      await unlink(this.socketPath).catch(() => {})
    }
  }

  #accept (socket: Socket): void {
    if (this.#state === 'stopped' || this.#connections.size >= MAX_CONNECTIONS) {
      socket.destroy()
      return
    }
    const c = new ServerConnection(socket, { exports: this.#exports, handshakeTimeoutMs: this.#handshakeTimeoutMs, onError: this.#onError })
    const served = c.serve().finally(() => { this.#connections.delete(c) })
    this.#connections.set(c, served)
  }
}
