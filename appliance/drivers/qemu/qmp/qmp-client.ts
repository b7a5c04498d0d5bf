import { createConnection, type Socket } from 'node:net'
import { AppError, AppErrorCode } from '../../../errors.ts'
import { abortedError } from '../../../../core/errors.ts'
import { armDeadline, checkTimeout } from '../../../../core/deadline.ts'
import { LineSplitter, isObject, parseObject } from './json-lines.ts'
import { MAX_QMP_EVENT_BUFFER, MAX_QMP_LINE_BYTES, TIMEOUT_QMP_COMMAND_MS, TIMEOUT_QMP_CONNECT_MS, TIMEOUT_QMP_EVENT_MS } from './constants.ts'

/** QEMU's greeting: its version and the optional capabilities it offers (none are enabled). */
export interface QmpGreeting {
  version: { qemu: { major: number, minor: number, micro: number }, package: string }
  capabilities: string[]
}

/** An asynchronous QMP event, numbered in arrival order from 1 (`seq`) on this connection. */
export interface QmpEvent {
  event: string
  data: Record<string, unknown>
  timestamp: { seconds: number, microseconds: number }
  seq: number
}

export interface QmpConnectOptions {
  signal?: AbortSignal
  /** For connecting, the greeting and `qmp_capabilities` together; TIMEOUT_QMP_CONNECT_MS by default. */
  timeoutMs?: number
  /** MAX_QMP_LINE_BYTES by default. */
  maxLineBytes?: number
}

export interface QmpCallOptions {
  /** TIMEOUT_QMP_COMMAND_MS (commands) or TIMEOUT_QMP_EVENT_MS (events) by default. */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface QmpWaitOptions extends QmpCallOptions {
  /**
   * Also match events already received whose `seq` is greater than this
   * (take it from `lastEventSeq` before triggering the event). Only the
   * last MAX_QMP_EVENT_BUFFER events are kept. Without it, only events
   * arriving after the call match.
   */
  since?: number
}

/** Where the socket's lines go: the greeting reader during connect, then the client. */
interface InputRoute {
  onLine: (line: Buffer) => void
  onOverflow: () => void
}

interface Pending {
  command: string
  resolve: (value: unknown) => void
  reject: (err: Error) => void
  disarm: () => void
}

interface Waiter {
  name: string
  predicate: ((e: QmpEvent) => boolean) | undefined
  resolve: (e: QmpEvent) => void
  reject: (err: Error) => void
  disarm: () => void
}

/**
 * A QMP (QEMU Machine Protocol) client on a unix socket: QEMU's
 * `-qmp unix:PATH,server=on,wait=off`, or qemu-storage-daemon's
 * `--chardev socket,path=PATH,server=on,wait=off,id=c --monitor chardev=c`.
 *
 * Contract (docs/qemu.md):
 * - `execute` may be called concurrently; each request carries its own id
 *   and replies are matched by id. A command that times out or is aborted
 *   may still take effect in QEMU; its late reply is dropped.
 * - QEMU's `{"error"}` rejects with APP_QMP_ERROR (`details`: command,
 *   class, desc); no reply in time: APP_QMP_TIMEOUT; an aborted signal:
 *   CORE_ABORTED.
 * - Input is checked at this boundary: a line that is not a JSON object
 *   or is longer than the limit fails the connection with APP_QMP_PROTOCOL.
 * - When the connection ends for any reason (QEMU exits or is killed,
 *   malformed input, `close()`), every pending command and event waiter
 *   rejects at once: with APP_QMP_PROTOCOL after bad input, otherwise
 *   APP_QMP_DISCONNECTED; later calls reject with APP_QMP_DISCONNECTED.
 *   `closed` resolves then: with the error, or `undefined` after `close()`.
 * - Events: `onEvent` listeners and `waitForEvent`. To wait for an event
 *   that a command triggers, either start `waitForEvent` before executing
 *   the command, or read `lastEventSeq` before and pass it as `since`.
 */
export class QmpClient {
  readonly greeting: QmpGreeting
  /** Resolves once the connection has ended: with the reason, or `undefined` when `close()` ended it. Never rejects. */
  readonly closed: Promise<AppError | undefined>

  private readonly socket: Socket
  private readonly pending = new Map<string, Pending>()
  private readonly waiters = new Set<Waiter>()
  private readonly listeners = new Set<(e: QmpEvent) => void>()
  private readonly recent: QmpEvent[] = []
  private failure: AppError | undefined
  private nextId = 0
  private eventSeq = 0
  private resolveClosed!: (reason: AppError | undefined) => void
  private readonly socketClosed: Promise<void>

