/**
 * Errors raised by p2p/ (pairing, and later the node and the replication
 * protocol). Stable upper-case codes, listed in docs/errors.md; across the
 * wire only the code travels.
 */
import { TandemError, type TandemErrorOptions } from '../core/errors.ts'

export const P2pErrorCode = {
  /**
   * The peer's PAKE share is not a valid group element encoding, or the shared
   * point is the neutral element. The pairing attempt must be aborted; it counts
   * as a failed attempt.
   */
  P2P_PAKE_INVALID_SHARE: 'P2P_PAKE_INVALID_SHARE',
  /** The identity key file exists but is not Ed25519, too large, or readable by others: never silently replaced. (Damage: P2P_IDENTITY_DAMAGED.) */
  P2P_IDENTITY_INVALID: 'P2P_IDENTITY_INVALID',
  /** A frame on the wire announced more bytes than the protocol allows. The stream is ended. */
  P2P_FRAME_TOO_LARGE: 'P2P_FRAME_TOO_LARGE',
  /** A frame on the wire announced zero bytes. The stream is ended. */
  P2P_FRAME_EMPTY: 'P2P_FRAME_EMPTY',
  /** A peer that is not paired tried to open a protocol other than pairing. The stream is aborted. */
  P2P_NOT_PAIRED: 'P2P_NOT_PAIRED',
  /** Pairing refused: no window is open, it expired, it closed after too many failed attempts, or it was used. */
  P2P_PAIRING_CLOSED: 'P2P_PAIRING_CLOSED',
  /** Pairing refused: another attempt is in progress on this window. */
  P2P_PAIRING_BUSY: 'P2P_PAIRING_BUSY',
  /** A QR pairing invite is malformed, of another version, or carries bad fields. */
  P2P_INVITE_INVALID: 'P2P_INVITE_INVALID',
  /** A pairing message is malformed, oversized or out of order. The attempt fails and counts. */
  P2P_PAIRING_MALFORMED: 'P2P_PAIRING_MALFORMED',
  /** Key confirmation failed: a wrong PIN or QR secret, or a relay in the middle. The attempt counts as failed. */
  P2P_PAIRING_FAILED: 'P2P_PAIRING_FAILED',
  /** The other box did not answer a pairing step in time. */
  P2P_PAIRING_TIMEOUT: 'P2P_PAIRING_TIMEOUT',
  /** A replication message is not msgpack, not a map, or has a field of the wrong type or out of bounds. The stream is ended. */
  P2P_MESSAGE_MALFORMED: 'P2P_MESSAGE_MALFORMED',
  /** A replication message of a type this protocol version does not know. The stream is ended. */
  P2P_MESSAGE_UNKNOWN: 'P2P_MESSAGE_UNKNOWN',
  /** A well-formed message that breaks the protocol: out of order, acknowledging more than was sent, a wrong cycle. The stream is ended. */
  P2P_PROTOCOL_VIOLATION: 'P2P_PROTOCOL_VIOLATION',
  /** The peers share no protocol version. The stream is ended. */
  P2P_VERSION_UNSUPPORTED: 'P2P_VERSION_UNSUPPORTED',
  /**
   * A cycle, manifest request or relationship request from a primary whose
   * term is older than the one the Replica holds (its record of the
   * relationship, or its latest point): a stale primary cannot replicate over
   * newer data. Nothing changed; the primary stops replicating that relationship.
   */
  P2P_STALE_TERM: 'P2P_STALE_TERM',
  /**
   * The Replica failed over this relationship (it runs the VM from its own
   * copy, completed that failover, or became the relationship's primary):
   * nothing the old primary sends is written there. Nothing changed; the
   * primary stops replicating that relationship.
   */
  P2P_FAILED_OVER: 'P2P_FAILED_OVER',
  /** The replica does not hold the point the sender diffed against: the sender must fetch the replica's manifests and resynchronize. */
  P2P_RESYNC_REQUIRED: 'P2P_RESYNC_REQUIRED',
  /** A received block's bytes do not decode to its length or do not hash to its hash. The cycle's staging is dropped. */
  P2P_BLOCK_HASH_MISMATCH: 'P2P_BLOCK_HASH_MISMATCH',
  /** The manifest rebuilt from the base and the received blocks does not have the root the sender announced (blocks missing). Nothing is committed. */
  P2P_ROOT_MISMATCH: 'P2P_ROOT_MISMATCH',
  /** Another session of the same relationship is running on the replica; retry later. */
  P2P_RELATIONSHIP_BUSY: 'P2P_RELATIONSHIP_BUSY',
  /** The replica cannot take this cycle: it uses another block size. */
  P2P_REPLICA_INCOMPATIBLE: 'P2P_REPLICA_INCOMPATIBLE',
  /** The replica's store failed (a full disk, an I/O error); its staging is kept for a resume. */
  P2P_REPLICA_FAILED: 'P2P_REPLICA_FAILED',
  /** The peer did not send its next message in time. The stream is ended; a cycle resumes on the next one. */
  P2P_TIMEOUT: 'P2P_TIMEOUT',
  /** The stream or connection ended before the exchange finished (a dropped link). A cycle resumes on the next one. */
  P2P_STREAM_CLOSED: 'P2P_STREAM_CLOSED',
  /** The transfer was cancelled through its AbortSignal. */
  P2P_ABORTED: 'P2P_ABORTED',
  /** This box's own name is empty, longer than 64 characters, or holds a control, bidi-formatting or line-separator character (p2p/pairing/box-name.ts). */
  P2P_BOX_NAME_INVALID: 'P2P_BOX_NAME_INVALID',
  /** Pairing: no box answers at the address (nothing listens, or it cannot be reached). */
  P2P_PAIRING_UNREACHABLE: 'P2P_PAIRING_UNREACHABLE',
  /** The replica refuses a cycle before allocating anything: its disks exceed the Replica's configured maximum, or their manifests alone exceed the free space of its store. */
  P2P_REPLICA_NO_SPACE: 'P2P_REPLICA_NO_SPACE',
  /** The identity key file is damaged: its checksum does not match, it does not decode, or its public key is not its private key's. Never silently replaced. */
  P2P_IDENTITY_DAMAGED: 'P2P_IDENTITY_DAMAGED',
  /** The Replica refuses a relationship offer: it holds that relationship id for another peer, or its policy does not take what was offered. Nothing changed. */
  P2P_RELATIONSHIP_REFUSED: 'P2P_RELATIONSHIP_REFUSED',
  /** An update or removal of a relationship the Replica does not hold for this peer. Nothing changed; a removal may take it as done. */
  P2P_RELATIONSHIP_UNKNOWN: 'P2P_RELATIONSHIP_UNKNOWN',
  /** The Replica could not record a relationship request (its disk failed, or it took too long). Retry; requests are whole and idempotent. */
  P2P_RELATIONSHIP_FAILED: 'P2P_RELATIONSHIP_FAILED',
  /** No stream to the peer could be opened: it cannot be reached, or it hung up (a box that does not hold this one as paired cuts it off). */
  P2P_PEER_UNREACHABLE: 'P2P_PEER_UNREACHABLE',
  /**
   * The old primary refuses to become the Replica (`reverse`): its copy of
   * the VM runs (or a process holds its disks), and the request did not ask
   * to stop it. Nothing changed on it.
   */
  P2P_VM_RUNNING: 'P2P_VM_RUNNING',
  /**
   * The Replica does not take a planned failover: its latest point is not the
   * one the primary named, its state or its box cannot fail the VM over (a
   * test runs, a missing kernel, a VM of that name). Nothing changed on it;
   * its event log says why.
   */
  P2P_FAILOVER_REFUSED: 'P2P_FAILOVER_REFUSED'
} as const

export type P2pErrorCode = typeof P2pErrorCode[keyof typeof P2pErrorCode]

/** A p2p error: a TandemError (core/errors.ts) with a P2P_* code. */
export class P2pError extends TandemError {
  declare readonly code: P2pErrorCode
  constructor (code: P2pErrorCode, message: string, options: TandemErrorOptions = {}) {
    super(code, message, options)
    this.name = 'P2pError'
  }
}
