import { open, stat, unlink, type FileHandle } from 'node:fs/promises'
import { HASH_LENGTH } from '../constants.ts'
import { CoreError, CoreErrorCode, hasCode, throwIfAborted } from '../errors.ts'
import { equalHashes, hashBlock } from '../hash.ts'
import { blockCount, blockLength } from '../manifest.ts'
import { writeBlocks } from '../restore.ts'
import type { Manifest, ProgressListener } from '../types.ts'
import { decodeRecord, encodeRecord } from './db.ts'
import { IMAGE_RANGE, imageKey } from './keys.ts'
import type { RecoveryPointStore } from './store.ts'

/**
 * The Replica keeps, per disk, a plain raw image of the latest recovery
 * point (`images/<disk>.img`), so failing over to the latest point copies
 * nothing. The image is a cache of committed data: the points stay whole in
 * the packs whatever happens to it.
 *
 * Its index record says `ready` at point P, or `updating` to point P. A
 * commit marks it `updating` in the same batch; `updateImage` then writes the
 * changed blocks, fsyncs, and marks it `ready`. After a crash in between,
 * `recoverImages` re-hashes the image and rewrites every block that differs.
 */
export interface ImageRecord {
  state: 'ready' | 'updating'
  point: number
  /**
   * When ready: the image file's size, mtime, ctime, inode and device then.
   * Anything else later means someone wrote to it, changed it or replaced
   * it: a write moves the ctime even when the size and mtime are put back
   * (the ctime cannot be set from user space), a replaced file has another
   * inode. Records written before these fields existed lack ctimeMs/ino/dev
   * and are never trusted (the image is verified once, then recorded whole).
   */
  size?: number
  mtimeMs?: number
  ctimeMs?: number
  ino?: number
  dev?: number
  /** Grows by one with every completed update of this disk's image: which write the file is. */
  generation?: number
}

/** What the file's identity says of an image, without reading it (`checkImage`). */
export type ImageStatus =
  /** `ready` at the point asked, and the file is untouched since it was written. */
  | 'ready'
  /** Not (yet) brought to that point: never built, or an update was interrupted. */
  | 'stale'
  /** Recorded ready, but the file was written, changed or replaced since (or its record is too old to tell). */
  | 'modified'
  /** Recorded, but the file is gone. */
  | 'missing'

export async function imageRecord (store: RecoveryPointStore, disk: string): Promise<ImageRecord | undefined> {
  const v = await store.db.get(imageKey(disk))
  return v === undefined ? undefined : decodeRecord<ImageRecord>(v)
}

/**
 * Pure: whether a file's stat still is what a `ready` record says. Size,
 * mtime, ctime, inode and device must all match; a record without ctime or
 * inode (an older format) never matches.
 */
export function statMatches (now: { size: number, mtimeMs: number, ctimeMs: number, ino: number, dev: number }, record: ImageRecord): boolean {
  if (record.state !== 'ready' || record.size === undefined || record.mtimeMs === undefined ||
    record.ctimeMs === undefined || record.ino === undefined || record.dev === undefined) return false
  return now.size === record.size && now.mtimeMs === record.mtimeMs && now.ctimeMs === record.ctimeMs &&
    now.ino === record.ino && now.dev === record.dev
}

/**
 * A quick check of the replica image of `disk` against point `pointId`:
 * its record and its file's identity (size, mtime, ctime, inode), no block
 * read. Only `ready` means the file can be used as the point's image as it
 * is; anything else calls for `updateImage`, which verifies and repairs.
 */
export async function checkImage (store: RecoveryPointStore, disk: string, pointId: number): Promise<ImageStatus> {
  const record = await imageRecord(store, disk)
  if (record === undefined || record.state !== 'ready' || record.point !== pointId) return 'stale'
  const now = await stat(store.imagePath(disk)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `cannot stat image ${store.imagePath(disk)}: ${err.message}`, { cause: err })
  })
  if (now === undefined) return 'missing'
  return statMatches(now, record) ? 'ready' : 'modified'
}

/** A new image's mode: what tightenModes (store-dir.ts) leaves every file of a store at. */
const IMAGE_MODE = 0o600

export interface UpdateImageOptions {
  /**
   * What the image held before (its `ready` record, read before the commit
   * turned it to `updating`) and the blocks that differ from that point.
   */
  from?: { record: ImageRecord, changed: number[] }
  signal?: AbortSignal
  onProgress?: ProgressListener
  /** Awaited after each block written (restore.ts `WriteBlocksOptions.afterBlock`). */
  afterBlock?: () => Promise<void> | void
}

export interface UpdateImageResult {
  /** Bytes of block data written into the image. */
  writtenBytes: number
  /** The image could not be trusted (new, interrupted, or changed since) and was verified block by block. */
  repaired: boolean
  /** When verified: the blocks that differed from the point and were rewritten. */
  rewrittenBlocks: number
}

/**
 * Brings `images/<disk>.img` to `pointId`. Idempotent and safe to repeat
 * after a crash. With `from` (the image was `ready` at the base point and
 * its file is untouched since) only the changed blocks are written; else
 * every block is verified and the differing ones rewritten.
 *
 * An abort (`signal`) stops it between blocks with CORE_ABORTED: every
 * moment is a safe place, since the image's record is not `ready` at this
 * point until the end, and `recoverImages` (or the next call) finishes it.
 */
