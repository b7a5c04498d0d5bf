import { Codec } from '../compress.ts'
import { HASH_LENGTH, SCAN_CHUNK_BYTES } from '../constants.ts'
import { CoreError, CoreErrorCode, throwIfAborted } from '../errors.ts'
import { equalHashes, zeroHash } from '../hash.ts'
import { blockCount, checkBlockSize } from '../manifest.ts'
import type { DiskView } from '../disk-view/disk-view.ts'
import type { BlockHash, Extent, Manifest, ProgressListener } from '../types.ts'
import type { ScanPool } from './scan-pool.ts'
import { blockRanges, ScanPlan } from './scan-plan.ts'
import type { ScanTask, ScanTaskResult } from './scan-task.ts'

export { blockRanges }

/** A block that differs from the base, encoded for storage or the wire. */
export interface ChangedBlock {
  index: number
  hash: BlockHash
  codec: Codec
  rawLength: number
  data: Uint8Array
  /**
   * Says that nothing refers to `data` any more (it was written, or sent and
   * acknowledged): once every block of a chunk has said so, the buffer they
   * share is reused for a later chunk. Calling it twice does nothing; a block
   * never released is left to the garbage collector.
   */
  release: () => void
}

export interface ScanOptions {
  pool: ScanPool
  blockSize: number
  /** The previous manifest of this disk: blocks equal to it are reported unchanged. */
  base?: Manifest
  /**
   * Receives, in ascending block order, each chunk's changed blocks that are
   * not all zeros, compressed. Awaited before later chunks are delivered, so a
   * slow sink slows the scan instead of piling blocks up in memory. An
   * error it throws ends the scan and is rethrown unchanged.
   */
  onChanged?: (blocks: ChangedBlock[]) => Promise<void> | void
  /**
   * The consumer of `onChanged` releases the blocks it is given (a
   * replication sender, on the Replica's ack): result buffers are then sized
   * so that any can be reused for any later chunk. Consumers that keep or
   * drop blocks without releasing them leave it off, and get buffers just
   * large enough for each result.
   */
  reuseResults?: boolean
  onProgress?: ProgressListener
  signal?: AbortSignal
  /**
   * Change tracking's answer (a dirty bitmap): the byte ranges that may
   * differ from `base`, which is then required and must have the view's
   * size. Only the blocks these ranges touch are read; every other block
   * keeps the base's hash. Callers pass this only when tracking can be
   * trusted; otherwise they scan everything (docs/design.md invariant 3).
   */
  changedExtents?: Extent[]
  /**
   * Healing: indices (ascending) of blocks whose stored copy is damaged.
   * They are read (also under `changedExtents`), hashed and, when not all
   * zeros, delivered through `onChanged` even when they equal the base;
   * the consumer decides from the fresh hash whether the data heals
   * anything. Such unchanged blocks are not listed in `changed`.
   */
  heal?: number[]
  /**
   * Read every block, even where the view tells that it reads as zeros
   * (`DiskView.dataExtents`): for tests and benchmarks that compare with a
   * full read. The manifest is the same either way.
   */
  readHoles?: boolean
}

export interface ScanResult {
  manifest: Manifest
  /** Indices of every block that differs from the base (zero blocks included). */
  changed: number[]
  /**
   * Bytes read from the view: all of it, or the blocks `changedExtents`
   * touch, less the blocks the view said read as zeros.
   */
  bytesRead: number
}

/**
 * Hashes every block of a view in the worker pool and diffs it against the
 * base in the same pass. Blocks that a view with `dataExtents` says read as
 * zeros are not read: they get the zero block's hash, the same entry a read
 * of them would give, so the manifest is the same byte for byte (a scan
 * with `changedExtents` reads what tracking names, as before). Chunks run
 * in parallel; results are consumed in disk order. On any failure or abort
 * no further chunk is started and every pending one is awaited before the
 * error is thrown (CORE_ABORTED on abort).
 */
