import { availableParallelism } from 'node:os'
import { Piscina } from 'piscina'
import { MAX_SPARE_RESULTS, SCAN_TASKS_PER_THREAD } from '../constants.ts'
import { decodeResult, type ScanTask, type ScanTaskResult } from './scan-task.ts'

type PiscinaTransferList = NonNullable<Parameters<Piscina['run']>[1]>['transferList']

export interface ScanPoolInit {
  /** Worker threads; default: one per core. */
  threads?: number
}

/**
 * The worker threads that hash and compress blocks. Long-lived: create one,
 * share it between scans, `stop()` it last (pending tasks are rejected).
 */
export class ScanPool {
  readonly threads: number
  private readonly piscina: Piscina<ScanTask, ArrayBuffer>
  /** Result buffers given back, handed to the next tasks (at most MAX_SPARE_RESULTS). */
  private readonly spare: ArrayBuffer[] = []

  constructor (init: ScanPoolInit = {}) {
    this.threads = Math.max(1, init.threads ?? availableParallelism())
    this.piscina = new Piscina({
      filename: new URL('./scan-worker.ts', import.meta.url).href,
      // The worker is TypeScript: Node strips its types as it loads it (the
      // runtime the project pins does that by default; no loader needed).
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 30_000,
      maxQueue: this.threads * SCAN_TASKS_PER_THREAD * 4
    })
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
   * it any more: the buffer is moved to a worker thread and overwritten.
   * Buffers beyond MAX_SPARE_RESULTS are left to the garbage collector.
   */
  recycle (buffer: ArrayBuffer): void {
    if (buffer.byteLength > 0 && this.spare.length < MAX_SPARE_RESULTS && !this.spare.includes(buffer)) this.spare.push(buffer)
  }

  async stop (): Promise<void> {
    await this.piscina.destroy()
  }
}
