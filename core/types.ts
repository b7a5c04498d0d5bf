/**
 * The domain vocabulary of Tandem. Every folder imports its words from here.
 * Nothing in this file does I/O.
 */

/** A BLAKE3-256 digest of one block's bytes (exactly HASH_LENGTH bytes). */
export type BlockHash = Uint8Array

/** Whether a recovery point was taken with the guest quiesced. */
export type Consistency = 'crash' | 'app'

/** A byte range of a disk. */
export interface Extent {
  offset: number
  length: number
}

/**
 * The block hashes of one disk at one moment: block i covers bytes
 * [i * blockSize, min((i + 1) * blockSize, size)). The last block may be
 * partial; its hash is over its real length. `hashes` holds the digests back to back.
 */
export interface Manifest {
  size: number
  blockSize: number
  hashes: Uint8Array
}

/** One disk of a recovery point, as recorded in the store. */
export interface PointDisk {
  name: string
  size: number
  blockSize: number
  /** Root hash of the disk's manifest, hex. */
  root: string
}

/** A committed, verified point-in-time image of all of a VM's disks. */
export interface RecoveryPoint {
  /** Store-local sequence number, increasing with each commit. */
  id: number
  /** Commit time, milliseconds since the epoch (the cycle's snapshot time). */
  time: number
  consistency: Consistency
  /** Why a point is crash-consistent when app-consistency was asked for. */
  consistencyNote?: string
  disks: PointDisk[]
  /**
   * The relationship's term when the point was made (points received from a
   * primary): a replica refuses cycles from a primary with an older term.
   */
  term?: number
  /** Root hash over the disks' roots, hex. */
  root: string
}

/** States of a replication relationship (Hyper-V's names). */
export type RelationshipState =
  | 'not-enabled'
  | 'waiting-initial-replication'
  | 'replicating'
  | 'suspended'
  | 'resynchronization-required'
  | 'resynchronizing'
  | 'prepared-for-planned-failover'
  | 'failed-over-waiting-completion'
  | 'failed-over'
  | 'error'

export type Health = 'normal' | 'warning' | 'critical'

/** Progress of long work: bytes done out of bytes total. */
export interface Progress {
  phase: string
  done: number
  total: number
}

export type ProgressListener = (progress: Progress) => void
