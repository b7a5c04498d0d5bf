import { Blake3Hasher } from '@napi-rs/blake-hash'
import { open, type FileHandle } from 'node:fs/promises'
import { Codec } from '../compress.ts'
import { HASH_LENGTH } from '../constants.ts'
import { CoreError, CoreErrorCode, throwIfAborted } from '../errors.ts'
import { equalHashes, zeroHash } from '../hash.ts'
import { blockCount, blockLength, checkBlockSize, checkManifest, diskRoot, encodeManifest, isZeroBlock, pointRoot } from '../manifest.ts'
import { checkOutput, writeOutputFile } from '../output-file.ts'
import type { ChangedBlock } from '../scan/scanner.ts'
import type { Consistency, Manifest, ProgressListener } from '../types.ts'
import { encodeHead, encodeRecordHeader, encodeTrailer, hashKey, manifestBytes, maxStoredLength, type SeedHeaderRecord, type SeedOrigin } from './seed-format.ts'
import { SeedWriter, WRITE_BUFFER_BYTES, wrapWrite } from './seed-writer.ts'

/**
 * One non-zero block of a scan, encoded: the scanner's ChangedBlock, whose
 * `release` writeSeed calls once the block is written (or skipped).
 */
export type SeedBlock = Omit<ChangedBlock, 'release'> & { release?: () => void }

export interface WriteSeedInit {
  blockSize: number
  /** ms since epoch, the point's snapshot time. */
  time: number
  consistency: Consistency
  consistencyNote?: string
  origin?: SeedOrigin
  /** In point order. */
  disks: Array<{ name: string, size: number }>
  /**
   * Reads disk `name` whole: calls onBlocks with its non-zero blocks,
   * encoded, ascending index (each call awaited), resolves to its manifest.
   * An error onBlocks throws must end the scan and be rethrown.
   */
  scan: (name: string, onBlocks: (blocks: SeedBlock[]) => Promise<void>, signal?: AbortSignal) => Promise<Manifest>
}

export interface WriteSeedOptions {
  force?: boolean
  signal?: AbortSignal
  onProgress?: ProgressListener
}

export interface WriteSeedResult {
  /** File size. */
  bytes: number
  /** Block records written. */
  blocks: number
  /** pointRoot of the disks, hex. */
  root: string
  disks: Array<{ name: string, size: number, root: string }>
}

/**
 * Writes a seed (docs/seed-format.md) of disks read once, by `init.scan`,
 * with no store: what a primary box exports for initial replication.
 *
 * One pass: the head's and manifests' lengths depend only on what is known
 * before the scan, so block records are written from their final offset as
 * the scan delivers them (canonical order: disks in order, ascending index,
 * each hash at its first reference, no zero block). Once every disk is
 * scanned, the records are checked against the manifests the scan returned
 * (CORE_SOURCE_CHANGED when they differ: blocks the manifests do not
 * reference, or missing ones - a source that changed or a scanner bug; never
 * a bad seed); then the head and manifests are written at the start, the
 * file is read back to compute the trailer's BLAKE3, and the trailer ends it.
 * The blocks' hashes are the scan's; the importer re-hashes every block.
 *
 * `path` is absent or a complete seed (`<path>.partial`, fsync, rename).
 * Throws CORE_OUTPUT_EXISTS unless `force`, CORE_INVALID_ARGUMENT when the
 * point cannot be written in the format, CORE_ABORTED, CORE_WRITE_FAILED,
 * and whatever `scan` throws. Memory: the manifests, one key per distinct
 * block, one write buffer; never a disk.
 */
