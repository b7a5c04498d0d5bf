import type { FileHandle } from 'node:fs/promises'
import { checkOutput, writeOutputFile } from './output-file.ts'
import { READ_CONCURRENCY } from './constants.ts'
import { CoreError, CoreErrorCode, throwIfAborted } from './errors.ts'
import { blockCount, blockLength, hashAt, isZeroBlock } from './manifest.ts'
import type { RecoveryPointStore } from './store/store.ts'
import type { Manifest, ProgressListener } from './types.ts'

export interface WriteBlocksOptions {
  /** Skip all-zero blocks (the target is a fresh sparse file, already zeros there). */
  skipZero: boolean
  signal?: AbortSignal
  onProgress?: ProgressListener
  phase?: string
  /**
   * Awaited after each block is written, before the next one starts (every
   * block written so far is a safe place to stop). For tests that pause at
   * a known moment, and fault injection.
   */
  afterBlock?: () => Promise<void> | void
}

/**
 * Writes the given blocks of `manifest` into `target` at their offsets, each
 * read from the store and verified against its hash first. Runs
 * READ_CONCURRENCY blocks at a time. Idempotent: writing the same blocks
 * again yields the same file.
 */
export async function writeBlocks (store: RecoveryPointStore, target: FileHandle, manifest: Manifest, indices: Iterable<number>, options: WriteBlocksOptions): Promise<number> {
  const list = Array.isArray(indices) ? indices as number[] : [...indices]
  const zeros = new Uint8Array(manifest.blockSize)
  let next = 0
  let bytes = 0
  let written = 0
  const total = list.reduce((n, i) => n + blockLength(manifest, i), 0)
  const worker = async (): Promise<void> => {
    while (next < list.length) {
      throwIfAborted(options.signal)
      const i = list[next++]!
      const length = blockLength(manifest, i)
      if (isZeroBlock(manifest, i)) {
        if (!options.skipZero) await writeAll(target, zeros.subarray(0, length), i * manifest.blockSize)
      } else {
        const data = await store.readBlock(hashAt(manifest, i))
        await writeAll(target, data, i * manifest.blockSize)
        written += data.byteLength
      }
      bytes += length
      options.onProgress?.({ phase: options.phase ?? 'write', done: bytes, total })
      if (options.afterBlock !== undefined) await options.afterBlock()
    }
  }
  await Promise.all(Array.from({ length: READ_CONCURRENCY }, worker))
  return written
}

async function writeAll (h: FileHandle, data: Uint8Array, position: number): Promise<void> {
  try {
    let done = 0
    while (done < data.byteLength) {
      const { bytesWritten } = await h.write(data, done, data.byteLength - done, position + done)
      done += bytesWritten
    }
  } catch (err) {
    throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `write failed: ${(err as Error).message}`, { cause: err })
  }
}

export interface MaterializeOptions {
  /** Replace an existing output file. */
  force?: boolean
  signal?: AbortSignal
  onProgress?: ProgressListener
}

/**
 * Writes one disk of a recovery point to a new sparse image file: zero
 * blocks become holes, every other block is verified before it is written.
 * Writes to `<out>.partial` and renames at the end, so `out` is either
 * absent or complete. Throws CORE_OUTPUT_EXISTS unless `force`.
 */
export async function materializePoint (store: RecoveryPointStore, pointId: number, disk: string, out: string, options: MaterializeOptions = {}): Promise<{ size: number, writtenBytes: number }> {
  const manifest = await store.manifest(pointId, disk)
  await checkOutput(out, options.force)
  return await writeOutputFile(out, async handle => {
    await handle.truncate(manifest.size)
    const all = Array.from({ length: blockCount(manifest.size, manifest.blockSize) }, (_, i) => i)
    const writtenBytes = await writeBlocks(store, handle, manifest, all, { skipZero: true, phase: 'restore', signal: options.signal, onProgress: options.onProgress })
    return { size: manifest.size, writtenBytes }
  })
}
