import { createConnection, type Socket } from 'node:net'
import { armDeadline } from '../deadline.ts'
import { CoreError, CoreErrorCode, throwIfAborted } from '../errors.ts'
import { ByteReader } from './byte-reader.ts'
import {
  MAX_BLOCK_STATUS_LENGTH, MAX_IN_FLIGHT, MAX_META_CONTEXTS, NBD_CMD_BLOCK_STATUS, NBD_CMD_DISC, NBD_CMD_READ,
  NBD_ESHUTDOWN, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, NBD_REPLY_TYPE_ERROR_OFFSET, NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA, NBD_REPLY_TYPE_OFFSET_HOLE, READ_PIPELINE_DEPTH, TIMEOUT_DISCONNECT_MS,
  TIMEOUT_HANDSHAKE_MS, TIMEOUT_REQUEST_MS
} from './constants.ts'
import { mergeExtents, type NbdExtent } from './extents.ts'
import { negotiate, readChunkBytes, type BlockSizeConstraints } from './handshake.ts'
import {
  checkChunkLength, decodeBlockStatus, decodeChunkHeader, decodeDataOffset, decodeErrorChunk, decodeHole,
  decodeReplyMagic, decodeSimpleReply, encodeRequest, errnoName, isErrorChunk, protocolError, type ErrorChunk
} from './protocol.ts'

export interface NbdConnectInit {
  /** Unix socket path of the server (qemu-nbd -k, qemu-storage-daemon nbd export, nbdkit -U). */
  socketPath: string
  exportName: string
  /** Meta contexts to negotiate, e.g. ['base:allocation', 'qemu:dirty-bitmap:tandem-1']. */
  metaContexts?: string[]
  /** Aborts the handshake (CORE_ABORTED); later requests take their own signals. */
  signal?: AbortSignal
  /** The whole handshake, connect through NBD_OPT_GO; TIMEOUT_HANDSHAKE_MS when absent. */
  timeoutMs?: number
  /** Each request, from the call to its last reply chunk; TIMEOUT_REQUEST_MS when absent. */
  requestTimeoutMs?: number
}

type Kind = 'read' | 'block-status'

/** One request, from the call until the server's final chunk (which may come after the caller gave up on it). */
interface Pending {
  kind: Kind
  cookie: bigint
  offset: number
  length: number
  /** Where READ data goes; undefined once the caller gave up (timeout, abort): the bytes are then dropped. */
  target: Uint8Array | undefined
  /** READ: byte ranges (relative, sorted, disjoint) already described by data or hole chunks. */
  covered: Array<[number, number]>
  /** BLOCK_STATUS: the extents of each context id. */
  statuses: Map<number, Array<{ length: number, flags: number }>>
  error: ErrorChunk | undefined
  sent: boolean
  settled: boolean
  resolve: (statuses: Map<number, Array<{ length: number, flags: number }>>) => void
  reject: (err: Error) => void
  cleanup: () => void
}

function disconnected (message: string, cause?: unknown): CoreError {
  return new CoreError(CoreErrorCode.CORE_NBD_DISCONNECTED, message, cause === undefined ? {} : { cause })
}

function checkRange (offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new TypeError('offset and length must be non-negative integers')
  }
  if (offset + length > size) throw new TypeError(`range [${offset}, ${offset + length}) is past the export's end (${size})`)
}

/**
 * A client of one NBD export over a Unix socket: fixed-newstyle handshake
 * with structured replies, meta contexts and NBD_OPT_GO, then pipelined
 * READ and BLOCK_STATUS requests matched by cookie (docs/nbd-client.md).
 *
 * Contract: read() and blockStatus() may be called concurrently; at most
 * MAX_IN_FLIGHT requests are on the wire, the rest wait their turn (their
 * timeout runs while they wait). A server error answer rejects that request
 * only (CORE_NBD_REQUEST_FAILED). A timeout or an abort rejects the request
 * at once; the connection stays usable and the server's late answer is
 * dropped. A protocol violation or a lost connection rejects every pending
 * request (CORE_NBD_PROTOCOL, CORE_NBD_DISCONNECTED) and every later call
 * (CORE_NBD_DISCONNECTED). close() is idempotent.
 */