export async function updateImage (store: RecoveryPointStore, disk: string, pointId: number, options: UpdateImageOptions = {}): Promise<UpdateImageResult> {
  const manifest = await store.manifest(pointId, disk)
  const before = await imageRecord(store, disk)
  const path = store.imagePath(disk)
  let handle: FileHandle
  let fresh = false
  try {
    handle = await open(path, 'r+')
  } catch {
    // Private from the start: a store's close takes group and other bits away (tightenModes), and
    // that chmod would move the ctime the `ready` record holds, so the next update would distrust
    // the image it just wrote and hash the whole disk (docs/benchmarks.md "npm run bench:failover").
    handle = await open(path, 'w+', IMAGE_MODE)
    fresh = true
  }
  try {
    // Checked before anything touches the file: ftruncate moves the mtime even to the same size.
    const trusted = !fresh && options.from !== undefined && await untouched(handle, options.from.record)
    if ((await handle.stat()).size !== manifest.size) await handle.truncate(manifest.size)
    let indices: number[]
    let repaired = false
    if (fresh) {
      indices = allBlocks(manifest)
    } else if (trusted) {
      indices = options.from!.changed
    } else {
      indices = await differingBlocks(handle, manifest, options)
      repaired = true
    }
    const rewrittenBlocks = repaired ? indices.length : 0
    const writtenBytes = await writeBlocks(store, handle, manifest, indices, {
      skipZero: fresh,
      phase: 'image',
      signal: options.signal,
      onProgress: options.onProgress,
      afterBlock: options.afterBlock
    })
    await handle.datasync()
    const done = await handle.stat()
    const record: ImageRecord = {
      state: 'ready',
      point: pointId,
      size: done.size,
      mtimeMs: done.mtimeMs,
      ctimeMs: done.ctimeMs,
      ino: done.ino,
      dev: done.dev,
      generation: (before?.generation ?? 0) + 1
    }
    await store.db.put(imageKey(disk), encodeRecord(record), { sync: true })
    return { writtenBytes, repaired, rewrittenBlocks }
  } catch (err) {
    if (err instanceof CoreError) throw err
    throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `update of image ${path} failed: ${(err as Error).message}`, { cause: err })
  } finally {
    await handle.close()
  }
}

/**
 * After a crash: every image not `ready` at the latest point is verified
 * block by block and repaired from the store; images of disks the latest
 * point does not have are deleted. Returns the disks repaired.
 *
 * An image that needs a block the store cannot read (CORE_BLOCK_CORRUPT,
 * CORE_BLOCK_MISSING: the latest point is damaged) stays `updating` and is
 * not listed: the image is only a cache, verify reports the damage, and the
 * next cycle rewrites every block that differs. Throwing here would stop
 * every open, and so every cycle that could replace the damaged point.
 */
export async function recoverImages (store: RecoveryPointStore, options: { signal?: AbortSignal, onProgress?: ProgressListener } = {}): Promise<string[]> {
  const latest = await store.latestPoint()
  const repaired: string[] = []
  const wanted = new Set(latest?.disks.map(d => d.name) ?? [])
  for await (const [key, value] of store.db.iterator(IMAGE_RANGE)) {
    const disk = key.slice('image/'.length)
    const record = decodeRecord<ImageRecord>(value)
    if (!wanted.has(disk)) {
      await unlink(store.imagePath(disk)).catch(() => {})
      await store.db.del(key, { sync: true })
      continue
    }
    if (record.state === 'ready' && record.point === latest!.id) continue
    try {
      await updateImage(store, disk, latest!.id, options)
    } catch (err) {
      if (hasCode(err, CoreErrorCode.CORE_BLOCK_CORRUPT) || hasCode(err, CoreErrorCode.CORE_BLOCK_MISSING)) continue
      throw err
    }
    repaired.push(disk)
  }
  return repaired
}

/**
 * True when the image file's identity (statMatches) is what its `ready`
 * record says: nobody (a VM booted on it by mistake, an editor) wrote to it since,
 * so writing only the changed blocks is enough. Otherwise the caller
 * verifies every block.
 */
async function untouched (handle: FileHandle, record: ImageRecord): Promise<boolean> {
  return statMatches(await handle.stat(), record)
}

function allBlocks (m: Manifest): number[] {
  return Array.from({ length: blockCount(m.size, m.blockSize) }, (_, i) => i)
}

/** Hashes the image and lists the blocks that differ from the manifest. */
async function differingBlocks (handle: FileHandle, m: Manifest, options: { signal?: AbortSignal, onProgress?: ProgressListener }): Promise<number[]> {
  const out: number[] = []
  const buf = Buffer.allocUnsafe(m.blockSize)
  const n = blockCount(m.size, m.blockSize)
  for (let i = 0; i < n; i++) {
    if (i % 256 === 0) throwIfAborted(options.signal)
    const length = blockLength(m, i)
    const { bytesRead } = await handle.read(buf, 0, length, i * m.blockSize)
    const data = buf.subarray(0, length)
    if (bytesRead < length) data.fill(0, bytesRead)
    if (!equalHashes(hashBlock(data), 0, m.hashes, i * HASH_LENGTH)) out.push(i)
    if (i % 1024 === 0) options.onProgress?.({ phase: 'image-verify', done: i * m.blockSize, total: m.size })
  }
  return out
}