export async function writeSeed (path: string, init: WriteSeedInit, options: WriteSeedOptions = {}): Promise<WriteSeedResult> {
  checkBlockSize(init.blockSize)
  const { signal } = options
  const head: Omit<SeedHeaderRecord, 'disks' | 'root'> = {
    blockSize: init.blockSize,
    time: init.time,
    consistency: init.consistency,
    ...(init.consistencyNote === undefined ? {} : { consistencyNote: init.consistencyNote }),
    origin: init.origin ?? null
  }
  // Roots have a fixed size: the head encoded with placeholders has its final
  // length, and encoding it checks every field before a file exists.
  const placeholder = '00'.repeat(HASH_LENGTH)
  const headBytes = encodeHead({ ...head, disks: init.disks.map(d => ({ ...d, root: placeholder })), root: placeholder }).byteLength
  const blocksStart = init.disks.reduce((n, d) => n + manifestBytes(d.size, init.blockSize), headBytes)
  await checkOutput(path, options.force)
  throwIfAborted(signal)

  return await writeOutputFile(path, async (handle, partial) => {
    const records = new RecordWriter(new SeedWriter(handle, partial, { offset: blocksStart, hash: false }), init, options)
    const manifests: Manifest[] = []
    for (const d of init.disks) {
      const m = await init.scan(d.name, async blocks => { await records.add(d, blocks) }, signal)
      records.checkDisk(d, m)
      manifests.push(m)
    }
    await records.flush()
    throwIfAborted(signal)

    const disks = init.disks.map((d, i) => ({ name: d.name, size: d.size, root: diskRoot(manifests[i]!) }))
    const root = pointRoot(disks)
    const front = new SeedWriter(handle, partial, { hash: false })
    await front.write(encodeHead({ ...head, disks, root }))
    for (const m of manifests) await front.write(encodeManifest(m))
    await front.flush()
    if (front.position !== blocksStart) throw new TypeError(`seed head and manifests took ${front.position} bytes, ${blocksStart} were reserved`)
    const digest = await hashBack(partial, records.end, signal)
    const tail = new SeedWriter(handle, partial, { offset: records.end, hash: false })
    await tail.write(encodeTrailer(records.count, digest))
    await tail.flush()
    return { bytes: tail.position, blocks: records.count, root, disks }
  })
}

/**
 * Writes the block records as the scan delivers them, skipping zero blocks
 * and hashes already written, and checks each disk's records against its
 * manifest once the disk is scanned.
 */
class RecordWriter {
  private readonly out: SeedWriter
  private readonly blockSize: number
  private readonly signal: AbortSignal | undefined
  private readonly onProgress: ProgressListener | undefined
  private readonly total: number
  /** Hash key -> ordinal of its record, in write order: the seen-set of the canonical order. */
  private readonly ordinals = new Map<string, number>()
  /** Raw length of each record, by ordinal. */
  private readonly rawLengths: number[] = []
  /** Records whose first reference a manifest has confirmed. */
  private confirmed = 0
  /** Raw bytes of the disks before the one being scanned. */
  private doneBefore = 0

  constructor (out: SeedWriter, init: WriteSeedInit, options: WriteSeedOptions) {
    this.out = out
    this.blockSize = init.blockSize
    this.signal = options.signal
    this.onProgress = options.onProgress
    this.total = init.disks.reduce((n, d) => n + d.size, 0)
  }

  get count (): number { return this.ordinals.size }

  /** File offset after the last record. */
  get end (): number { return this.out.position }

