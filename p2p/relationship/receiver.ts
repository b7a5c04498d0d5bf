import type { Stream } from '@libp2p/interface'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { pairedOnly, type AdmissionPolicy } from '../gater/admission.ts'
import type { TandemNode } from '../node/node.ts'
import { FramedStream } from '../wire/framed-stream.ts'
import {
  MAX_ADDRESS_CHARS, MAX_ANSWER_ADDRESSES, MAX_INBOUND_STREAMS, MAX_RELATIONSHIP_FRAME_BYTES, RELATIONSHIP_PROTOCOL, TIMEOUT_CLOSE_MS, TIMEOUT_RECORD_MS, TIMEOUT_REQUEST_MS
} from './constants.ts'
import { decodeRelationship, encodeRelationship, type RelationshipAnswer, type RelationshipRequest } from './messages.ts'
import type { PlannedFailoverTarget } from './planned.ts'
import type { RelationshipPrimary } from './primary.ts'
import { registrarCode, type RelationshipRegistrar } from './registrar.ts'

export interface RelationshipReceiverInit {
  node: Pick<TandemNode, 'handle' | 'unhandle' | 'getMultiaddrs'>
  policy: AdmissionPolicy
  /** This box as a Replica: takes `offer`, `update` and `remove`. */
  registrar: RelationshipRegistrar
  /** This box as a primary: takes `failed-over` and `reverse`. Absent: they are answered P2P_RELATIONSHIP_UNKNOWN (this box is no primary). */
  primary?: RelationshipPrimary
  /** This box as a Replica that fails over: takes `planned-failover`. Absent: it is answered P2P_RELATIONSHIP_UNKNOWN. */
  planned?: PlannedFailoverTarget
  /** Told how each request ended (for the event log). */
  onRequest?: (event: RequestEvent) => void
  /** The request's wait (default TIMEOUT_REQUEST_MS) and the registrar's (default TIMEOUT_RECORD_MS); tests shorten them. */
  timeouts?: { requestMs?: number, recordMs?: number }
}

export interface RequestEvent {
  peer: string
  /** The request's type, once it was decoded. */
  request?: RelationshipRequest['t']
  relationship?: string
  /** What the requesting peer was answered (or, when the stream ended first, P2P_STREAM_CLOSED). */
  outcome: 'accepted' | P2pErrorCode
  /** The local failure behind a P2P_RELATIONSHIP_FAILED (a handler's error), for this box's log only. */
  cause?: unknown
}

const READ_CODES = { timeout: P2pErrorCode.P2P_TIMEOUT, eof: P2pErrorCode.P2P_STREAM_CLOSED }

/**
 * The answering side of the relationship protocol, which every box serves:
 * a primary's requests (`offer`, `update`, `remove`) go to this box's
 * registrar (this box as Replica), its `planned-failover` to the
 * PlannedFailoverTarget (this box as Replica), a Replica's `failed-over`
 * and a new primary's `reverse` to its RelationshipPrimary (this box as
 * primary); each handler checks that the
 * peer is the other side of the relationship it names. Only paired peers
 * reach it (`pairedOnly`). Each stream carries one request and gets one
 * answer: the request is read (bounded in size and time), checked at the
 * boundary, handed to its handler (bounded in time), and answered
 * `accepted` or `error` with a code; then the stream is closed. A
 * malformed, oversized, unknown or late request is answered with its code
 * and never reaches a handler. Nothing a peer sends ends the process.
 * start() registers the protocol handler, stop() removes it, ends the
 * streams being served and aborts the handler calls in flight.
 */
export class RelationshipReceiver {
  private readonly init: RelationshipReceiverInit
  private readonly requestMs: number
  private readonly recordMs: number
  private readonly active = new Set<Stream>()
  private stopping = new AbortController()

  constructor (init: RelationshipReceiverInit) {
    this.init = init
    this.requestMs = init.timeouts?.requestMs ?? TIMEOUT_REQUEST_MS
    this.recordMs = init.timeouts?.recordMs ?? TIMEOUT_RECORD_MS
    for (const ms of [this.requestMs, this.recordMs]) if (!Number.isSafeInteger(ms) || ms <= 0) throw new TypeError('timeouts must be positive integers (ms)')
  }

  async start (): Promise<void> {
    this.stopping = new AbortController()
    await this.init.node.handle(RELATIONSHIP_PROTOCOL, pairedOnly(this.init.policy, async (stream, connection) => {
      await this.serve(stream, connection.remotePeer.toString())
    }), { maxInboundStreams: MAX_INBOUND_STREAMS })
  }

  async stop (): Promise<void> {
    await this.init.node.unhandle(RELATIONSHIP_PROTOCOL)
    this.stopping.abort(new P2pError(P2pErrorCode.P2P_RELATIONSHIP_FAILED, 'the receiver is stopping'))
    for (const s of this.active) s.abort(new P2pError(P2pErrorCode.P2P_STREAM_CLOSED, 'the receiver is stopping'))
  }

