import type { Stream } from '@libp2p/interface'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { pairedOnly, type AdmissionPolicy } from '../gater/admission.ts'
import type { TandemNode } from '../node/node.ts'
import { FRAME_HEADER_BYTES } from '../wire/frame.ts'
import { CHECKPOINT_BYTES, DEFAULT_CREDIT_BYTES, REPLICATION_PROTOCOL, TIMEOUT_CLOSE_MS, TIMEOUT_IDLE_MS } from './constants.ts'
import { sendManifests } from './manifest-exchange.ts'
import { checkHello, HELLO, isLinkFailure, ReplicationStream, violation, wireCode } from './message-stream.ts'
import { CreditGuard, CreditOverrunError } from './credit-guard.ts'
import { checkCycleRoom } from './cycle-room.ts'
import { ReceivingCycle } from './receive-cycle.ts'
import type { ReplicaSink, ReplicaTarget } from './replica.ts'

export interface ReplicationReceiverInit {
  node: TandemNode
  policy: AdmissionPolicy
  sink: ReplicaSink
  /** Credit granted to senders (bytes of unacknowledged `blocks` frames); default DEFAULT_CREDIT_BYTES. */
  credit?: number
  /**
   * Largest cycle this Replica takes: the declared sizes of its disks added
   * up. A larger one is refused with P2P_REPLICA_NO_SPACE before anything is
   * allocated. Default: only the protocol's bounds (MAX_DISK_BYTES, MAX_CYCLE_BLOCKS).
   */
  maxCycleBytes?: number
  /** Told how each session ended: 'committed', 'closed', or the error code (for the event log). */
  onSession?: (event: SessionEvent) => void
}

export interface SessionEvent {
  peer: string
  relationship?: string
  outcome: 'committed' | 'closed' | P2pErrorCode
  /** The local failure behind a P2P_REPLICA_FAILED (a store error), for the log. */
  cause?: unknown
  /** Root of the committed point. */
  root?: string
  receivedBytes: number
}

/** Sessions at once per connection: a sender runs one per relationship. */
const MAX_INBOUND_STREAMS = 8

/**
 * The Replica's side of the replication protocol. Only paired peers reach
 * it (`pairedOnly`); each stream is one session: hello, then manifest
 * requests and cycles of one relationship. A malformed, oversized or
 * out-of-order message ends that stream with its code and drops the
 * cycle's staging; a dropped link keeps the staging for a resume. Nothing
 * a peer does ends the process. start() registers the handler, stop()
 * removes it.
 */
export class ReplicationReceiver {
  private readonly init: ReplicationReceiverInit
  private readonly credit: number
  private readonly active = new Set<Stream>()

  constructor (init: ReplicationReceiverInit) {
    this.init = init
    this.credit = init.credit ?? DEFAULT_CREDIT_BYTES
    if (!Number.isSafeInteger(this.credit) || this.credit <= 0) throw new TypeError('credit must be a positive integer')
    if (init.maxCycleBytes !== undefined && (!Number.isSafeInteger(init.maxCycleBytes) || init.maxCycleBytes < 0)) throw new TypeError('maxCycleBytes must be a non-negative integer')
  }

  async start (): Promise<void> {
    await this.init.node.handle(REPLICATION_PROTOCOL, pairedOnly(this.init.policy, async (stream, connection) => {
      await this.serve(stream, connection.remotePeer.toString())
    }), { maxInboundStreams: MAX_INBOUND_STREAMS })
  }

  /** Removes the handler and ends running sessions (their staging is kept). */
  async stop (): Promise<void> {
    await this.init.node.unhandle(REPLICATION_PROTOCOL)
    for (const s of this.active) s.abort(new P2pError(P2pErrorCode.P2P_STREAM_CLOSED, 'the receiver is stopping'))
  }

  /**
   * The next message; while batches are unacknowledged and none arrives
   * within ACK_DELAY_MS, checkpoints and acks first: a sender that used up
   * its credit waits for that, whatever the credit and batch sizes.
   */
  private async nextOrAck (io: ReplicationStream, cycle: ReceivingCycle | undefined, guard: CreditGuard | undefined): ReturnType<ReplicationStream['next']> {
    if (cycle !== undefined && guard !== undefined && cycle.unacknowledged > 0) {
      try {
        return await io.next(ACK_DELAY_MS)
      } catch (err) {
        if ((err as P2pError).code !== P2pErrorCode.P2P_TIMEOUT) throw err
        this.acknowledge(io, cycle, guard)
      }
    }
    return await io.next(TIMEOUT_IDLE_MS)
  }