export class NbdClient {
  readonly size: number
  readonly readOnly: boolean
  /** Server's block size constraints (NBD_INFO_BLOCK_SIZE), with the spec's defaults when absent. */
  readonly blockSize: Readonly<BlockSizeConstraints>
  /** Negotiated meta contexts: name -> id. A requested context the server lacks is simply absent. */
  readonly metaContexts: ReadonlyMap<string, number>

  readonly #socket: Socket
  readonly #reader: ByteReader
  readonly #requestTimeoutMs: number
  readonly #contextIds: Set<number>
  readonly #readChunk: number
  readonly #pending = new Map<bigint, Pending>()
  readonly #queue: Pending[] = []
  #inFlight = 0
  #nextCookie = 1n
  #failure: Error | undefined
  #closing: Promise<void> | undefined
  readonly #socketClosed: Promise<void>

  private constructor (socket: Socket, reader: ByteReader, init: NbdConnectInit,
    negotiated: { size: number, readOnly: boolean, blockSize: BlockSizeConstraints, metaContexts: Map<string, number> }) {
    this.#socket = socket
    this.#reader = reader
    this.#requestTimeoutMs = init.requestTimeoutMs ?? TIMEOUT_REQUEST_MS
    this.size = negotiated.size
    this.readOnly = negotiated.readOnly
    this.blockSize = Object.freeze({ ...negotiated.blockSize })
    this.metaContexts = negotiated.metaContexts
    this.#contextIds = new Set(negotiated.metaContexts.values())
    this.#readChunk = readChunkBytes(negotiated.blockSize)
    this.#socketClosed = new Promise(resolve => { socket.once('close', () => { resolve() }) })
    void this.#receive()
  }

  /**
   * Connects and negotiates. Rejects with CORE_NBD_HANDSHAKE_FAILED (export
   * missing, server lacking fixed newstyle, structured replies or GO),
   * CORE_NBD_PROTOCOL, CORE_NBD_TIMEOUT, CORE_NBD_DISCONNECTED (no server
   * at the path, or it hung up) or CORE_ABORTED; the socket is closed then.
   */
  static async connect (init: NbdConnectInit): Promise<NbdClient> {
    if (typeof init.socketPath !== 'string' || init.socketPath === '') throw new TypeError('socketPath must be a non-empty string')
    if (typeof init.exportName !== 'string') throw new TypeError('exportName must be a string')
    const wanted = init.metaContexts ?? []
    if (!Array.isArray(wanted) || wanted.length > MAX_META_CONTEXTS || wanted.some(c => typeof c !== 'string' || !c.includes(':'))) {
      throw new TypeError(`metaContexts must be at most ${MAX_META_CONTEXTS} names of the form namespace:leaf`)
    }
    throwIfAborted(init.signal)
    const timeoutMs = init.timeoutMs ?? TIMEOUT_HANDSHAKE_MS
    const socket = createConnection({ path: init.socketPath })
    // Why the handshake stopped, when we stopped it (timeout, abort); the reader then fails with it.
    let stopped: Error | undefined
    const reader = new ByteReader(socket, cause => stopped ?? disconnected(`connection to the NBD server at ${init.socketPath} failed or closed`, cause))
    const disarm = armDeadline(timeoutMs, init.signal,
      () => new CoreError(CoreErrorCode.CORE_NBD_TIMEOUT, `NBD handshake did not finish within ${timeoutMs} ms`, { details: { timeoutMs } }),
      err => { stopped ??= err; socket.destroy() })
    try {
      const negotiated = await negotiate(socket, reader, init.exportName, [...new Set(wanted)])
      if (stopped !== undefined) throw stopped
      return new NbdClient(socket, reader, init, negotiated)
    } catch (err) {
      socket.destroy()
      throw stopped ?? err
    } finally {
      disarm()
    }
  }