  /** Writes the blocks not written yet; each block is released once written or skipped. */
  async add (disk: { name: string, size: number }, blocks: SeedBlock[]): Promise<void> {
    throwIfAborted(this.signal)
    for (const b of blocks) {
      if (b.hash.byteLength !== HASH_LENGTH || (b.codec !== Codec.RAW && b.codec !== Codec.ZSTD) ||
        b.data.byteLength > maxStoredLength(b.rawLength) || (b.codec === Codec.RAW && b.data.byteLength !== b.rawLength)) {
        throw new TypeError(`scan of disk ${disk.name} gave block ${b.index} with impossible lengths`)
      }
      if (!Number.isSafeInteger(b.index) || b.index < 0 || b.index >= blockCount(disk.size, this.blockSize) || b.rawLength !== blockLength({ size: disk.size, blockSize: this.blockSize }, b.index)) {
        throw sourceChanged(`scan of disk ${disk.name} gave block ${b.index} of ${b.rawLength} bytes, which a disk of ${disk.size} bytes cannot hold`)
      }
      const key = hashKey(b.hash)
      if (this.ordinals.has(key) || equalHashes(b.hash, 0, zeroHash(b.rawLength), 0)) {
        b.release?.()
        continue
      }
      this.ordinals.set(key, this.rawLengths.length)
      this.rawLengths.push(b.rawLength)
      await this.out.write(encodeRecordHeader({ hash: b.hash, codec: b.codec, rawLength: b.rawLength, storedLength: b.data.byteLength }))
      await this.out.write(b.data, b.release)
    }
    const last = blocks.at(-1)
    if (last !== undefined) this.progress(Math.min(disk.size, (last.index + 1) * this.blockSize))
  }

  /**
   * Checks that the records written so far are exactly the canonical order
   * of the manifests so far (what blockRefs in seed-format.ts yields), with
   * their raw lengths, without a second seen-set: walking the manifest, each
   * non-zero block's record must be either one already confirmed (a
   * repeated hash) or the next one written. Throws CORE_SOURCE_CHANGED.
   */
  checkDisk (disk: { name: string, size: number }, m: Manifest): void {
    checkManifest(m)
    if (m.size !== disk.size || m.blockSize !== this.blockSize) {
      throw sourceChanged(`scan of disk ${disk.name} returned a manifest of ${m.size} bytes in ${m.blockSize}-byte blocks; ${disk.size} in ${this.blockSize} were expected`)
    }
    const n = blockCount(m.size, m.blockSize)
    for (let i = 0; i < n; i++) {
      if (isZeroBlock(m, i)) continue
      const ordinal = this.ordinals.get(hashKey(m.hashes, i * HASH_LENGTH))
      if (ordinal !== undefined && ordinal < this.confirmed) continue
      if (ordinal !== this.confirmed || this.rawLengths[ordinal] !== blockLength(m, i)) {
        throw sourceChanged(`scan of disk ${disk.name} did not deliver block ${i} of its manifest as the next new block`)
      }
      this.confirmed++
    }
    if (this.confirmed !== this.ordinals.size) {
      throw sourceChanged(`scan of disk ${disk.name} delivered ${this.ordinals.size - this.confirmed} blocks its manifest does not reference`)
    }
    this.doneBefore += disk.size
    this.progress(0)
  }

  async flush (): Promise<void> {
    await this.out.flush()
  }

  private progress (inDisk: number): void {
    this.onProgress?.({ phase: 'seed-export', done: this.doneBefore + inDisk, total: this.total })
  }
}

/**
 * The trailer's BLAKE3: bytes 0 to `to` of `partial` read back in order,
 * one write buffer at a time (the writing handle is write-only).
 */
async function hashBack (partial: string, to: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
  const what = `reading back ${partial}`
  let reader: FileHandle
  try {
    reader = await open(partial, 'r')
  } catch (err) {
    return wrapWrite(what)(err)
  }
  try {
    const buf = Buffer.allocUnsafe(WRITE_BUFFER_BYTES)
    const hasher = new Blake3Hasher()
    for (let at = 0; at < to;) {
      throwIfAborted(signal)
      const { bytesRead } = await reader.read(buf, 0, Math.min(buf.byteLength, to - at), at).catch(wrapWrite(what))
      if (bytesRead === 0) throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `${what}: it ends at byte ${at}, ${to} were written`)
      hasher.update(buf.subarray(0, bytesRead))
      at += bytesRead
    }
    return hasher.digestBuffer()
  } finally {
    await reader.close()
  }
}

function sourceChanged (message: string): CoreError {
  return new CoreError(CoreErrorCode.CORE_SOURCE_CHANGED, message)
}
