import { BlockCache } from './block-cache.ts'
import { POINT_EXPORT_CACHE_BYTES, READ_CONCURRENCY } from './constants.ts'
import { throwIfAborted } from './errors.ts'
import { blockLength, hashAt, isZeroBlock } from './manifest.ts'
import type { NbdExport, NbdExportExtent } from './nbd/index.ts'
import type { RecoveryPointStore } from './store/store.ts'

/** What a point export needs of the store: the manifest, and verified block reads. */
export type PointExportStore = Pick<RecoveryPointStore, 'manifest' | 'readBlock'>

export interface PointExportOptions {
  /** Bytes of decoded blocks kept for reads that come back to them; POINT_EXPORT_CACHE_BYTES when absent. */
  cacheBytes?: number
}

/**
 * One disk of a recovery point as a read-only NBD export
 * (docs/nbd-server.md), named after the disk. The manifest is loaded once,
 * here (CORE_POINT_NOT_FOUND, CORE_DISK_NOT_FOUND); the point must stay in
 * the store while the export is served (the caller pins it against pruning).
 *
 * read: zero blocks are zeros without a store read; every other block comes
 * through store.readBlock, which verifies it by hash (CORE_BLOCK_CORRUPT,
 * CORE_BLOCK_MISSING reject the read: no wrong byte is ever returned).
 * READ_CONCURRENCY blocks at a time; a small cache of decoded blocks serves
 * reads that come back to a block. extents: runs of zero and stored blocks.
 * Both may be called concurrently.
 */
export async function openPointExport (store: PointExportStore, pointId: number, disk: string, options: PointExportOptions = {}): Promise<NbdExport> {
  const m = await store.manifest(pointId, disk)
  const bs = m.blockSize
  const cache = new BlockCache(options.cacheBytes ?? POINT_EXPORT_CACHE_BYTES, async hash => await store.readBlock(hash))
  const checkRange = (offset: number, length: number): void => {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0 || offset + length > m.size) {
      throw new TypeError(`range [${offset}, ${offset + length}) is not within disk ${disk} (${m.size} bytes)`)
    }
  }

  const read = async (offset: number, length: number, signal: AbortSignal): Promise<Uint8Array> => {
    checkRange(offset, length)
    const out = new Uint8Array(length)
    const end = offset + length
    const last = Math.floor((end - 1) / bs)
    let next = Math.floor(offset / bs)
    let failed = false
    const worker = async (): Promise<void> => {
      while (next <= last && !failed) {
        throwIfAborted(signal)
        const i = next++
        if (isZeroBlock(m, i)) continue // already zeros in `out`
        const block = await cache.get(hashAt(m, i), blockLength(m, i))
        const start = i * bs
        const from = Math.max(offset, start)
        const to = Math.min(end, start + block.length)
        out.set(block.subarray(from - start, to - start), from - offset)
      }
    }
    const workers = Array.from({ length: Math.min(READ_CONCURRENCY, last - next + 1) }, async () => {
      try { await worker() } catch (err) { failed = true; throw err }
    })
    // Settled before rejecting, so no store read of this call outlives it.
    const results = await Promise.allSettled(workers)
    const rejected = results.find(r => r.status === 'rejected')
    if (rejected !== undefined) throw rejected.reason
    return out
  }

  const extents = async (offset: number, length: number): Promise<NbdExportExtent[]> => {
    checkRange(offset, length)
    const end = offset + length
    const out: NbdExportExtent[] = []
    for (let i = Math.floor(offset / bs); i * bs < end; i++) {
      const zero = isZeroBlock(m, i)
      const runLength = Math.min(end, (i + 1) * bs) - Math.max(offset, i * bs)
      const lastRun = out[out.length - 1]
      if (lastRun !== undefined && lastRun.zero === zero) lastRun.length += runLength
      else out.push({ length: runLength, zero })
    }
    return out
  }

  return { name: disk, size: m.size, blockSize: bs, read, extents }
}
