import type { Socket } from 'node:net'
import { armDeadline } from '../deadline.ts'
import { CoreError, CoreErrorCode, TandemError } from '../errors.ts'
import { ByteReader } from './byte-reader.ts'
import {
  BASE_ALLOCATION_CONTEXT_ID, MAX_PENDING_REPLY_BYTES, MAX_PENDING_REQUESTS, MAX_REPLY_EXTENTS, MAX_REQUEST_BYTES,
  NBD_CMD_BLOCK_STATUS, NBD_CMD_CACHE, NBD_CMD_DISC, NBD_CMD_FLAG_DF, NBD_CMD_FLAG_REQ_ONE, NBD_CMD_FLUSH, NBD_CMD_READ,
  NBD_CMD_RESIZE, NBD_CMD_TRIM, NBD_CMD_WRITE, NBD_CMD_WRITE_ZEROES, NBD_EINVAL, NBD_EIO, NBD_EPERM, NBD_STATE_HOLE,
  NBD_STATE_ZERO, REQUEST_BYTES, SERVER_READ_BUFFER_HIGH_WATER, STRUCTURED_REPLY_HEADER_BYTES
} from './constants.ts'
import type { NbdExport, NbdExportExtent } from './export.ts'
import type { Request } from './protocol.ts'
import {
  clientViolation, decodeRequest, encodeBlockStatusChunk, encodeDataChunkHead, encodeErrorChunk, encodeNoneChunk,
  encodeSimpleReply
} from './server-codec.ts'
import { negotiateWithClient, type ClientSession } from './server-handshake.ts'

/** Where a failed export call happened, for the server's onError. */
export interface NbdServerFailure {
  exportName: string
  command: 'read' | 'block-status'
  offset: number
  length: number
}

export interface ServerConnectionInit {
  exports: ReadonlyMap<string, NbdExport>
  handshakeTimeoutMs: number
  onError: (err: unknown, where: NbdServerFailure) => void
}

/** Bytes of a reply's own framing (chunk header and offset), counted with its data. */
const REPLY_OVERHEAD = STRUCTURED_REPLY_HEADER_BYTES + 8

/** The NBD errno a failed export call is answered with: always EIO (the data is never sent wrong), with the error's code as the message. */
function failureMessage (err: unknown): string {
  return err instanceof TandemError ? err.code : 'read failed'
}

/**
 * One client of NbdServer: the handshake (within `handshakeTimeoutMs`),
 * then requests until the client disconnects or the server closes it.
 *
 * Requests are answered as they complete, possibly out of order. At most
 * MAX_PENDING_REQUESTS requests and MAX_PENDING_REPLY_BYTES of reply data
 * (one larger request always fits when nothing is pending) are pending at
 * once, from reading a request until its reply is taken by the socket;
 * beyond that no request is read, the read buffer fills and the socket is
 * paused, so a client that never reads its replies holds a bounded amount
 * of memory. A protocol violation or a lost socket ends the connection;
 * export calls in flight are aborted through their signal.
 */
export class ServerConnection {
  readonly #socket: Socket
  readonly #reader: ByteReader
  readonly #init: ServerConnectionInit
  readonly #abort = new AbortController()
  readonly #tasks = new Set<Promise<void>>()
  #pendingRequests = 0
  #pendingBytes = 0
  #wake: (() => void) | undefined
  #closed = false

