import { availableParallelism } from 'node:os'
import { Piscina } from 'piscina'
import { MAX_SPARE_RESULTS, SCAN_TASKS_PER_THREAD } from '../constants.ts'
import { decodeResult, type ScanTask, type ScanTaskResult } from './scan-task.ts'

type PiscinaTransferList = NonNullable<Parameters<Piscina['run']>[1]>['transferList']

export interface ScanPoolInit {
  /** Worker threads; default: one per core. */
  threads?: number
  /**
   * Milliseconds without a task after which the threads end, and with them
   * the result buffers kept for reuse; the next task starts them again.
   * Default: the threads start with the pool and live until `stop()` (a
   * command that scans once). A daemon that scans in bursts sets it, so
   * that between bursts it holds no thread (docs/benchmarks.md, "Memory of the daemon").
   */
  idleTimeoutMs?: number
}

/**
 * The worker threads that hash and compress blocks. Long-lived: create one,
 * share it between scans, `stop()` it last (pending tasks are rejected).
 * With `idleTimeoutMs` the threads come and go with the work; a scan never
 * sees the difference, except the start of a thread before its first task.
 */
export class ScanPool {
  readonly threads: number
  private readonly piscina: Piscina<ScanTask, ArrayBuffer>
  private readonly endsWhenIdle: boolean
  /** Result buffers given back, handed to the next tasks (at most MAX_SPARE_RESULTS). */
  private readonly spare: ArrayBuffer[] = []
  /** Callers of `idle()` waiting for the last thread to end. */
  private readonly waiting: Array<() => void> = []
  /** The last error the pool reported outside any task (see the constructor), for diagnosis. */
  lastPoolError: unknown

  constructor (init: ScanPoolInit = {}) {
    this.threads = Math.max(1, init.threads ?? availableParallelism())
    this.endsWhenIdle = init.idleTimeoutMs !== undefined
    if (this.endsWhenIdle && (!Number.isSafeInteger(init.idleTimeoutMs) || init.idleTimeoutMs! < 0)) throw new TypeError('idleTimeoutMs must be a whole number of milliseconds, 0 or more')
    this.piscina = new Piscina({
      filename: new URL('./scan-worker.ts', import.meta.url).href,
      // The worker is TypeScript: Node strips its types as it loads it (the
      // runtime the project pins does that by default; no loader needed).
      minThreads: this.endsWhenIdle ? 0 : this.threads,
      maxThreads: this.threads,
      idleTimeout: init.idleTimeoutMs ?? 30_000,
      maxQueue: this.threads * SCAN_TASKS_PER_THREAD * 4
    })
    // piscina announces a thread's end before it drops it from `threads`: look once it has.
    this.piscina.on('workerDestroy', () => { queueMicrotask(() => { this.onThreadEnded() }) })
    // The pool's own errors, tied to no task. One is a known race (piscina issues 934, 805):
    // a task aborted while its thread was posting its result, whose answer then names a task
    // the pool already dropped ("Unexpected message from Worker"). Without a listener an
    // EventEmitter's 'error' throws, which would end the daemon; every task still settles
    // on its own (its result, its abort, or its thread's exit), so the error is only kept.
    this.piscina.on('error', (err: unknown) => { this.lastPoolError = err })
  }

  /** Threads running (or starting) now: `threads` while busy; 0 before the first task and after an idle timeout. */
  get threadCount (): number {
    return this.piscina.threads.length
  }

  /** Result buffers kept for reuse now. */
  get spareCount (): number {
    return this.spare.length
  }

  /**
   * Tasks worth keeping in flight to keep every thread busy. Tasks that carry
   * data (their chunk, or compressed blocks in their result) hold memory
   * while queued: half as many of those.
   */
  concurrency (carriesData: boolean): number {
    return this.threads * (carriesData ? Math.max(1, SCAN_TASKS_PER_THREAD / 2) : SCAN_TASKS_PER_THREAD)
  }

  /** Runs one task; its result buffer may be one given back through `recycle`. */
  async run (task: ScanTask, signal?: AbortSignal): Promise<ScanTaskResult> {
    const transferList: ArrayBuffer[] = task.data !== undefined ? [task.data.buffer as ArrayBuffer] : []
    const room = this.spare.pop()
    if (room !== undefined) transferList.push(room)
    // piscina derives the type of `transferList` from MessagePort.postMessage's
    // last overload, which @types/node 26 made the options object; at run time
    // piscina requires an array (it rejects anything else), so the array goes
    // in under that type.
    const options = { transferList: transferList as unknown as PiscinaTransferList, signal }
    return decodeResult(await this.piscina.run(room === undefined ? task : { ...task, room }, options))
  }

  /**
   * Gives back a result's buffer (ScanTaskResult.buffer) for a later task
   * to write into. The caller promises that nothing refers to any view of
   * it any more: the buffer is moved to a worker thread and overwritten, or
   * freed at once. Buffers beyond MAX_SPARE_RESULTS are left to the garbage
   * collector; one given back while a pool that ends its threads has none
   * is freed (the burst it served is over).
   */
  recycle (buffer: ArrayBuffer): void {
    if (buffer.byteLength === 0 || this.spare.includes(buffer)) return
    if (this.endsWhenIdle && this.threadCount === 0) release(buffer)
    else if (this.spare.length < MAX_SPARE_RESULTS) this.spare.push(buffer)
  }

  /**
   * Frees the result buffers kept for reuse: for a caller that knows a burst
   * of scans is over (a daemon after its last running cycle), so that they
   * do not stay resident until the threads end. Scans running meanwhile
   * only lose their reuse. Idempotent.
   */
  trim (): void {
    for (const buffer of this.spare.splice(0)) release(buffer)
  }

  /**
   * Resolves once no thread runs and no buffer is kept: at once when that is
   * so, else when the idle timeout has ended the last thread. Never resolves
   * for a pool without `idleTimeoutMs` that has threads, until `stop()`.
   * The process stays alive while it waits (piscina's idle timers do not
   * hold it).
   */
  async idle (): Promise<void> {
    if (this.threadCount === 0 && this.spare.length === 0) return
    const alive = setInterval(() => {}, 2 ** 30)
    try {
      await new Promise<void>(resolve => { this.waiting.push(resolve) })
    } finally {
      clearInterval(alive)
    }
  }

  async stop (): Promise<void> {
    await this.piscina.destroy()
    this.onThreadEnded()
  }

  /** After a thread ended: once none is left, the kept buffers are freed and `idle()` resolves. */
  private onThreadEnded (): void {
    if (this.threadCount > 0) return
    this.trim()
    for (const resolve of this.waiting.splice(0)) resolve()
  }
}

/**
 * Frees a buffer's memory now rather than at some later garbage collection
 * (an idle daemon may not collect for minutes): moving its contents into an
 * empty buffer detaches it, which releases its backing store.
 */
function release (buffer: ArrayBuffer): void {
  if (!buffer.detached) buffer.transfer(0)
}
