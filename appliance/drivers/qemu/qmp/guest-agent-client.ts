import { randomInt } from 'node:crypto'
import { createConnection, type Socket } from 'node:net'
import { AppError, AppErrorCode } from '../../../errors.ts'
import { MAX_AGENT_LINE_BYTES, TIMEOUT_AGENT_COMMAND_MS, TIMEOUT_AGENT_SYNC_MS } from './constants.ts'
import { abortedError } from '../../../../core/errors.ts'
import { armDeadline, checkTimeout } from '../../../../core/deadline.ts'
import { LineSplitter, isObject, parseObject } from './json-lines.ts'

/** The byte that resets the agent's parser (sent by us) and marks the start of a synced reply (sent by the agent); never part of UTF-8 text. */
const SYNC_DELIMITER = 0xff

export interface GuestAgentConnectOptions {
  signal?: AbortSignal
  /** Wait for each `guest-sync-delimited` reply; TIMEOUT_AGENT_SYNC_MS by default. */
  syncTimeoutMs?: number
  /** MAX_AGENT_LINE_BYTES by default. */
  maxLineBytes?: number
}

export interface GuestAgentCallOptions {
  /** For the whole call: queueing behind other calls, the sync and the reply. TIMEOUT_AGENT_COMMAND_MS by default. */
  timeoutMs?: number
  signal?: AbortSignal
}

export type FsFreezeStatus = 'thawed' | 'frozen'

/** What the reader is waiting for: the reply to a sync with this id, the reply to a command, or nothing (input is dropped). */
type Expecting =
  | { kind: 'idle' }
  | { kind: 'sync', id: number, done: () => void }
  | { kind: 'reply', command: string, done: (msg: Record<string, unknown>) => void }

/**
 * A client for qemu-guest-agent on the host end of its virtio-serial unix
 * socket (`-chardev socket,path=PATH,server=on,wait=off,id=qga0 -device
 * virtio-serial -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0`).
 *
 * Contract (docs/qemu.md):
 * - The protocol has no request ids, so calls run one at a time, in call
 *   order; concurrent calls queue. Before every command the client resyncs
 *   (0xFF, then `guest-sync-delimited` with a random id, skipping all input
 *   until that id comes back), as libvirt does: the agent may have
 *   restarted in the guest, and a command that timed out may still answer
 *   late. So a timeout never leaves the channel confused.
 * - No sync reply in time: APP_AGENT_UNAVAILABLE (no agent runs in the
 *   guest; the socket itself accepts whether or not one does). Socket
 *   closed or not connectable: APP_AGENT_UNAVAILABLE.
 * - The agent's `{"error"}`, or a reply that is not a JSON object:
 *   APP_AGENT_ERROR (`details`: command, class, desc). No reply in time:
 *   APP_AGENT_TIMEOUT; the command may still complete in the guest (a late
 *   freeze leaves the guest frozen: always thaw in a `finally`).
 * - The guest is not trusted: lines are bounded (a longer one closes the
 *   connection) and replies are type-checked by the helpers.
 */
export class GuestAgentClient {
  /** Resolves once the connection has ended: with the reason, or `undefined` when `close()` ended it. Never rejects. */
  readonly closed: Promise<AppError | undefined>

  private readonly socket: Socket
  private readonly syncTimeoutMs: number
  private expecting: Expecting = { kind: 'idle' }
  private queue: Promise<void> = Promise.resolve()
  private failure: AppError | undefined
  private readonly failListeners = new Set<(err: AppError) => void>()
  private resolveClosed!: (reason: AppError | undefined) => void
  private readonly socketClosed: Promise<void>

  private constructor (socket: Socket, syncTimeoutMs: number, maxLineBytes: number) {
    this.socket = socket
    this.syncTimeoutMs = syncTimeoutMs
    this.closed = new Promise(resolve => { this.resolveClosed = resolve })
    this.socketClosed = new Promise(resolve => { socket.once('close', () => { resolve() }) })
    const splitter = new LineSplitter({
      maxBytes: maxLineBytes,
      extraDelimiters: [SYNC_DELIMITER],
      onLine: line => { this.onLine(line) },
      onOverflow: () => { this.fail(new AppError(AppErrorCode.APP_AGENT_ERROR, `the guest agent sent a line longer than ${maxLineBytes} bytes`)) }
    })
    socket.on('data', (chunk: Buffer) => { splitter.push(chunk) })
    socket.on('error', err => { this.fail(new AppError(AppErrorCode.APP_AGENT_UNAVAILABLE, `guest agent socket failed: ${err.message}`, { cause: err })) })
    socket.on('close', () => { this.fail(new AppError(AppErrorCode.APP_AGENT_UNAVAILABLE, 'the guest agent socket closed')) })
  }

