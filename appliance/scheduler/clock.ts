/**
 * Time as the scheduler sees it, passed in so tests drive it by hand
 * (test/helpers/manual-clock.ts) instead of sleeping.
 */
export interface Clock {
  /** ms since the epoch */
  now: () => number
  /** Resolves after `ms`, or at once when `ms` <= 0; rejects with `signal.reason` when the signal aborts first. */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => await new Promise<void>((resolve, reject) => {
    if (signal.aborted) { reject(signal.reason); return }
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, Math.max(0, ms))
    const onAbort = (): void => { clearTimeout(timer); reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