export async function scanDisk (view: DiskView, options: ScanOptions): Promise<ScanResult> {
  const { pool, blockSize, base, signal } = options
  checkBlockSize(blockSize)
  if (base !== undefined && base.blockSize !== blockSize) throw new TypeError('base manifest has another block size')
  throwIfAborted(signal)
  const size = view.size
  const chunkBytes = Math.max(blockSize, Math.floor(SCAN_CHUNK_BYTES / blockSize) * blockSize)
  let hashes: Uint8Array
  let ranges: Extent[]
  if (options.changedExtents !== undefined) {
    if (base === undefined || base.size !== size) throw new TypeError('changedExtents needs a base manifest of the view\'s size')
    hashes = base.hashes.slice()
    ranges = blockRanges([...options.changedExtents, ...healExtents(options.heal, blockSize)], size, blockSize)
  } else {
    hashes = new Uint8Array(blockCount(size, blockSize) * HASH_LENGTH)
    ranges = size > 0 ? [{ offset: 0, length: size }] : []
  }
  const plan = new ScanPlan(view, {
    ranges,
    blockSize,
    chunkBytes,
    heal: healExtents(options.heal, blockSize),
    askData: options.changedExtents === undefined && options.readHoles !== true
  })
  const total = ranges.reduce((n, r) => n + r.length, 0)
  const changed: number[] = []
  const heal = options.heal === undefined || options.heal.length === 0 ? undefined : new Set(options.heal)
  /** Pieces in disk order: chunks being read and hashed (`result`), and zero runs (none). */
  const inflight: Array<{ offset: number, length: number, result?: Promise<ScanTaskResult> }> = []
  let running = 0
  let planned = true
  let done = 0
  let bytesRead = 0

  /** A run of blocks that read as zeros: the zero hash, and a change where the base has another. */
  const zeros = (offset: number, length: number): void => {
    for (let at = offset; at < offset + length; at += blockSize) {
      const index = at / blockSize
      const hash = zeroHash(Math.min(blockSize, size - at))
      hashes.set(hash, index * HASH_LENGTH)
      const same = base !== undefined && (index + 1) * HASH_LENGTH <= base.hashes.byteLength && equalHashes(base.hashes, index * HASH_LENGTH, hash, 0)
      if (!same) changed.push(index)
    }
  }

  /** A failure of the caller's own onChanged: passed through as it is, never taken for a read error. */
  let sinkError: { err: unknown } | undefined
  const consume = async (): Promise<void> => {
    const head = inflight.shift()
    if (head === undefined) return
    if (head.result === undefined) {
      zeros(head.offset, head.length)
      done += head.length
      options.onProgress?.({ phase: 'scan', done, total })
      return
    }
    const r = await head.result
    running--
    const firstBlock = head.offset / blockSize
    hashes.set(r.hashes, firstBlock * HASH_LENGTH)
    for (const i of r.changed) {
      const index = firstBlock + i
      // A block read only to heal it, and equal to the base, is not a change.
      if (heal?.has(index) === true && base !== undefined && (index + 1) * HASH_LENGTH <= base.hashes.byteLength && equalHashes(r.hashes, i * HASH_LENGTH, base.hashes, index * HASH_LENGTH)) continue
      changed.push(index)
    }
    if (options.onChanged === undefined || r.encoded.length === 0) {
      pool.recycle(r.buffer) // nothing handed out refers to it
    } else {
      const release = releaser(pool, r.buffer, r.encoded.length)
      const blocks = r.encoded.map(e => ({
        index: firstBlock + e.index,
        hash: r.hashes.slice(e.index * HASH_LENGTH, (e.index + 1) * HASH_LENGTH),
        codec: e.codec as Codec,
        rawLength: e.rawLength,
        data: e.data,
        release: release()
      }))
      try {
        await options.onChanged(blocks)
      } catch (err) {
        sinkError = { err }
        throw err
      }
    }
    done += head.length
    options.onProgress?.({ phase: 'scan', done, total })
  }

  try {
    const concurrency = pool.concurrency(view.fd === undefined || options.onChanged !== undefined)
    while (planned || inflight.length > 0) {
      // Zero runs take no thread: only reads count against the concurrency,
      // and the queue of pieces is bounded all the same.
      while (planned && running < concurrency && inflight.length < 4 * concurrency) {
        throwIfAborted(signal)
        const piece = await plan.next(signal)
        if (piece === undefined) {
          planned = false
          break
        }
        const { offset, length } = piece
        if (piece.zero) {
          inflight.push({ offset, length })
          continue
        }
        const task = await makeTask(view, offset, length, options, signal)
        const result = pool.run(task, signal)
        // An abort rejects every pending task at once, while this loop may be
        // awaiting something else (the sink's I/O, the next read): the
        // rejection is observed later, in order, by `consume` or the
        // allSettled below; marking it handled now keeps it from escaping
        // as an unhandled AbortError (issue 11).
        result.catch(() => {})
        inflight.push({ offset, length, result })
        running++
        bytesRead += length
      }
      await consume()
    }
  } catch (err) {
    await Promise.allSettled(inflight.map(async f => await f.result))
    if (sinkError !== undefined && sinkError.err === err) throw err
    throw translate(err, signal)
  }
  return { manifest: { size, blockSize, hashes }, changed, bytesRead }
}

