import type { Codec } from '../../core/compress.ts'
import type { Manifest } from '../../core/types.ts'

/**
 * The sending side's view of one cycle's disks, declared here and
 * implemented by appliance (core's scanner over a disk view: a file, a
 * snapshot, a QEMU point-in-time export).
 */
export interface CycleSource {
  disks: Array<{ name: string, size: number, blockSize: number }>
  /**
   * Reads disk `name` and diffs it against `base`: calls `onBlocks` with the
   * changed blocks that are not all zeros, encoded, in ascending index order
   * (each call awaited before the next: a slow link slows the read), and
   * resolves to the disk's manifest and every changed index (zero blocks
   * included). The same bytes must give the same blocks and encodings, so
   * that a restarted sender cuts the same batches.
   *
   * `heal` (indices, ascending, checked against the disk's size) names
   * blocks the Replica holds damaged: they are read and passed to
   * `onBlocks` in order with the others even when they equal `base`
   * (without being listed in `changed` then), so that the Replica can
   * store them again.
   */
  scan: (name: string, base: Manifest | undefined, onBlocks: (blocks: SourceBlock[]) => Promise<void>, signal?: AbortSignal, heal?: number[]) => Promise<{ manifest: Manifest, changed: number[] }>
  /**
   * Called after the last scan, before the cycle is ended: throws when what
   * was read cannot be trusted (core's CORE_SOURCE_CHANGED: the disk was
   * written during the read). The cycle then ends without a commit.
   */
  finish?: () => Promise<void>
}

export interface SourceBlock {
  index: number
  hash: Uint8Array
  codec: Codec
  rawLength: number
  data: Uint8Array
  /**
   * Called by the sender once the Replica has acknowledged the batch that
   * carried the block as durable, never before: then no stream refers to
   * `data` any more and the source may reuse its buffer. A block whose
   * batch is not acknowledged (the cycle failed) is never released.
   */
  release?: () => void
}