  /**
   * Reads [offset, offset+length) into `into` (from its start) or a new
   * buffer, and returns the filled bytes. Split at the server's maximum
   * (capped at MAX_REQUEST_BYTES), up to READ_PIPELINE_DEPTH requests in
   * flight; holes read as zeros. Unaligned ranges (server minimum > 1) go
   * through a bounce buffer. A range past the end is a TypeError, sent to
   * no server. On failure nothing more is written into `into` once this rejects.
   */
  async read (offset: number, length: number, into?: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    checkRange(offset, length, this.size)
    if (into !== undefined && !(into instanceof Uint8Array && into.length >= length)) throw new TypeError('into must be a Uint8Array of at least length bytes')
    const out = (into ?? new Uint8Array(length)).subarray(0, length)
    if (length === 0) return out
    const min = this.blockSize.minimum
    const start = offset - (offset % min)
    const endRaw = offset + length
    const end = endRaw % min === 0 ? endRaw : Math.min(endRaw - (endRaw % min) + min, this.size)
    if (start !== offset || end !== endRaw) {
      const bounce = await this.read(start, end - start, undefined, signal)
      out.set(bounce.subarray(offset - start, offset - start + length))
      return out
    }
    // Siblings of a failed piece are abandoned at once, so nothing writes into `out` after we reject.
    const local = new AbortController()
    const combined = signal === undefined ? local.signal : AbortSignal.any([signal, local.signal])
    let next = offset
    const worker = async (): Promise<void> => {
      while (next < endRaw) {
        throwIfAborted(signal)
        if (local.signal.aborted) return
        const pos = next
        const len = Math.min(this.#readChunk, endRaw - pos)
        next += len
        await this.#request('read', pos, len, out.subarray(pos - offset, pos - offset + len), combined)
      }
    }
    const workers = Array.from({ length: Math.min(READ_PIPELINE_DEPTH, Math.ceil(length / this.#readChunk)) }, async () => {
      try { await worker() } catch (err) { local.abort(err); throw err }
    })
    try {
      await Promise.all(workers)
    } catch (err) {
      await Promise.allSettled(workers)
      throw err
    }
    return out
  }

  /**
   * Extents of `context` covering exactly [offset, offset+length), in order,
   * neighbours with equal flags merged. BLOCK_STATUS is repeated from where
   * the server's answer stopped until the range is covered (servers answer
   * with fewer extents than asked; requests are at most MAX_BLOCK_STATUS_LENGTH).
   * A context that was not negotiated is a TypeError: check metaContexts first.
   */
  async blockStatus (context: string, offset: number, length: number, signal?: AbortSignal): Promise<NbdExtent[]> {
    const id = this.metaContexts.get(context)
    if (id === undefined) throw new TypeError(`meta context ${JSON.stringify(context)} was not negotiated`)
    checkRange(offset, length, this.size)
    const end = offset + length
    const out: NbdExtent[] = []
    for (let pos = offset; pos < end;) {
      const statuses = await this.#request('block-status', pos, Math.min(end - pos, MAX_BLOCK_STATUS_LENGTH), undefined, signal)
      const extents = statuses.get(id)
      if (extents === undefined) {
        const err = protocolError(`no block status for context ${context} (id ${id})`)
        this.#fail(err)
        throw err
      }
      for (const e of extents) {
        if (pos >= end) {
          const err = protocolError('block status extents past the end of the request')
          this.#fail(err)
          throw err
        }
        // The spec lets the final extent run past the request; we keep only the asked range.
        const len = Math.min(e.length, end - pos)
        out.push({ offset: pos, length: len, flags: e.flags })
        pos += len
      }
    }
    return mergeExtents(out)
  }

  /**
   * Sends NBD_CMD_DISC, lets the server answer what is in flight (at most
   * TIMEOUT_DISCONNECT_MS), then closes the socket. Requests still pending
   * or queued reject with CORE_NBD_DISCONNECTED. Idempotent; never rejects.
   */
  async close (): Promise<void> {
    this.#closing ??= this.#disconnect()
    await this.#closing
  }

  async #disconnect (): Promise<void> {
    const closedByClient = disconnected('the NBD client was closed')
    for (const p of this.#queue.splice(0)) this.#settle(p, closedByClient)
    if (this.#failure === undefined) {
      const waitForServer = this.#pending.size > 0
      this.#socket.write(encodeRequest({ flags: 0, type: NBD_CMD_DISC, cookie: this.#nextCookie++, offset: 0, length: 0 }))
      await new Promise<void>(resolve => { this.#socket.end(resolve) })
      if (waitForServer) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([this.#socketClosed, new Promise(resolve => { timer = setTimeout(resolve, TIMEOUT_DISCONNECT_MS) })])
        clearTimeout(timer)
      }
    }
    this.#fail(closedByClient)
  }

  /** Queues one request; resolves with the BLOCK_STATUS extents by context id (empty for READ). */
  async #request (kind: Kind, offset: number, length: number, target: Uint8Array | undefined,
    signal: AbortSignal | undefined): Promise<Map<number, Array<{ length: number, flags: number }>>> {
    if (this.#failure !== undefined) throw disconnected('the NBD connection is closed', this.#failure)
    if (this.#closing !== undefined) throw disconnected('the NBD client is closing')
    throwIfAborted(signal)
    return await new Promise((resolve, reject) => {
      const p: Pending = {
        kind,
        cookie: this.#nextCookie++,
        offset,
        length,
        target,
        covered: [],
        statuses: new Map(),
        error: undefined,
        sent: false,
        settled: false,
        resolve,
        reject,
        cleanup: () => {}
      }
      const timeoutMs = this.#requestTimeoutMs
      p.cleanup = armDeadline(timeoutMs, signal,
        () => new CoreError(CoreErrorCode.CORE_NBD_TIMEOUT, `NBD ${kind} at ${offset} (+${length}) not answered within ${timeoutMs} ms`,
          { details: { kind, offset, length, timeoutMs } }),
        err => { this.#giveUp(p, err) })
      this.#queue.push(p)
      this.#pump()
    })
  }

  /** Sends queued requests while fewer than MAX_IN_FLIGHT are on the wire. */
  #pump (): void {
    while (this.#inFlight < MAX_IN_FLIGHT && this.#failure === undefined) {
      const p = this.#queue.shift()
      if (p === undefined) return
      p.sent = true
      this.#inFlight++
      this.#pending.set(p.cookie, p)
      this.#socket.write(encodeRequest({
        flags: 0,
        type: p.kind === 'read' ? NBD_CMD_READ : NBD_CMD_BLOCK_STATUS,
        cookie: p.cookie,
        offset: p.offset,
        length: p.length
      }))
    }
  }

  /** The caller stops waiting (timeout, abort): rejected now; if sent, its late chunks are read and dropped. */
  #giveUp (p: Pending, err: Error): void {
    if (p.settled) return
    p.target = undefined
    if (!p.sent) this.#queue.splice(this.#queue.indexOf(p), 1)
    this.#settle(p, err)
  }

  #settle (p: Pending, outcome: Error | Map<number, Array<{ length: number, flags: number }>>): void {
    if (p.settled) return
    p.settled = true
    p.target = undefined
    p.cleanup()
    if (outcome instanceof Error) p.reject(outcome)
    else p.resolve(outcome)
  }

  /** Fails the connection: every pending and queued request rejects with `err`; the socket is destroyed. */
  #fail (err: Error): void {
    if (this.#failure !== undefined) return
    this.#failure = err
    this.#socket.destroy()
    for (const p of this.#pending.values()) this.#settle(p, err)
    for (const p of this.#queue) this.#settle(p, err)
    this.#pending.clear()
    this.#queue.length = 0
    this.#inFlight = 0
  }

  /** The reply loop, for the connection's life: one reply or chunk at a time. */
  async #receive (): Promise<void> {
    try {
      for (;;) await this.#receiveOne()
    } catch (err) {
      this.#fail(err instanceof CoreError ? err : protocolError(`undecodable reply (${String(err)})`))
    }
  }

  #lookup (cookie: bigint): Pending {
    const p = this.#pending.get(cookie)
    if (p === undefined) throw protocolError(`reply with unknown cookie ${cookie}`, { cookie: cookie.toString() })
    return p
  }

  async #receiveOne (): Promise<void> {
    const kind = decodeReplyMagic(await this.#reader.read(4))
    if (kind === 'simple') {
      const { error, cookie } = decodeSimpleReply(await this.#reader.read(12))
      const p = this.#lookup(cookie)
      if (p.kind === 'read') throw protocolError('simple reply to a READ after structured replies were negotiated')
      if (error === 0) throw protocolError('simple success reply to BLOCK_STATUS (no extents)')
      p.error ??= { errno: error, name: errnoName(error), message: '' }
      this.#finish(p)
      return
    }
    const h = decodeChunkHeader(await this.#reader.read(16))
    const p = this.#lookup(h.cookie)
    checkChunkLength(h, { type: p.kind, length: p.length })
    if (h.type === NBD_REPLY_TYPE_OFFSET_DATA) {
      const at = this.#claim(p, decodeDataOffset(await this.#reader.read(8)), h.length - 8)
      // Checked per piece: a request given up on midway stops receiving bytes at once.
      await this.#reader.consume(h.length - 8, (piece, i) => { p.target?.set(piece, at + i) })
    } else if (h.type === NBD_REPLY_TYPE_OFFSET_HOLE) {
      const hole = decodeHole(await this.#reader.read(12))
      const at = this.#claim(p, hole.offset, hole.length)
      p.target?.fill(0, at, at + hole.length)
    } else if (h.type === NBD_REPLY_TYPE_BLOCK_STATUS) {
      const chunk = decodeBlockStatus(await this.#reader.read(h.length))
      if (!this.#contextIds.has(chunk.contextId)) throw protocolError(`block status for unknown context id ${chunk.contextId}`)
      if (p.statuses.has(chunk.contextId)) throw protocolError(`two block status chunks for context id ${chunk.contextId}`)
      p.statuses.set(chunk.contextId, chunk.extents)
    } else if (h.type === NBD_REPLY_TYPE_NONE) {
      if ((h.flags & NBD_REPLY_FLAG_DONE) === 0) throw protocolError('NONE chunk without the DONE flag')
    } else if (isErrorChunk(h.type)) {
      const e = decodeErrorChunk(h.type, await this.#reader.read(h.length))
      if (h.type === NBD_REPLY_TYPE_ERROR_OFFSET && (e.offset! < p.offset || e.offset! >= p.offset + p.length)) {
        throw protocolError(`error offset ${e.offset} outside its request`)
      }
      p.error ??= e
    }
    if ((h.flags & NBD_REPLY_FLAG_DONE) !== 0) this.#finish(p)
  }

  /**
   * Records that a data or hole chunk describes [offset, offset+length) of
   * READ `p` and returns its position in the request. Outside the request
   * or overlapping an earlier chunk is a protocol violation.
   */
  #claim (p: Pending, offset: number, length: number): number {
    const at = offset - p.offset
    if (at < 0 || at + length > p.length) throw protocolError(`chunk [${offset}, ${offset + length}) outside its request [${p.offset}, ${p.offset + p.length})`)
    const c = p.covered
    let i = c.length // first range starting after `at`
    while (i > 0 && c[i - 1]![0] > at) i--
    const before = c[i - 1]
    const after = c[i]
    if ((before !== undefined && before[1] > at) || (after !== undefined && after[0] < at + length)) {
      throw protocolError(`chunk [${offset}, ${offset + length}) overlaps an earlier one`)
    }
    if (before !== undefined && before[1] === at) {
      before[1] = at + length
      if (after !== undefined && after[0] === before[1]) { before[1] = after[1]; c.splice(i, 1) }
    } else if (after !== undefined && after[0] === at + length) {
      after[0] = at
    } else {
      c.splice(i, 0, [at, at + length])
    }
    return at
  }

  /** The final chunk of `p` arrived: its slot frees, and it settles unless the caller gave up. */
  #finish (p: Pending): void {
    if (p.error === undefined) {
      // Checked while `p` is still pending, so the connection failure rejects it too.
      if (p.kind === 'read' && !(p.covered.length === 1 && p.covered[0]![0] === 0 && p.covered[0]![1] === p.length)) {
        throw protocolError(`READ at ${p.offset} (+${p.length}) done with bytes missing`)
      }
      if (p.kind === 'block-status' && p.statuses.size === 0) throw protocolError('BLOCK_STATUS done without extents')
    }
    this.#pending.delete(p.cookie)
    this.#inFlight--
    const e = p.error
    if (e === undefined) {
      this.#settle(p, p.statuses)
    } else {
      this.#settle(p, new CoreError(CoreErrorCode.CORE_NBD_REQUEST_FAILED,
        `NBD server failed ${p.kind} at ${p.offset} (+${p.length}): ${e.name}${e.message === '' ? '' : ` (${e.message})`}`,
        { details: { errno: e.name, errnoValue: e.errno, message: e.message, offset: e.offset, kind: p.kind, requestOffset: p.offset, requestLength: p.length } }))
      if (e.errno === NBD_ESHUTDOWN) void this.close()
    }
    this.#pump()
  }
}
