import { P2pError, P2pErrorCode } from '../errors.ts'

/**
 * The sender's side of the credit window: at most `credit` bytes of block
 * data may be sent and not yet acknowledged as durably staged by the
 * receiver. libp2p gives no read-side backpressure (yamux grants window on
 * arrival, not on consumption: docs/platform-notes.md), so this is what
 * bounds memory on both sides, and what limits a resend after a dropped
 * link to one window.
 *
 * `reserve(n)` waits until n more bytes fit; `acknowledge(total)` is called
 * with the receiver's running total of durable bytes and may raise or lower
 * the credit. Waiters are served in order. Not for concurrent senders of one
 * cycle (one stream, one sender).
 */
export class CreditWindow {
  private credit: number
  private sent = 0
  private acked = 0
  private readonly waiters: Array<{ bytes: number, resolve: () => void, reject: (err: unknown) => void }> = []
  /** Set by `close`: every later reservation fails with it at once. */
  private closed: { reason: unknown } | undefined

  constructor (credit: number) {
    if (!Number.isSafeInteger(credit) || credit <= 0) throw new TypeError('credit must be a positive integer')
    this.credit = credit
  }

  /** Bytes sent and not yet acknowledged. */
  get outstanding (): number {
    return this.sent - this.acked
  }

  /**
   * Resolves when `bytes` more can be sent, and counts them as sent. A
   * reservation larger than the whole credit waits until nothing is
   * outstanding (one oversized batch at a time). Rejects with P2P_ABORTED
   * when `signal` fires, and with the reason given to `close` once the
   * window is closed (also when it was closed before the call).
   */
  async reserve (bytes: number, signal?: AbortSignal): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new TypeError('bytes must be a non-negative integer')
    if (this.closed !== undefined) throw this.closed.reason
    if (signal?.aborted === true) throw aborted(signal)
    if (this.waiters.length === 0 && this.fits(bytes)) { this.sent += bytes; return }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter)
        if (i >= 0) this.waiters.splice(i, 1)
        reject(aborted(signal!))
      }
      // The listener goes when the waiter does: a long-lived signal collects none.
      const waiter = {
        bytes,
        resolve: () => { signal?.removeEventListener('abort', onAbort); resolve() },
        reject: (err: unknown) => { signal?.removeEventListener('abort', onAbort); reject(err) }
      }
      this.waiters.push(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * The receiver's acknowledgement: `total` durable bytes since the cycle
   * began (never decreasing), and optionally a new credit. A total above
   * what was sent is a protocol violation (P2P_PROTOCOL_VIOLATION).
   */
  acknowledge (total: number, credit?: number): void {
    if (!Number.isSafeInteger(total) || total < this.acked || total > this.sent) {
      throw new P2pError(P2pErrorCode.P2P_PROTOCOL_VIOLATION, `acknowledged ${total} bytes; ${this.acked} were acknowledged and ${this.sent} sent`)
    }
    if (credit !== undefined) {
      if (!Number.isSafeInteger(credit) || credit <= 0) throw new P2pError(P2pErrorCode.P2P_PROTOCOL_VIOLATION, `credit ${credit} is not a positive integer`)
      this.credit = credit
    }
    this.acked = total
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.bytes)) {
      const w = this.waiters.shift()!
      this.sent += w.bytes
      w.resolve()
    }
  }

  /**
   * The stream ended: fails every waiter and every later reservation with
   * `reason`. Only the first call's reason counts.
   */
  close (reason: unknown): void {
    this.closed ??= { reason }
    for (const w of this.waiters.splice(0)) w.reject(reason)
  }

  private fits (bytes: number): boolean {
    return this.outstanding + bytes <= this.credit || this.outstanding === 0
  }
}

const aborted = (signal: AbortSignal): P2pError => new P2pError(P2pErrorCode.P2P_ABORTED, 'the transfer was cancelled', { cause: signal.reason })