  /**
   * Checkpoints what the cycle holds and acks it once durable, without
   * holding up the receive loop (acks go out in order: checkpoints run in
   * order behind the staging). A failed checkpoint reaches the session
   * through the cycle's onFailure.
   */
  private acknowledge (io: ReplicationStream, cycle: ReceivingCycle, guard: CreditGuard): void {
    const total = guard.total
    void cycle.checkpoint()
      .then(async seq => {
        guard.acknowledged(total)
        await io.send({ t: 'ack', cycle: cycle.begin.cycle, seq, credit: this.credit })
      })
      .catch(() => {})
  }

  private async serve (stream: Stream, peer: string): Promise<void> {
    const io = new ReplicationStream(stream)
    const event: SessionEvent = { peer, outcome: 'closed', receivedBytes: 0 }
    let target: ReplicaTarget | undefined
    let cycle: ReceivingCycle | undefined
    let guard: CreditGuard | undefined
    this.active.add(stream)
    try {
      checkHello(await io.expect('hello'))
      await io.send(HELLO)
      /** The session's target, once the Replica admits the primary's term for this exchange (ReplicaTarget.admit). */
      const openTarget = async (relationship: string, term: number): Promise<ReplicaTarget> => {
        if (event.relationship !== undefined && event.relationship !== relationship) throw violation('one session serves one relationship')
        event.relationship = relationship
        target ??= await this.init.sink.open(peer, relationship)
        await target.admit?.(term)
        return target
      }
      for (;;) {
        let next
        try {
          next = await this.nextOrAck(io, cycle, guard)
        } catch (err) {
          // The sender closing between exchanges is the normal end of a session.
          if (cycle === undefined && (err as P2pError).code === P2pErrorCode.P2P_STREAM_CLOSED) break
          throw err
        }
        const { message: m, frameBytes } = next
        if (m.t === 'keepalive') continue
        if (cycle === undefined) {
          if (m.t === 'manifest-request') {
            await sendManifests(io, await openTarget(m.relationship, m.term))
          } else if (m.t === 'cycle-begin') {
            const replica = await openTarget(m.relationship, m.term)
            await checkCycleRoom(m.disks, replica, this.init.maxCycleBytes)
            cycle = await ReceivingCycle.open(replica, m)
            // Store work runs behind the loop: its failure ends the stream at once, and the catch below reports it.
            cycle.onFailure = err => { void io.fail(wireCode(err)) }
            guard = new CreditGuard(this.credit)
            const heal = cycle.heal.length > 0 ? { heal: cycle.heal } : {}
            await io.send({ t: 'cycle-accept', cycle: m.cycle, resumeAfter: cycle.resumeAfter, credit: this.credit, ...heal })
          } else {
            throw violation(`${m.t} outside a cycle`)
          }
          continue
        }
        if (m.t === 'blocks') {
          guard!.admit(frameBytes - FRAME_HEADER_BYTES)
          await cycle.receive(m, frameBytes)
          // The checkpoint runs behind the loop, so receiving and verifying the next batches overlaps its fsync.
          if (cycle.unacknowledged >= Math.min(CHECKPOINT_BYTES, this.credit / 2)) this.acknowledge(io, cycle, guard!)
        } else if (m.t === 'cycle-end') {
          const root = await cycle.end(m)
          cycle = undefined
          guard = undefined
          event.outcome = 'committed'
          event.root = root
          await io.send({ t: 'committed', cycle: m.cycle, root })
        } else {
          throw violation(`${m.t} inside a cycle`)
        }
      }
      // The sender closed its side: close ours too, so that the stream ends and stops
      // counting against MAX_INBOUND_STREAMS (half-open, the ninth session was refused).
      await stream.close({ signal: AbortSignal.timeout(TIMEOUT_CLOSE_MS) }).catch(err => { stream.abort(err as Error) })
    } catch (err) {
      const code = wireCode(cycle?.failure ?? err)
      event.outcome = code
      if (code === P2pErrorCode.P2P_REPLICA_FAILED) event.cause = cycle?.failure ?? err
      // The peer hears the code at once, not after the store work queued behind the loop (a slow fsync).
      const told = code === P2pErrorCode.P2P_STREAM_CLOSED ? undefined : io.fail(code)
      // A sender that overran its credit sent nothing unverified: what it staged durably is kept for a resume.
      await cycle?.stop(isLinkFailure(code) || err instanceof CreditOverrunError)
      await told
    } finally {
      this.active.delete(stream)
      // The store's own failure to close is the Replica's problem, reported with the session, never the peer's.
      await target?.close().catch(err => { event.cause ??= err })
      event.receivedBytes = io.receivedBytes
      this.init.onSession?.(event)
    }
  }
}

/** How long the Replica waits for more blocks before it acknowledges what it holds (a blocked sender sends no more). */
const ACK_DELAY_MS = 20
