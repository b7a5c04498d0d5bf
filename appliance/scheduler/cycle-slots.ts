/**
 * A counting semaphore shared by every relationship's schedule: at most
 * `max` cycles run at once (MAX_CONCURRENT_CYCLES). Waiters are served in
 * arrival order, so no relationship starves.
 */
export class CycleSlots {
  readonly max: number
  private running = 0
  private readonly waiting: Array<{ grant: () => void }> = []

  constructor (max: number) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError(`cycle slots must be an integer >= 1, got ${max}`)
    this.max = max
  }

  /** Cycles holding a slot now. */
  get busy (): number { return this.running }

  /**
   * Resolves with `release` (call it exactly once; later calls do nothing)
   * once a slot is free; rejects with `signal.reason` if the signal aborts
   * while waiting, and then holds no slot.
   */
  async acquire (signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) throw signal.reason
    if (this.running < this.max) { this.running++; return this.releaser() }
    return await new Promise((resolve, reject) => {
      const waiter = { grant: () => { signal.removeEventListener('abort', onAbort); resolve(this.releaser()) } }
      const onAbort = (): void => {
        const i = this.waiting.indexOf(waiter)
        if (i >= 0) this.waiting.splice(i, 1)
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiting.push(waiter)
    })
  }

  private releaser (): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.waiting.shift()
      if (next === undefined) this.running--
      else next.grant() // the slot passes straight to the next waiter
    }
  }
}
