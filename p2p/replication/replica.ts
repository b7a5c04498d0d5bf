import type { Codec } from '../../core/compress.ts'
import type { Consistency, Manifest, PointDisk } from '../../core/types.ts'

/**
 * The receiving side's storage, declared here and implemented by appliance
 * over core's recovery-point store. The wire layer owns these interfaces
 * and never imports their implementation (docs/design.md, Architecture; as
 * Syncthing's lib/protocol owns the interface its sync logic implements).
 */
export interface ReplicaSink {
  /**
   * Opens `peer`'s replica of `relationship` for one session. A relationship
   * belongs to the peer that replicates it: one peer never reaches
   * another's. Waits a bounded time while another session holds it, then
   * throws P2pError P2P_RELATIONSHIP_BUSY.
   */
  open: (peer: string, relationship: string, signal?: AbortSignal) => Promise<ReplicaTarget>
}

/** A committed point as the wire sees it. */
export interface ReplicaPoint {
  root: string
  term: number
  disks: PointDisk[]
}

/** A block whose hash the receiver has checked, as stored (encoded). */
export interface VerifiedBlock {
  hash: Uint8Array
  codec: Codec
  rawLength: number
  data: Uint8Array
}

export interface ReplicaTarget {
  /**
   * Whether the primary may go on at `term` (its manifest request's or
   * cycle's): resolves when it may, and throws a P2pError to refuse,
   * P2P_STALE_TERM (the Replica holds a newer term for the relationship) or
   * P2P_FAILED_OVER (the Replica failed over the relationship). Called
   * before each manifest request and cycle of the session is served, so a
   * refusal reads and writes nothing; an implementation that writes checks
   * again when it commits (the Replica may fail over during a cycle).
   * Optional: without it only the latest point's term is checked.
   */
  admit?: (term: number) => void | Promise<void>
  /** Committed points, oldest first (empty for a new replica). */
  points: () => Promise<ReplicaPoint[]>
  /** One disk's manifest of the point with this root. */
  manifest: (pointRoot: string, disk: string) => Promise<Manifest>
  /**
   * Indices (ascending) of the blocks of one disk of the point with this
   * root whose stored copy the Replica found damaged (healing: the cycle
   * asks the primary to send them again). Optional: a target without it
   * never asks.
   */
  damagedBlocks?: (pointRoot: string, disk: string) => Promise<number[]>
  /** Reopens the durable staging of cycle `cycle` (32 hex digits), or undefined. */
  resumeStage: (cycle: string) => Promise<{ stage: ReplicaStage, progress: number, journal: Uint8Array[] } | undefined>
  /**
   * Starts staging cycle `cycle` with blocks of `blockSize` bytes, dropping
   * any other unfinished stage of this relationship. Throws P2pError
   * P2P_REPLICA_INCOMPATIBLE when the replica uses another block size.
   */
  newStage: (cycle: string, blockSize: number) => Promise<ReplicaStage>
  /**
   * Bytes free for this replica's store (its filesystem's space available
   * to this process). Optional: without it the Replica does not check free
   * space before a cycle.
   */
  freeBytes?: () => Promise<number>
  /** Ends the session and frees the relationship (after any work the commit started, such as the replica image). */
  close: () => Promise<void>
}

export interface CommitDisk {
  name: string
  manifest: Manifest
  /** The base point's manifest of this disk, when it had one. */
  base?: Manifest
  /** Indices the cycle's entries named, ascending. */
  changed: number[]
}

export interface ReplicaStage {
  /** Stages blocks already verified by the caller. */
  putBlocks: (blocks: VerifiedBlock[]) => Promise<void>
  /** Makes what was staged durable with `progress` and a journal entry; the caller acks only after it. */
  checkpoint: (progress: number, journal: Uint8Array) => Promise<void>
  /** Commits the point (one atomic batch). Returns its root. */
  commit: (point: { basePoint: string | null, disks: CommitDisk[], time: number, consistency: Consistency, consistencyNote?: string, term: number }) => Promise<{ root: string }>
  /** The link dropped: keep the durable staging for a resume. Never throws. */
  release: () => Promise<void>
  /** The peer misbehaved: drop the staging. Never throws. */
  abort: () => Promise<void>
}
