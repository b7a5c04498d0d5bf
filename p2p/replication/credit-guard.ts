import { P2pError, P2pErrorCode } from '../errors.ts'

/** A sender that sent more than its credit allows: P2P_PROTOCOL_VIOLATION, but its verified, durable staging is kept. */
export class CreditOverrunError extends P2pError {
  constructor (message: string) {
    super(P2pErrorCode.P2P_PROTOCOL_VIOLATION, message)
    this.name = 'CreditOverrunError'
  }
}

/**
 * The Replica's side of the credit window (credit-window.ts is the
 * sender's): the Replica grants `credit` bytes of `blocks` payloads sent
 * and not yet acknowledged, and refuses a sender that goes beyond it.
 * Without this a sender that ignores acks pushes data as fast as the link
 * carries it, and the Replica buffers it all (libp2p gives no read-side
 * backpressure: docs/platform-notes.md, "libp2p 3 streams").
 *
 * The same rule as the sender's: a batch fits when what is outstanding
 * plus the batch is within the credit, or when nothing is outstanding (one
 * oversized batch at a time). The Replica counts as acknowledged only what
 * its sent acks cover; the sender can have seen no more than that, so an
 * honest sender never trips it. One cycle, one guard; not for concurrent use.
 */
export class CreditGuard {
  private readonly credit: number
  /** Payload bytes of `blocks` messages received in this cycle (this session). */
  private received = 0
  /** `received` as it was when the last ack sent was taken. */
  private acked = 0

  constructor (credit: number) {
    if (!Number.isSafeInteger(credit) || credit <= 0) throw new TypeError('credit must be a positive integer')
    this.credit = credit
  }

  /** Counts one `blocks` payload of `bytes`; throws CreditOverrunError when it exceeds the credit. */
  admit (bytes: number): void {
    const outstanding = this.received - this.acked
    if (outstanding > 0 && outstanding + bytes > this.credit) {
      throw new CreditOverrunError(`the sender has ${outstanding + bytes} bytes unacknowledged; its credit is ${this.credit}`)
    }
    this.received += bytes
  }

  /** The total to record with an ack taken now (pass it to `acknowledged` when that ack is sent). */
  get total (): number {
    return this.received
  }

  /** An ack covering `total` bytes is being sent (acks go out in order). */
  acknowledged (total: number): void {
    if (total > this.acked) this.acked = total
  }
}
