import type { PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { P2pError, P2pErrorCode } from '../errors.ts'
import type { TandemNode } from '../node/node.ts'
import { FramedStream } from '../wire/framed-stream.ts'
import { MAX_RELATIONSHIP_FRAME_BYTES, RELATIONSHIP_PROTOCOL, TIMEOUT_ANSWER_MS, TIMEOUT_CLOSE_MS } from './constants.ts'
import { decodeRelationship, encodeRelationship, type FailoverNotice, type PlannedFailover, type RelationshipDescription, type RelationshipRemoval, type RelationshipRequest, type Reversal } from './messages.ts'

export interface RelationshipRequestOptions {
  signal?: AbortSignal
  /** The wait for the Replica's answer once the request is sent; default TIMEOUT_ANSWER_MS (tests shorten it). */
  timeoutMs?: number
}

/** The peer recorded the request durably; an old primary's answer to `reverse` names where it listens (messages.ts). */
export interface RelationshipAccepted { t: 'accepted', addresses?: string[] }

/** The paired peer (the Replica, or for `failed-over` the primary): its peer id (dialled at the addresses the node knows) or its addresses. */
export type RelationshipPeer = PeerId | Multiaddr | Multiaddr[]

/*
 * The requesting side of the relationship protocol: one request per
 * stream, one answer. The primary sends offer, update, remove and
 * planned-failover; the Replica sends failed-over; a new primary sends
 * reverse. Each function resolves when the peer answered
 * `accepted` (its handler recorded the request durably) and otherwise
 * throws a P2pError whose code says why:
 * - the peer's refusal: P2P_RELATIONSHIP_REFUSED, P2P_RELATIONSHIP_UNKNOWN,
 *   P2P_STALE_TERM, P2P_FAILED_OVER, P2P_RELATIONSHIP_FAILED, or its
 *   boundary's code for a request it could not read (P2P_MESSAGE_UNKNOWN
 *   from a build that does not know the request);
 * - P2P_PEER_UNREACHABLE (no stream could be opened), P2P_VERSION_UNSUPPORTED
 *   (the peer does not serve RELATIONSHIP_PROTOCOL), P2P_STREAM_CLOSED (the
 *   link dropped, or the peer hung up: an unpaired box aborts the stream),
 *   P2P_TIMEOUT (no answer in time), P2P_ABORTED (the signal);
 * - P2P_FRAME_*, P2P_MESSAGE_*, P2P_PROTOCOL_VIOLATION for an answer that is
 *   not one.
 * After a link failure or a timeout the request may or may not have been
 * recorded: every request is whole and idempotent, so sending it again is
 * the way to know. A request this box would itself refuse at the boundary
 * is a programmer's mistake: TypeError, before anything is sent.
 */

/** Offers the relationship: the Replica protects the VM from now on. */
export async function sendOffer (node: Pick<TandemNode, 'dialProtocol'>, peer: RelationshipPeer, offer: RelationshipDescription, options: RelationshipRequestOptions = {}): Promise<RelationshipAccepted> {
  return await request(node, peer, { t: 'offer', ...offer }, options)
}

/** Sends the whole relationship again after a change (settings, suspended, the VM's shape, the term). */
export async function sendUpdate (node: Pick<TandemNode, 'dialProtocol'>, peer: RelationshipPeer, update: RelationshipDescription, options: RelationshipRequestOptions = {}): Promise<RelationshipAccepted> {
  return await request(node, peer, { t: 'update', ...update }, options)
}

/** Tells the Replica the VM is no longer protected; it keeps its recovery points until its operator removes them. */
export async function sendRemove (node: Pick<TandemNode, 'dialProtocol'>, peer: RelationshipPeer, removal: RelationshipRemoval, options: RelationshipRequestOptions = {}): Promise<RelationshipAccepted> {
  return await request(node, peer, { t: 'remove', relationship: removal.relationship, term: removal.term }, options)
}

/**
 * Sent by the Replica: it failed over the relationship at `notice.term`; the
 * primary stops acting as its primary (docs/relationship-protocol.md
 * "Failover notice"). Best effort for the Replica: the term check catches a
 * primary that never heard it.
 */
export async function sendFailedOver (node: Pick<TandemNode, 'dialProtocol'>, peer: RelationshipPeer, notice: FailoverNotice, options: RelationshipRequestOptions = {}): Promise<RelationshipAccepted> {
  return await request(node, peer, { t: 'failed-over', relationship: notice.relationship, term: notice.term, at: notice.at }, options)
}

/**
 * Sent by the primary: it shut the VM down and replicated its last changes
 * as point `planned.root`; the Replica fails over to it (docs/relationship-protocol.md
 * "Planned failover"). Resolves once the Replica recorded the failover.
 */
export async function sendPlannedFailover (node: Pick<TandemNode, 'dialProtocol'>, peer: RelationshipPeer, planned: PlannedFailover, options: RelationshipRequestOptions = {}): Promise<RelationshipAccepted> {
  return await request(node, peer, { t: 'planned-failover', relationship: planned.relationship, term: planned.term, root: planned.root }, options)
}

/**
 * Sent by a new primary (it failed over and runs the VM) to its old
 * primary: become the Replica (docs/relationship-protocol.md "Reverse").
 * Resolves once the old primary recorded it, its disk kept, with the
 * addresses it listens on (absent from an older build): the new primary
 * dials its new Replica there from then on.
 */
export async function sendReverse (node: Pick<TandemNode, 'dialProtocol'>, peer: RelationshipPeer, reversal: Reversal, options: RelationshipRequestOptions = {}): Promise<RelationshipAccepted> {
  return await request(node, peer, { t: 'reverse', ...reversal }, options)
}

const READ_CODES = { timeout: P2pErrorCode.P2P_TIMEOUT, eof: P2pErrorCode.P2P_STREAM_CLOSED }

/** Read through a function: the compiler would keep `signal.aborted` narrowed to false across awaits. */
const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true
const aborted = (signal: AbortSignal): P2pError => new P2pError(P2pErrorCode.P2P_ABORTED, 'the request was cancelled', { cause: signal.reason })

async function request (node: Pick<TandemNode, 'dialProtocol'>, peer: RelationshipPeer, m: RelationshipRequest, options: RelationshipRequestOptions): Promise<RelationshipAccepted> {
  const { signal } = options
  const timeoutMs = options.timeoutMs ?? TIMEOUT_ANSWER_MS
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new TypeError('timeoutMs must be a positive integer')
  const payload = ownRequest(m)
  if (isAborted(signal)) throw aborted(signal!)
  let stream: Stream
  try {
    stream = await node.dialProtocol(peer, RELATIONSHIP_PROTOCOL, { signal })
  } catch (err) {
    if (isAborted(signal)) throw aborted(signal!)
    if ((err as Error).name === 'UnsupportedProtocolError') throw new P2pError(P2pErrorCode.P2P_VERSION_UNSUPPORTED, `the peer does not serve ${RELATIONSHIP_PROTOCOL}`, { cause: err })
    throw new P2pError(P2pErrorCode.P2P_PEER_UNREACHABLE, 'no relationship stream to the peer could be opened', { cause: err })
  }
  // The read takes no signal: an abort ends the stream, which ends the read.
  const onAbort = (): void => { stream.abort(aborted(signal!)) }
  signal?.addEventListener('abort', onAbort)
  try {
    const io = new FramedStream(stream, MAX_RELATIONSHIP_FRAME_BYTES)
    await io.write(payload, P2pErrorCode.P2P_STREAM_CLOSED, signal)
    const answer = decodeRelationship(await io.read(timeoutMs, READ_CODES))
    if (answer.t === 'error') throw new P2pError(answer.code, `the peer refused the ${m.t}: ${answer.code}`)
    if (answer.t !== 'accepted') throw new P2pError(P2pErrorCode.P2P_PROTOCOL_VIOLATION, `an answer is accepted or error, not ${answer.t}`)
    await stream.close({ signal: AbortSignal.timeout(TIMEOUT_CLOSE_MS) }).catch(err => { stream.abort(err as Error) })
    return answer
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    if (isAborted(signal)) throw aborted(signal!)
    throw err instanceof P2pError ? err : new P2pError(P2pErrorCode.P2P_STREAM_CLOSED, 'the relationship stream failed', { cause: err })
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}

/** The request's bytes, checked by the same boundary the Replica applies: a request it would refuse is this box's bug. */
function ownRequest (m: RelationshipRequest): Uint8Array {
  const payload = encodeRelationship(m)
  try {
    decodeRelationship(payload)
  } catch (err) {
    throw new TypeError(`not a valid relationship ${m.t}: ${(err as Error).message}`)
  }
  return payload
}