  private async serve (stream: Stream, peer: string): Promise<void> {
    const io = new FramedStream(stream, MAX_RELATIONSHIP_FRAME_BYTES)
    const event: RequestEvent = { peer, outcome: P2pErrorCode.P2P_STREAM_CLOSED }
    this.active.add(stream)
    try {
      let answer: RelationshipAnswer
      try {
        const request = await readRequest(io, this.requestMs)
        event.request = request.t
        event.relationship = request.relationship
        answer = await this.record(peer, request)
          .then(() => request.t === 'reverse' ? { t: 'accepted' as const, addresses: this.listening() } : { t: 'accepted' as const }, err => {
            const code = registrarCode(err)
            if (code === P2pErrorCode.P2P_RELATIONSHIP_FAILED) event.cause = err
            return { t: 'error' as const, code }
          })
      } catch (err) {
        answer = { t: 'error', code: err instanceof P2pError ? err.code : P2pErrorCode.P2P_PROTOCOL_VIOLATION }
      }
      event.outcome = answer.t === 'accepted' ? 'accepted' : answer.code
      await endWith(io, answer)
    } finally {
      this.active.delete(stream)
      this.init.onRequest?.(event)
    }
  }

  /**
   * Where this box listens, for the answer to `reverse`: the new primary
   * dials its new Replica there from then on (messages.ts RelationshipAnswer).
   */
  private listening (): string[] {
    return this.init.node.getMultiaddrs().map(String).filter(a => a.length <= MAX_ADDRESS_CHARS).slice(0, MAX_ANSWER_ADDRESSES)
  }

  /** Hands the request to its handler, within recordMs and until stop(); rejects as the handler does, or with P2P_RELATIONSHIP_FAILED. */
  private async record (peer: string, request: RelationshipRequest): Promise<void> {
    const late = new AbortController()
    const timer = setTimeout(() => { late.abort(new P2pError(P2pErrorCode.P2P_RELATIONSHIP_FAILED, `the handler took longer than ${this.recordMs} ms`)) }, this.recordMs)
    const signal = AbortSignal.any([late.signal, this.stopping.signal])
    let work: Promise<void> | undefined
    let onAbort: (() => void) | undefined
    try {
      work = this.handle(peer, request, signal)
      // A handler that ignores the signal is not waited for: the peer hears P2P_RELATIONSHIP_FAILED.
      await Promise.race([work, new Promise<never>((_resolve, reject) => {
        onAbort = () => { reject(signal.reason) }
        if (signal.aborted) onAbort()
        else signal.addEventListener('abort', onAbort)
      })])
    } finally {
      clearTimeout(timer)
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
      work?.catch(() => {}) // settled late after an abort: already answered
    }
  }

  /** The handler's work for one request (started at once; a synchronous throw becomes a rejection). */
  private async handle (peer: string, request: RelationshipRequest, signal: AbortSignal): Promise<void> {
    const { registrar, primary, planned } = this.init
    switch (request.t) {
      case 'remove':
        return await registrar.remove(peer, { relationship: request.relationship, term: request.term }, signal)
      case 'failed-over':
        if (primary === undefined) throw new P2pError(P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN, 'this box is the primary of no relationship')
        return await primary.failedOver(peer, withoutType(request), signal)
      case 'reverse':
        if (primary === undefined) throw new P2pError(P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN, 'this box is the primary of no relationship')
        return await primary.reverse(peer, withoutType(request), signal)
      case 'planned-failover':
        if (planned === undefined) throw new P2pError(P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN, 'this box fails over no relationship')
        return await planned.plannedFailover(peer, withoutType(request), signal)
      default:
        return await registrar[request.t](peer, withoutType(request), signal)
    }
  }
}

function withoutType<T extends { t: string }> (m: T): Omit<T, 't'> {
  const { t: _t, ...rest } = m
  return rest
}

/** The one request of a stream; P2P_TIMEOUT, P2P_STREAM_CLOSED, P2P_FRAME_*, P2P_MESSAGE_*, or P2P_PROTOCOL_VIOLATION for an answer sent as a request. */
async function readRequest (io: FramedStream, timeoutMs: number): Promise<RelationshipRequest> {
  const m = decodeRelationship(await io.read(timeoutMs, READ_CODES))
  if (m.t === 'accepted' || m.t === 'error') throw new P2pError(P2pErrorCode.P2P_PROTOCOL_VIOLATION, `a stream opens with a request, not ${m.t}`)
  return m
}

/**
 * Sends the answer, then closes the stream; aborts it when either does not
 * finish within TIMEOUT_CLOSE_MS (a peer that stopped reading) or the peer
 * is gone. Anything the peer sent after its request is not read. Never throws.
 */
async function endWith (io: FramedStream, answer: RelationshipAnswer): Promise<void> {
  try {
    await io.write(encodeRelationship(answer), P2pErrorCode.P2P_STREAM_CLOSED, AbortSignal.timeout(TIMEOUT_CLOSE_MS))
    await io.stream.close({ signal: AbortSignal.timeout(TIMEOUT_CLOSE_MS) })
  } catch {
    io.stream.abort(new P2pError(answer.t === 'error' ? answer.code : P2pErrorCode.P2P_STREAM_CLOSED, 'relationship stream ended'))
  }
}
