import type { Extent } from '../types.ts'

/**
 * A consistent, read-only view of one disk at one point in time.
 *
 * Contract: every read returns the bytes as they were when the view was
 * opened, or fails. A view whose source may have changed under it reports so
 * in `close()` (CORE_SOURCE_CHANGED): a caller must not commit what it read
 * from such a view. Views are not safe to close concurrently with reads.
 */
export interface DiskView {
  /** Disk size in bytes at the view's moment. */
  readonly size: number
  /**
   * Reads `length` bytes at `offset` into `into` (from its start). Reads past
   * the end are a TypeError. May be called concurrently.
   */
  read: (offset: number, length: number, into: Uint8Array, signal?: AbortSignal) => Promise<void>
  /**
   * Change tracking: the byte extents that may differ from the disk as
   * described by the manifest whose root is `baseRoot` (the base the caller
   * diffs against), or `{ untracked: why }` when the source cannot vouch for
   * that (tracking relative to another point, or in doubt): the caller then
   * compares every block by hash and records why. A file view has no
   * tracking at all; live QEMU views answer from a dirty bitmap.
   */
  changedSince?: (baseRoot: string, signal?: AbortSignal) => Promise<Extent[] | { untracked: string }>
  /**
   * Where the data is: the extents of [offset, offset + length) that may
   * hold bytes other than zero, in ascending order, not overlapping, inside
   * that range. Contract: every byte of the range NOT reported MUST read as
   * zero (so a scan gives those blocks the zero block's hash without
   * reading them); reporting zeros as data is always allowed. A view that
   * cannot tell omits the method, and is read whole. A file view answers
   * from SEEK_DATA/SEEK_HOLE, an NBD view from `base:allocation`'s
   * NBD_STATE_ZERO (docs/change-tracking.md, "Data extents").
   */
  dataExtents?: (offset: number, length: number, signal?: AbortSignal) => Promise<Extent[]>
  /**
   * For sources that worker threads can read themselves (a plain file): the
   * file descriptor, valid until close(). Lets scan workers read without a
   * copy through the main thread.
   */
  readonly fd?: number
  /** Releases the view; throws CORE_SOURCE_CHANGED if the view turned out inconsistent. */
  close: () => Promise<void>
}

/** Something a view can be opened on (a file today; a live QEMU disk later). */
export interface DiskSource {
  /** Human-readable description for messages and logs. */
  readonly description: string
  open: (signal?: AbortSignal) => Promise<DiskView>
}