  constructor (socket: Socket, init: ServerConnectionInit) {
    this.#socket = socket
    this.#init = init
    this.#reader = new ByteReader(socket,
      cause => new CoreError(CoreErrorCode.CORE_NBD_DISCONNECTED, 'the NBD client went away', cause === undefined ? {} : { cause }),
      SERVER_READ_BUFFER_HIGH_WATER)
    socket.once('close', () => { this.close() })
  }

  /** Requests read and not yet answered (their reply not yet taken by the socket). */
  get pendingRequests (): number { return this.#pendingRequests }
  /** Reply bytes those requests hold or will hold. */
  get pendingBytes (): number { return this.#pendingBytes }

  /**
   * Serves the client until the connection ends; never rejects. Resolves
   * once the socket is closed and no export call of this connection runs.
   */
  async serve (): Promise<void> {
    try {
      const disarm = armDeadline(this.#init.handshakeTimeoutMs, undefined,
        () => new CoreError(CoreErrorCode.CORE_NBD_TIMEOUT, 'NBD client did not finish the handshake in time'),
        () => { this.close() })
      let session: ClientSession | undefined
      try {
        session = await negotiateWithClient(this.#socket, this.#reader, this.#init.exports)
      } finally {
        disarm()
      }
      if (session === undefined) {
        this.#socket.end()
        return
      }
      await this.#transmit(session)
    } catch {
      // A violation, a timeout or a lost client: the connection just ends (docs/nbd-server.md).
    } finally {
      this.close()
      while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks])
    }
  }

  /** Ends the connection now: the socket is destroyed, export calls in flight are aborted. Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#abort.abort(new CoreError(CoreErrorCode.CORE_NBD_DISCONNECTED, 'the NBD connection closed'))
    this.#socket.destroy()
    this.#pendingRequests = 0
    this.#pendingBytes = 0
    this.#notify()
  }

  #notify (): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  /** Waits until a request whose reply holds `bytes` may start (see the class comment). */
  async #room (bytes: number): Promise<void> {
    while (!this.#closed && (this.#pendingRequests >= MAX_PENDING_REQUESTS ||
      (this.#pendingRequests > 0 && this.#pendingBytes + bytes > MAX_PENDING_REPLY_BYTES))) {
      await new Promise<void>(resolve => { this.#wake = resolve })
    }
    if (this.#closed) throw new CoreError(CoreErrorCode.CORE_NBD_DISCONNECTED, 'the NBD connection closed')
  }

  /** The transmission phase: one request at a time from the socket, each answered on its own. */
  async #transmit (session: ClientSession): Promise<void> {
    for (;;) {
      await this.#room(0)
      const req = decodeRequest(await this.#reader.read(REQUEST_BYTES))
      if (req.type === NBD_CMD_DISC) {
        // The spec: answer what is outstanding, then close.
        while (!this.#closed && this.#pendingRequests > 0) await new Promise<void>(resolve => { this.#wake = resolve })
        this.#socket.end()
        return
      }
      if (req.type === NBD_CMD_WRITE) {
        // Its payload follows; too long to be honest is a hard disconnect (the spec allows it), else it is skipped unread.
        if (req.length > MAX_REQUEST_BYTES) throw clientViolation(`WRITE of ${req.length} bytes`)
        await this.#reader.skip(req.length)
      }
      const cost = replyBytes(req)
      await this.#room(cost)
      this.#pendingRequests++
      this.#pendingBytes += cost
      const task = this.#answer(req, session, cost)
      this.#tasks.add(task)
      void task.finally(() => { this.#tasks.delete(task) })
    }
  }

  /** Answers one request; never rejects (a failed export call is answered EIO and reported). */
  async #answer (req: Request, session: ClientSession, cost: number): Promise<void> {
    const e = session.export
    const inRange = req.length > 0 && req.offset + req.length <= e.size
    switch (req.type) {
      case NBD_CMD_READ:
        if ((req.flags & ~(session.structured ? NBD_CMD_FLAG_DF : 0)) !== 0 || !inRange || req.length > MAX_REQUEST_BYTES) {
          this.#fail(req, session, NBD_EINVAL, 'invalid read', cost)
          return
        }
        await this.#read(req, session, cost)
        return
      case NBD_CMD_BLOCK_STATUS:
        if (!session.allocation || (req.flags & ~NBD_CMD_FLAG_REQ_ONE) !== 0 || !inRange) {
          this.#fail(req, session, NBD_EINVAL, 'invalid block status request', cost)
          return
        }
        await this.#blockStatus(req, session, cost)
        return
      case NBD_CMD_FLUSH:
        // Nothing is ever written, so everything is on stable storage: success (FLUSH is advertised for that reason).
        if (req.flags !== 0 || req.offset !== 0 || req.length !== 0) this.#fail(req, session, NBD_EINVAL, 'invalid flush', cost)
        else this.#succeed(req, session, cost)
        return
      case NBD_CMD_CACHE:
        // A hint with nothing to prefetch into: success when it is a valid range.
        if (req.flags !== 0 || !inRange) this.#fail(req, session, NBD_EINVAL, 'invalid cache request', cost)
        else this.#succeed(req, session, cost)
        return
      case NBD_CMD_WRITE:
      case NBD_CMD_TRIM:
      case NBD_CMD_WRITE_ZEROES:
      case NBD_CMD_RESIZE:
        this.#fail(req, session, NBD_EPERM, 'read-only export', cost)
        return
      default:
        this.#fail(req, session, NBD_EINVAL, 'unknown command', cost)
    }
  }

  async #read (req: Request, session: ClientSession, cost: number): Promise<void> {
    const e = session.export
    let data: Uint8Array
    try {
      data = await e.read(req.offset, req.length, this.#abort.signal)
      if (!(data instanceof Uint8Array) || data.length !== req.length) {
        throw new TypeError(`export ${e.name} returned ${data?.length} bytes for a read of ${req.length}`)
      }
    } catch (err) {
      this.#exportFailed(err, req, session, 'read', cost)
      return
    }
    const head = session.structured ? encodeDataChunkHead(req.cookie, req.offset, data.length) : encodeSimpleReply(0, req.cookie)
    this.#send([head, data], cost)
  }

  async #blockStatus (req: Request, session: ClientSession, cost: number): Promise<void> {
    const e = session.export
    let extents: NbdExportExtent[]
    try {
      extents = await e.extents!(req.offset, req.length, this.#abort.signal)
      checkExtents(e.name, extents, req.length)
    } catch (err) {
      this.#exportFailed(err, req, session, 'block-status', cost)
      return
    }
    const max = (req.flags & NBD_CMD_FLAG_REQ_ONE) !== 0 ? 1 : MAX_REPLY_EXTENTS
    const descriptors = extents.slice(0, max).map(x => ({ length: x.length, flags: x.zero ? NBD_STATE_HOLE | NBD_STATE_ZERO : 0 }))
    this.#send([encodeBlockStatusChunk(req.cookie, BASE_ALLOCATION_CONTEXT_ID, descriptors)], cost)
  }

  #exportFailed (err: unknown, req: Request, session: ClientSession, command: NbdServerFailure['command'], cost: number): void {
    if (this.#closed) return // aborted with the connection: nobody to answer
    try {
      this.#init.onError(err, { exportName: session.export.name, command, offset: req.offset, length: req.length })
    } catch {
      // A throwing listener must not keep the client from its answer.
    }
    this.#fail(req, session, NBD_EIO, failureMessage(err), cost)
  }

  #succeed (req: Request, session: ClientSession, cost: number): void {
    this.#send([session.structured ? encodeNoneChunk(req.cookie) : encodeSimpleReply(0, req.cookie)], cost)
  }

  /** An error answer: an ERROR chunk once structured replies are on (required for READ), else a simple reply. */
  #fail (req: Request, session: ClientSession, errno: number, message: string, cost: number): void {
    this.#send([session.structured ? encodeErrorChunk(req.cookie, errno, message) : encodeSimpleReply(errno, req.cookie)], cost)
  }

  /** Writes one reply's parts back to back; its budget is released once the socket has taken the last one. */
  #send (parts: Uint8Array[], cost: number): void {
    if (this.#closed) return
    const release = (): void => {
      if (this.#closed) return
      this.#pendingRequests--
      this.#pendingBytes -= cost
      this.#notify()
    }
    this.#socket.cork()
    parts.forEach((p, i) => { this.#socket.write(p, i === parts.length - 1 ? release : undefined) })
    this.#socket.uncork()
  }
}

/** The most bytes a request's reply holds: a READ's data (only up to the limit: longer ones are refused), a full BLOCK_STATUS chunk, else a header. */
function replyBytes (req: Request): number {
  if (req.type === NBD_CMD_READ && req.length <= MAX_REQUEST_BYTES) return REPLY_OVERHEAD + req.length
  if (req.type === NBD_CMD_BLOCK_STATUS) return REPLY_OVERHEAD + 8 * MAX_REPLY_EXTENTS
  return REPLY_OVERHEAD
}

/** An export's extents must start the range, be non-empty and not run past it (a broken export is a TypeError, answered EIO). */
function checkExtents (name: string, extents: NbdExportExtent[], length: number): void {
  if (!Array.isArray(extents) || extents.length === 0) throw new TypeError(`export ${name} returned no extents`)
  let total = 0
  for (const x of extents) {
    if (!Number.isSafeInteger(x.length) || x.length <= 0) throw new TypeError(`export ${name} returned an empty or invalid extent`)
    total += x.length
  }
  if (total > length) throw new TypeError(`export ${name} returned extents past the requested range`)
}