  /**
   * Connects and syncs once, so a guest without an agent is found here:
   * APP_AGENT_UNAVAILABLE, CORE_ABORTED.
   */
  static async connect (path: string, options: GuestAgentConnectOptions = {}): Promise<GuestAgentClient> {
    const syncTimeoutMs = checkTimeout(options.syncTimeoutMs ?? TIMEOUT_AGENT_SYNC_MS, 'syncTimeoutMs')
    const socket = createConnection(path)
    const client = new GuestAgentClient(socket, syncTimeoutMs, options.maxLineBytes ?? MAX_AGENT_LINE_BYTES)
    try {
      await new Promise<void>((resolve, reject) => {
        const disarm = armDeadline(syncTimeoutMs, options.signal, () => new AppError(AppErrorCode.APP_AGENT_UNAVAILABLE, `cannot connect to the guest agent socket ${path} within ${syncTimeoutMs} ms`), reject)
        socket.once('connect', () => { disarm(); resolve() })
        client.failListeners.add(err => { disarm(); reject(err) })
      })
      client.failListeners.clear()
      await client.run('guest-sync-delimited', async () => { await client.sync(options.signal) })
      return client
    } catch (err) {
      await client.close()
      throw err
    }
  }

  /**
   * Runs one agent command (after a sync) and resolves with its `return`
   * value. Calls are serialized. Errors: see the class comment.
   */
  async execute<T = unknown> (command: string, args?: Record<string, unknown>, options: GuestAgentCallOptions = {}): Promise<T> {
    const timeoutMs = checkTimeout(options.timeoutMs ?? TIMEOUT_AGENT_COMMAND_MS)
    const deadline = AbortSignal.timeout(timeoutMs)
    return await this.run(command, async () => {
      const stop = options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline])
      const stopError = (): Error => options.signal?.aborted === true ? abortedError(options.signal) : timedOut(command, timeoutMs)
      await this.sync(stop, stopError)
      return await this.send<T>(command, args, stop, stopError)
    }, { signal: options.signal, deadline, timeoutMs })
  }

  /** `guest-ping`: resolves when the agent answers. */
  async ping (options?: GuestAgentCallOptions): Promise<void> {
    await this.execute('guest-ping', undefined, options)
  }

  /** `guest-fsfreeze-freeze`: freezes every guest filesystem; the number frozen. Thaw in a `finally`: guest I/O stalls while frozen. */
  async fsfreezeFreeze (options?: GuestAgentCallOptions): Promise<number> {
    return expectCount('guest-fsfreeze-freeze', await this.execute('guest-fsfreeze-freeze', undefined, options))
  }

  /** `guest-fsfreeze-thaw`: the number of filesystems thawed (0 when none was frozen). */
  async fsfreezeThaw (options?: GuestAgentCallOptions): Promise<number> {
    return expectCount('guest-fsfreeze-thaw', await this.execute('guest-fsfreeze-thaw', undefined, options))
  }

  /** `guest-fsfreeze-status`. */
  async fsfreezeStatus (options?: GuestAgentCallOptions): Promise<FsFreezeStatus> {
    const status = await this.execute('guest-fsfreeze-status', undefined, options)
    if (status !== 'thawed' && status !== 'frozen') throw malformed('guest-fsfreeze-status', status)
    return status
  }

  /** Ends the connection; a call in progress and queued calls reject with APP_AGENT_UNAVAILABLE. Idempotent. */
  async close (): Promise<void> {
    this.fail(undefined)
    await this.socketClosed
  }

  /**
   * Runs `fn` when the calls before it have finished. With a deadline, a
   * call still queued when it passes (or its signal fires) rejects without
   * running.
   */
  private async run<T> (command: string, fn: () => Promise<T>, limits?: { signal: AbortSignal | undefined, deadline: AbortSignal, timeoutMs: number }): Promise<T> {
    const turn = this.queue
    let release!: () => void
    this.queue = new Promise(resolve => { release = resolve })
    try {
      if (limits !== undefined) {
        await Promise.race([turn, new Promise<never>((_resolve, reject) => {
          const fire = (): void => { reject(limits.signal?.aborted === true ? abortedError(limits.signal) : timedOut(command, limits.timeoutMs)) }
          if (limits.signal?.aborted === true || limits.deadline.aborted) fire()
          limits.signal?.addEventListener('abort', fire, { once: true })
          limits.deadline.addEventListener('abort', fire, { once: true })
          void turn.then(() => {
            limits.signal?.removeEventListener('abort', fire)
            limits.deadline.removeEventListener('abort', fire)
          })
        })])
      } else {
        await turn
      }
      if (this.failure !== undefined) throw this.unavailable(command)
      return await fn()
    } finally {
      // a call that gave up while queued releases its turn only after the calls before it
      void turn.then(release)
    }
  }

  /**
   * Sends 0xFF and `guest-sync-delimited` with a fresh id, and skips input
   * until that id comes back. APP_AGENT_UNAVAILABLE after syncTimeoutMs;
   * `stop` firing first rejects with `stopError()` (CORE_ABORTED without it).
   */
  private async sync (stop: AbortSignal | undefined, stopError?: () => Error): Promise<void> {
    const id = randomInt(1, 2 ** 31 - 1)
    const line = JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id } }) + '\n'
    await this.await<void>(stop, stopError, this.syncTimeoutMs, () => new AppError(AppErrorCode.APP_AGENT_UNAVAILABLE, `no guest agent answered the sync within ${this.syncTimeoutMs} ms`), done => {
      this.expecting = { kind: 'sync', id, done: () => { done(undefined) } }
      this.socket.write(Buffer.concat([Buffer.from([SYNC_DELIMITER]), Buffer.from(line)]))
    })
  }

  private async send<T> (command: string, args: Record<string, unknown> | undefined, stop: AbortSignal, stopError: () => Error): Promise<T> {
    const line = JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args }) + '\n'
    const msg = await this.await<Record<string, unknown>>(stop, stopError, undefined, undefined, done => {
      this.expecting = { kind: 'reply', command, done }
      this.socket.write(line)
    })
    if ('error' in msg) {
      const e = isObject(msg.error) ? msg.error : {}
      const cls = String(e.class ?? 'GenericError')
      const desc = String(e.desc ?? '')
      throw new AppError(AppErrorCode.APP_AGENT_ERROR, `the guest agent failed ${command}: ${cls}: ${desc}`, { details: { command, class: cls, desc } })
    }
    return msg.return as T
  }

  /**
   * Sets what the reader expects (via `start`) and waits for it, for a
   * connection failure, for `stop`, or for the optional own time limit.
   * The reader goes back to idle whichever comes first.
   */
  private async await<T> (stop: AbortSignal | undefined, stopError: (() => Error) | undefined, ownTimeoutMs: number | undefined, ownTimeoutError: (() => Error) | undefined, start: (done: (v: T) => void) => void): Promise<T> {
    return await new Promise<T>((resolve, reject) => {
      const cleanups: Array<() => void> = []
      const settle = (fn: () => void): void => {
        for (const c of cleanups) c()
        this.expecting = { kind: 'idle' }
        fn()
      }
      const onStop = (): void => { settle(() => { reject(stopError !== undefined ? stopError() : abortedError(stop!)) }) }
      if (stop !== undefined) {
        if (stop.aborted) { onStop(); return }
        stop.addEventListener('abort', onStop, { once: true })
        cleanups.push(() => { stop.removeEventListener('abort', onStop) })
      }
      if (ownTimeoutMs !== undefined && ownTimeoutError !== undefined) {
        const timer = setTimeout(() => { settle(() => { reject(ownTimeoutError()) }) }, ownTimeoutMs)
        cleanups.push(() => { clearTimeout(timer) })
      }
      const onFail = (err: AppError): void => { settle(() => { reject(err) }) }
      this.failListeners.add(onFail)
      cleanups.push(() => { this.failListeners.delete(onFail) })
      start(v => { settle(() => { resolve(v) }) })
    })
  }

  private onLine (line: Buffer): void {
    const expecting = this.expecting
    if (expecting.kind === 'idle') return
    const msg = parseObject(line)
    if (expecting.kind === 'sync') {
      // anything before our own id coming back is stale output: skipped
      if (msg !== undefined && msg.return === expecting.id) expecting.done()
      return
    }
    if (msg !== undefined && ('return' in msg || 'error' in msg)) {
      expecting.done(msg)
    } else {
      expecting.done({ error: { class: 'MalformedReply', desc: `not a reply: ${JSON.stringify(line.subarray(0, 80).toString('utf8'))}` } })
    }
  }

  /** Ends the connection once; `reason` undefined means the owner closed it. */
  private fail (reason: AppError | undefined): void {
    if (this.failure !== undefined) return
    this.failure = reason ?? new AppError(AppErrorCode.APP_AGENT_UNAVAILABLE, 'the guest agent client was closed')
    this.socket.destroy()
    for (const l of [...this.failListeners]) l(this.failure)
    this.resolveClosed(reason)
  }

  private unavailable (command: string): AppError {
    return new AppError(AppErrorCode.APP_AGENT_UNAVAILABLE, `the guest agent connection is closed (${command})`, { cause: this.failure })
  }
}

function timedOut (command: string, timeoutMs: number): AppError {
  return new AppError(AppErrorCode.APP_AGENT_TIMEOUT, `the guest agent did not answer ${command} within ${timeoutMs} ms`, { details: { command } })
}

function malformed (command: string, value: unknown): AppError {
  return new AppError(AppErrorCode.APP_AGENT_ERROR, `the guest agent answered ${command} with an unexpected value: ${JSON.stringify(value)?.slice(0, 80)}`, { details: { command } })
}

function expectCount (command: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw malformed(command, value)
  return value
}