  private constructor (socket: Socket, greeting: QmpGreeting, route: InputRoute, maxLineBytes: number) {
    this.socket = socket
    this.greeting = greeting
    this.closed = new Promise(resolve => { this.resolveClosed = resolve })
    this.socketClosed = new Promise(resolve => { socket.once('close', () => { resolve() }) })
    route.onLine = line => { this.onLine(line) }
    route.onOverflow = () => { this.fail(oversized(maxLineBytes)) }
    socket.on('error', err => { this.fail(new AppError(AppErrorCode.APP_QMP_DISCONNECTED, `QMP connection failed: ${err.message}`, { cause: err })) })
    socket.on('close', () => { this.fail(new AppError(AppErrorCode.APP_QMP_DISCONNECTED, 'QEMU closed the QMP connection')) })
  }

  /**
   * Connects, reads the greeting and leaves capabilities negotiation mode.
   * APP_QMP_DISCONNECTED (no socket, refused, or closed early),
   * APP_QMP_TIMEOUT (no greeting in time: e.g. another client holds the
   * monitor, QEMU serves one at a time), APP_QMP_PROTOCOL, APP_QMP_ERROR,
   * CORE_ABORTED.
   */
  static async connect (path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = checkTimeout(options.timeoutMs ?? TIMEOUT_QMP_CONNECT_MS)
    const maxLineBytes = options.maxLineBytes ?? MAX_QMP_LINE_BYTES
    const route: InputRoute = { onLine: () => {}, onOverflow: () => {} }
    const socket = createConnection(path)
    const splitter = new LineSplitter({
      maxBytes: maxLineBytes,
      onLine: line => { route.onLine(line) },
      onOverflow: () => { route.onOverflow() }
    })
    socket.on('data', (chunk: Buffer) => { splitter.push(chunk) })

    let client: QmpClient | undefined
    try {
      const greeting = await new Promise<QmpGreeting>((resolve, reject) => {
        const disarm = armDeadline(timeoutMs, options.signal, () => new AppError(AppErrorCode.APP_QMP_TIMEOUT, `no QMP greeting on ${path} within ${timeoutMs} ms`), reject)
        const fail = (err: Error): void => { disarm(); reject(err) }
        socket.once('error', err => { fail(new AppError(AppErrorCode.APP_QMP_DISCONNECTED, `cannot connect to QMP socket ${path}: ${err.message}`, { cause: err })) })
        socket.once('close', () => { fail(new AppError(AppErrorCode.APP_QMP_DISCONNECTED, `QMP socket ${path} closed before the greeting`)) })
        route.onOverflow = () => { fail(oversized(maxLineBytes)) }
        route.onLine = line => {
          const qmp = parseObject(line)?.QMP
          if (!isObject(qmp) || !isObject(qmp.version) || !Array.isArray(qmp.capabilities)) {
            fail(new AppError(AppErrorCode.APP_QMP_PROTOCOL, `expected a QMP greeting on ${path}, got ${preview(line)}`))
            return
          }
          disarm()
          resolve(qmp as unknown as QmpGreeting)
        }
      })
      socket.removeAllListeners('error')
      socket.removeAllListeners('close')
      client = new QmpClient(socket, greeting, route, maxLineBytes)
      await client.execute('qmp_capabilities', undefined, { timeoutMs, signal: options.signal })
      return client
    } catch (err) {
      if (client !== undefined) await client.close()
      else socket.destroy()
      throw err
    }
  }

  /** The `seq` of the last event received (0 before any): pass it as `since` to `waitForEvent` to miss nothing from now on. */
  get lastEventSeq (): number {
    return this.eventSeq
  }

