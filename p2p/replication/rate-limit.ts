import { setTimeout as sleepTimer } from 'node:timers/promises'
import { P2pError, P2pErrorCode } from '../errors.ts'

export interface RateLimitInit {
  /** Bytes per second; 0 means unlimited. */
  bytesPerSecond: number
  /** Bytes that may go at once after a pause; default a quarter second's worth, at least `minBurst`. */
  burstBytes?: number
  /** The smallest useful burst: one full batch, so a batch never waits forever. */
  minBurst: number
  /** Clock and sleep, injected so tests are deterministic. */
  now?: () => number
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

/**
 * The per-peer bandwidth limit (a token bucket): `take(n)` resolves when n
 * bytes may be sent without the average exceeding `bytesPerSecond`. Safe for
 * one sender at a time per limiter; share one limiter per peer so that all
 * of a peer's cycles together respect the limit.
 */
export class RateLimiter {
  private readonly rate: number
  private readonly burst: number
  private readonly now: () => number
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>
  private tokens: number
  private last: number

  constructor (init: RateLimitInit) {
    if (!Number.isFinite(init.bytesPerSecond) || init.bytesPerSecond < 0) throw new TypeError('bytesPerSecond must be >= 0')
    this.rate = init.bytesPerSecond
    this.burst = Math.max(init.minBurst, init.burstBytes ?? Math.floor(init.bytesPerSecond / 4))
    this.now = init.now ?? (() => performance.now())
    this.sleep = init.sleep ?? (async (ms, signal) => { await sleepTimer(ms, undefined, signal === undefined ? undefined : { signal }) })
    this.tokens = this.burst
    this.last = this.now()
  }

  get unlimited (): boolean {
    return this.rate === 0
  }

  /** Waits until `bytes` may be sent, then spends them. Rejects with P2P_ABORTED on abort. */
  async take (bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.rate === 0) return
    if (bytes > this.burst) throw new TypeError(`a send of ${bytes} bytes exceeds the burst of ${this.burst}`)
    for (;;) {
      if (signal?.aborted === true) throw new P2pError(P2pErrorCode.P2P_ABORTED, 'the transfer was cancelled', { cause: signal.reason })
      this.refill()
      if (this.tokens >= bytes) { this.tokens -= bytes; return }
      const waitMs = Math.ceil((bytes - this.tokens) / this.rate * 1000)
      try {
        await this.sleep(waitMs, signal)
      } catch (err) {
        throw new P2pError(P2pErrorCode.P2P_ABORTED, 'the transfer was cancelled', { cause: err })
      }
    }
  }

  private refill (): void {
    const t = this.now()
    this.tokens = Math.min(this.burst, this.tokens + (t - this.last) / 1000 * this.rate)
    this.last = t
  }
}