/**
 * Per-block release functions for one result buffer: it goes back to the
 * pool when all `count` blocks have been released, each counted once.
 */
function releaser (pool: ScanPool, buffer: ArrayBuffer, count: number): () => () => void {
  let outstanding = count
  return () => {
    let released = false
    return () => {
      if (released) return
      released = true
      if (--outstanding === 0) pool.recycle(buffer)
    }
  }
}

async function makeTask (view: DiskView, offset: number, length: number, options: ScanOptions, signal?: AbortSignal): Promise<ScanTask> {
  const { base, blockSize } = options
  const task: ScanTask = { offset, length, blockSize, encodeChanged: options.onChanged !== undefined, reusable: options.reuseResults === true }
  if (base !== undefined) {
    const first = offset / blockSize
    const start = first * HASH_LENGTH
    if (start < base.hashes.byteLength) {
      task.baseHashes = base.hashes.slice(start, Math.min(base.hashes.byteLength, start + blockCount(length, blockSize) * HASH_LENGTH))
      forceChanged(task.baseHashes, first, options.heal)
      // The base's last block may be partial at another length: its hash then differs, as it should.
    } else {
      task.baseHashes = new Uint8Array(0)
    }
  }
  if (view.fd !== undefined) {
    task.fd = view.fd
  } else {
    const data = new Uint8Array(new ArrayBuffer(length))
    await view.read(offset, length, data, signal)
    task.data = data
  }
  return task
}

/** One block-sized extent per heal index. */
function healExtents (heal: number[] | undefined, blockSize: number): Extent[] {
  return (heal ?? []).map(i => ({ offset: i * blockSize, length: blockSize }))
}

/**
 * Makes the worker treat the heal blocks of a chunk as changed (so it
 * encodes them) by inverting the first byte of their base hash in the
 * task's own copy (a fresh hash equal to the inverted one would take a
 * 2^-248 chance; the block would then merely stay unhealed).
 */
function forceChanged (baseHashes: Uint8Array, first: number, heal: number[] | undefined): void {
  if (heal === undefined) return
  const blocks = baseHashes.byteLength / HASH_LENGTH
  for (const i of heal) {
    const at = (i - first) * HASH_LENGTH
    if (i >= first && i < first + blocks) baseHashes[at] = baseHashes[at]! ^ 0xff
  }
}

function translate (err: unknown, signal: AbortSignal | undefined): unknown {
  if (err instanceof CoreError) return err
  if (signal?.aborted === true) return new CoreError(CoreErrorCode.CORE_ABORTED, 'scan aborted', { cause: err })
  const code = (err as { code?: unknown })?.code
  if (code === CoreErrorCode.CORE_SOURCE_CHANGED) return new CoreError(CoreErrorCode.CORE_SOURCE_CHANGED, (err as Error).message, { cause: err })
  return new CoreError(CoreErrorCode.CORE_SOURCE_UNREADABLE, `scan failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}
