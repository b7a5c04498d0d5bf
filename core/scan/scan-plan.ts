import { SCAN_EXTENT_WINDOW_BYTES } from '../constants.ts'
import { CoreError, CoreErrorCode, throwIfAborted } from '../errors.ts'
import type { DiskView } from '../disk-view/disk-view.ts'
import type { Extent } from '../types.ts'

/**
 * A piece of a scan, in disk order: a chunk to read and hash (at most the
 * scan's chunk size, block-aligned), or a run of whole blocks the view said
 * read as zeros, which get the zero block's hash without being read.
 */
export interface ScanPiece {
  offset: number
  length: number
  zero: boolean
}

/**
 * The pieces of a scan, made a window at a time: the view is asked where
 * its data is (`DiskView.dataExtents`) for one window of the ranges to scan
 * (SCAN_EXTENT_WINDOW_BYTES), so the answer for a huge, fragmented disk is
 * never held whole. Without `dataExtents` every range is read, in the same
 * chunks as before holes were skipped.
 */
export class ScanPlan {
  private readonly view: DiskView
  private readonly ranges: Extent[]
  private readonly blockSize: number
  private readonly chunkBytes: number
  private readonly windowBytes: number
  private readonly heal: Extent[]
  private readonly askData: boolean
  private readonly queue: ScanPiece[] = []
  private range = 0
  private at: number

  /**
   * `ranges`: block-aligned, ascending, not overlapping (blockRanges).
   * `heal`: extents always read. `askData`: false to read every range whole
   * even from a view that can tell its holes.
   */
  constructor (view: DiskView, init: { ranges: Extent[], blockSize: number, chunkBytes: number, heal: Extent[], askData: boolean }) {
    this.view = view
    this.ranges = init.ranges
    this.blockSize = init.blockSize
    this.chunkBytes = init.chunkBytes
    this.windowBytes = Math.max(1, Math.floor(SCAN_EXTENT_WINDOW_BYTES / init.chunkBytes)) * init.chunkBytes
    this.heal = init.heal
    this.askData = init.askData && view.dataExtents !== undefined
    this.at = this.ranges[0]?.offset ?? 0
  }

  /** The next piece, or undefined at the end. Not to be called concurrently. */
  async next (signal?: AbortSignal): Promise<ScanPiece | undefined> {
    while (this.queue.length === 0) {
      const range = this.ranges[this.range]
      if (range === undefined) return undefined
      const end = range.offset + range.length
      const window = { offset: this.at, length: Math.min(this.windowBytes, end - this.at) }
      this.at += window.length
      if (this.at >= end) this.at = this.ranges[++this.range]?.offset ?? 0
      let data: Extent[] = [window]
      if (this.askData) {
        throwIfAborted(signal)
        data = [...await this.view.dataExtents!(window.offset, window.length, signal), ...this.heal]
      }
      this.queue.push(...windowPieces(window, data, this.view.size, this.blockSize, this.chunkBytes))
    }
    return this.queue.shift()
  }
}

/**
 * The pieces of one block-aligned window: every block that `data` touches
 * is read (a block partly in data is read whole), in chunks of at most
 * `chunkBytes` starting at each run of such blocks; the runs of blocks
 * between them are zero pieces. Data outside the window is ignored (it is
 * asked again for its own window). Pure.
 */
export function windowPieces (window: Extent, data: Extent[], size: number, blockSize: number, chunkBytes: number): ScanPiece[] {
  const end = window.offset + window.length
  const inside: Extent[] = []
  for (const e of data) {
    checkExtent(e)
    const start = Math.max(e.offset, window.offset)
    const stop = Math.min(e.offset + e.length, end)
    if (stop > start) inside.push({ offset: start, length: stop - start })
  }
  const out: ScanPiece[] = []
  let at = window.offset
  for (const r of blockRanges(inside, size, blockSize)) {
    if (r.offset > at) out.push({ offset: at, length: r.offset - at, zero: true })
    const stop = r.offset + r.length
    for (let c = r.offset; c < stop; c += chunkBytes) out.push({ offset: c, length: Math.min(chunkBytes, stop - c), zero: false })
    at = stop
  }
  if (at < end) out.push({ offset: at, length: end - at, zero: true })
  return out
}

/**
 * The block-aligned byte ranges that `extents` touch, clipped to the disk,
 * sorted and merged. Throws CORE_INVALID_ARGUMENT for a negative or
 * non-integer extent (a tracking source that misbehaves).
 */
export function blockRanges (extents: Extent[], size: number, blockSize: number): Extent[] {
  const spans: Extent[] = []
  for (const e of extents) {
    checkExtent(e)
    if (e.length === 0 || e.offset >= size) continue
    const start = Math.floor(e.offset / blockSize) * blockSize
    const end = Math.min(size, Math.ceil((e.offset + e.length) / blockSize) * blockSize)
    spans.push({ offset: start, length: end - start })
  }
  spans.sort((a, b) => a.offset - b.offset)
  const out: Extent[] = []
  for (const s of spans) {
    const last = out.at(-1)
    if (last !== undefined && s.offset <= last.offset + last.length) last.length = Math.max(last.length, s.offset + s.length - last.offset)
    else out.push({ ...s })
  }
  return out
}

/** An extent from a view (tracking, data extents) must be a byte range: CORE_INVALID_ARGUMENT otherwise. */
function checkExtent (e: Extent): void {
  if (!Number.isSafeInteger(e.offset) || !Number.isSafeInteger(e.length) || e.offset < 0 || e.length < 0) {
    throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `extent ${e.offset}+${e.length} is not a byte range`)
  }
}
