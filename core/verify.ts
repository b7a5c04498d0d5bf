import { READ_CONCURRENCY } from './constants.ts'
import { CoreError, CoreErrorCode, hasCode, throwIfAborted } from './errors.ts'
import { FileDiskSource } from './disk-view/file-disk-view.ts'
import { toHex } from './hash.ts'
import { blockCount, hashAt, isZeroBlock } from './manifest.ts'
import { scanDisk } from './scan/scanner.ts'
import type { ScanPool } from './scan/scan-pool.ts'
import { recordBadBlocks } from './store/bad-blocks.ts'
import type { RecoveryPointStore } from './store/store.ts'
import type { ProgressListener } from './types.ts'

/** Most problems a verify lists; past this it only counts. */
export const MAX_REPORTED_PROBLEMS = 32

/** Bad blocks verify records in one index batch. */
const RECORD_BATCH = 4096

export interface BlockProblem {
  disk: string
  block: number
  offset: number
  code: string
}

export interface VerifyReport {
  ok: boolean
  checkedBlocks: number
  badBlocks: number
  /** The first differing blocks (up to MAX_REPORTED_PROBLEMS), in disk order. */
  problems: BlockProblem[]
}

export interface VerifyOptions {
  signal?: AbortSignal
  onProgress?: ProgressListener
  /**
   * verifyPoint records the bad blocks it finds in the store (`bad/` keys,
   * for healing by the next cycle); default true. False leaves the store
   * untouched (a store opened read-only).
   */
  record?: boolean
  /**
   * Receives the bad blocks found, a batch at a time, instead of the store:
   * when given, verifyPoint writes nothing (a caller on a read-only store
   * records them later through a writable one).
   */
  onDamaged?: (blocks: DamagedBlock[]) => Promise<void> | void
}

/** A block verify found bad: its hex hash and verify's code. */
export interface DamagedBlock {
  hash: string
  code: string
}

/**
 * Re-reads every stored block of a recovery point from the packs, decodes it
 * and re-hashes it. Problems carry CORE_BLOCK_CORRUPT, CORE_BLOCK_MISSING or
 * CORE_CODEC_FAILED. Never throws for bad blocks: it reports them, and
 * (unless `record` is false) records every one of them in the store, so
 * that the next cycle whose source still holds that content heals it.
 */
export async function verifyPoint (store: RecoveryPointStore, pointId: number, options: VerifyOptions = {}): Promise<VerifyReport> {
  const point = await store.getPoint(pointId)
  const report: VerifyReport = { ok: true, checkedBlocks: 0, badBlocks: 0, problems: [] }
  const damaged: DamagedBlock[] = []
  const keep = async (blocks: DamagedBlock[]): Promise<void> => {
    if (options.onDamaged !== undefined) await options.onDamaged(blocks)
    else if (options.record !== false) await recordBadBlocks(store, blocks)
  }
  for (const d of point.disks) {
    const m = await store.manifest(pointId, d.name)
    const n = blockCount(m.size, m.blockSize)
    const bad: BlockProblem[] = []
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < n) {
        throwIfAborted(options.signal)
        const i = next++
        report.checkedBlocks++
        if (isZeroBlock(m, i)) continue
        try {
          await store.readBlock(hashAt(m, i))
        } catch (err) {
          if (!(err instanceof CoreError)) throw err
          bad.push({ disk: d.name, block: i, offset: i * m.blockSize, code: err.code })
          damaged.push({ hash: toHex(hashAt(m, i)), code: err.code })
          // Recorded as found, a batch at a time: a store with millions of bad blocks never holds them all here.
          if (damaged.length >= RECORD_BATCH) await keep(damaged.splice(0))
        }
        if (i % 1024 === 0) options.onProgress?.({ phase: `verify ${d.name}`, done: i * m.blockSize, total: m.size })
      }
    }
    await Promise.all(Array.from({ length: READ_CONCURRENCY }, worker))
    bad.sort((a, b) => a.block - b.block)
    record(report, bad)
  }
  if (damaged.length > 0) await keep(damaged)
  return report
}

/**
 * Hashes an image file (a replica image or a restored one) and compares it
 * with one disk of a recovery point. A different size is reported as
 * CORE_IMAGE_MISMATCH on the blocks past the shorter end.
 */
export async function verifyImage (store: RecoveryPointStore, pointId: number, disk: string, path: string, pool: ScanPool, options: VerifyOptions = {}): Promise<VerifyReport> {
  const m = await store.manifest(pointId, disk)
  const view = await new FileDiskSource(path).open(options.signal)
  let result
  try {
    result = await scanDisk(view, { pool, blockSize: m.blockSize, base: m, signal: options.signal, onProgress: options.onProgress })
  } finally {
    await view.close().catch((err: unknown) => { if (!hasCode(err, CoreErrorCode.CORE_SOURCE_CHANGED)) throw err })
  }
  const differing = new Set(result.changed)
  // Blocks of the point past the image's end are missing from the image.
  for (let i = blockCount(view.size, m.blockSize); i < blockCount(m.size, m.blockSize); i++) differing.add(i)
  const problems = [...differing].sort((a, b) => a - b).map(i => ({ disk, block: i, offset: i * m.blockSize, code: CoreErrorCode.CORE_IMAGE_MISMATCH }))
  const report: VerifyReport = { ok: true, checkedBlocks: blockCount(m.size, m.blockSize), badBlocks: 0, problems: [] }
  record(report, problems)
  return report
}

function record (report: VerifyReport, bad: BlockProblem[]): void {
  report.badBlocks += bad.length
  if (bad.length > 0) report.ok = false
  report.problems.push(...bad.slice(0, MAX_REPORTED_PROBLEMS - report.problems.length))
}