  /**
   * Runs one QMP command and resolves with its `return` value. Safe to call
   * concurrently. Errors: see the class comment.
   */
  async execute<T = unknown> (command: string, args?: Record<string, unknown>, options: QmpCallOptions = {}): Promise<T> {
    const timeoutMs = checkTimeout(options.timeoutMs ?? TIMEOUT_QMP_COMMAND_MS)
    if (this.failure !== undefined) throw this.disconnected(command)
    if (options.signal?.aborted === true) throw abortedError(options.signal)
    const id = `tandem-${++this.nextId}`
    const line = JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id }) + '\n'
    return await new Promise<T>((resolve, reject) => {
      const disarm = armDeadline(timeoutMs, options.signal, () => new AppError(AppErrorCode.APP_QMP_TIMEOUT, `QMP command ${command} got no reply within ${timeoutMs} ms`, { details: { command } }), err => {
        this.pending.delete(id)
        reject(err)
      })
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, disarm })
      this.socket.write(line)
    })
  }

  /**
   * Calls `listener` synchronously for every event, in arrival order, until
   * the returned function is called. A listener must not throw (a throw is
   * rethrown outside the client, as an uncaught exception).
   */
  onEvent (listener: (e: QmpEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /**
   * The first event named `name` (and accepted by `predicate`) that arrives
   * after this call, or, with `since`, after that sequence number
   * (already buffered events included). APP_QMP_TIMEOUT, CORE_ABORTED, or
   * the connection's end (class comment); a throwing predicate rejects
   * with its error.
   */
  async waitForEvent (name: string, predicate?: (e: QmpEvent) => boolean, options: QmpWaitOptions = {}): Promise<QmpEvent> {
    const timeoutMs = checkTimeout(options.timeoutMs ?? TIMEOUT_QMP_EVENT_MS)
    if (options.since !== undefined) {
      for (const e of this.recent) {
        if (e.seq > options.since && e.event === name && (predicate === undefined || predicate(e))) return e
      }
    }
    if (this.failure !== undefined) throw this.disconnected(`wait for ${name}`)
    if (options.signal?.aborted === true) throw abortedError(options.signal)
    return await new Promise<QmpEvent>((resolve, reject) => {
      const waiter: Waiter = { name, predicate, resolve, reject, disarm: () => {} }
      waiter.disarm = armDeadline(timeoutMs, options.signal, () => new AppError(AppErrorCode.APP_QMP_TIMEOUT, `no QMP event ${name} within ${timeoutMs} ms`, { details: { event: name } }), err => {
        this.waiters.delete(waiter)
        reject(err)
      })
      this.waiters.add(waiter)
    })
  }

  /**
   * Ends the connection; pending commands and waiters reject with
   * APP_QMP_DISCONNECTED. Idempotent; resolves once the socket is closed.
   * QEMU keeps running (send `quit` first to stop it).
   */
  async close (): Promise<void> {
    this.fail(undefined)
    await this.socketClosed
  }

  private onLine (line: Buffer): void {
    if (this.failure !== undefined) return
    const msg = parseObject(line)
    if (msg === undefined) {
      this.fail(new AppError(AppErrorCode.APP_QMP_PROTOCOL, `QEMU sent a line that is not a JSON object: ${preview(line)}`))
      return
    }
    if (typeof msg.event === 'string') {
      this.onQmpEvent(msg.event, msg)
    } else if ('return' in msg || 'error' in msg) {
      // A reply without a known id is a late one (its command timed out) or QEMU's answer to unparsable input we never send: dropped.
      const entry = typeof msg.id === 'string' ? this.pending.get(msg.id) : undefined
      if (entry === undefined) return
      this.pending.delete(msg.id as string)
      entry.disarm()
      if ('error' in msg) {
        const e = isObject(msg.error) ? msg.error : {}
        const cls = String(e.class ?? 'GenericError')
        const desc = String(e.desc ?? '')
        entry.reject(new AppError(AppErrorCode.APP_QMP_ERROR, `QEMU refused ${entry.command}: ${cls}: ${desc}`, { details: { command: entry.command, class: cls, desc } }))
      } else {
        entry.resolve(msg.return)
      }
    } else {
      this.fail(new AppError(AppErrorCode.APP_QMP_PROTOCOL, `QEMU sent an unknown QMP message: ${preview(line)}`))
    }
  }

  private onQmpEvent (name: string, msg: Record<string, unknown>): void {
    const ts = isObject(msg.timestamp) ? msg.timestamp : {}
    const e: QmpEvent = {
      event: name,
      data: isObject(msg.data) ? msg.data : {},
      timestamp: { seconds: Number(ts.seconds ?? 0), microseconds: Number(ts.microseconds ?? 0) },
      seq: ++this.eventSeq
    }
    this.recent.push(e)
    if (this.recent.length > MAX_QMP_EVENT_BUFFER) this.recent.shift()
    for (const listener of [...this.listeners]) {
      try { listener(e) } catch (err) { queueMicrotask(() => { throw err }) }
    }
    for (const w of [...this.waiters]) {
      if (w.name !== name) continue
      let match: boolean
      try {
        match = w.predicate === undefined || w.predicate(e)
      } catch (err) {
        this.waiters.delete(w)
        w.disarm()
        w.reject(err as Error)
        continue
      }
      if (!match) continue
      this.waiters.delete(w)
      w.disarm()
      w.resolve(e)
    }
  }

  /** Ends the connection once; `reason` undefined means the owner closed it. */
  private fail (reason: AppError | undefined): void {
    if (this.failure !== undefined) return
    this.failure = reason ?? new AppError(AppErrorCode.APP_QMP_DISCONNECTED, 'the QMP client was closed')
    this.socket.destroy()
    const err = this.failure
    for (const p of this.pending.values()) {
      p.disarm()
      p.reject(err)
    }
    this.pending.clear()
    for (const w of this.waiters) {
      w.disarm()
      w.reject(err)
    }
    this.waiters.clear()
    this.resolveClosed(reason)
  }

  private disconnected (what: string): AppError {
    return new AppError(AppErrorCode.APP_QMP_DISCONNECTED, `QMP connection is closed (${what})`, { cause: this.failure })
  }
}

function oversized (max: number): AppError {
  return new AppError(AppErrorCode.APP_QMP_PROTOCOL, `QEMU sent a QMP line longer than ${max} bytes`)
}


/** The start of a line for an error message, printable. */
function preview (line: Buffer): string {
  return JSON.stringify(line.subarray(0, 80).toString('utf8')) + (line.length > 80 ? '...' : '')
}
