import type { Codec } from '../compress.ts'
import { READ_CONCURRENCY } from '../constants.ts'
import { CoreError, CoreErrorCode, throwIfAborted } from '../errors.ts'
import { toHex } from '../hash.ts'
import { diskRoot, encodeManifest } from '../manifest.ts'
import { checkOutput, writeOutputFile } from '../output-file.ts'
import type { RecoveryPointStore } from '../store/store.ts'
import type { Manifest, ProgressListener } from '../types.ts'
import { blockRefs, countRefs, encodeHead, encodeRecordHeader, encodeTrailer, type BlockRef, type SeedOrigin } from './seed-format.ts'
import { SeedWriter } from './seed-writer.ts'

export interface ExportOptions {
  force?: boolean
  signal?: AbortSignal
  onProgress?: ProgressListener
  /** The relationship and peer the seed is for (docs/seed-format.md); none by default. */
  origin?: SeedOrigin
}

/**
 * Writes recovery point `pointId` as a seed at `path` (docs/seed-format.md).
 * Writes `<path>.partial`, fsyncs, renames: `path` is either absent or a
 * complete seed. Every block is decoded and re-hashed before it is written,
 * so a damaged store yields CORE_BLOCK_CORRUPT (or CORE_BLOCK_MISSING), never
 * a seed holding a bad block. Memory: the point's manifests plus
 * READ_CONCURRENCY blocks and one write buffer, whatever the disk size.
 * Throws CORE_OUTPUT_EXISTS unless `force`; CORE_WRITE_FAILED on write errors.
 */
export async function exportSeed (store: RecoveryPointStore, pointId: number, path: string, options: ExportOptions = {}): Promise<{ bytes: number, blocks: number }> {
  const point = await store.getPoint(pointId)
  await checkOutput(path, options.force)
  const manifests: Manifest[] = []
  for (const d of point.disks) {
    const m = await store.manifest(pointId, d.name)
    if (diskRoot(m) !== d.root) {
      throw new CoreError(CoreErrorCode.CORE_MANIFEST_INVALID, `stored manifest of point ${pointId} disk ${d.name} does not match its root hash`)
    }
    manifests.push(m)
  }
  const head = encodeHead({
    blockSize: store.blockSize,
    time: point.time,
    consistency: point.consistency,
    ...(point.consistencyNote === undefined ? {} : { consistencyNote: point.consistencyNote }),
    origin: options.origin ?? null,
    disks: point.disks.map(d => ({ name: d.name, size: d.size, root: d.root })),
    root: point.root
  })
  throwIfAborted(options.signal)

  return await writeOutputFile(path, async (handle, partial) => {
    const out = new SeedWriter(handle, partial)
    await out.write(head)
    for (const m of manifests) await out.write(encodeManifest(m))
    const blocks = await writeBlocks(store, manifests, out, options)
    await out.write(encodeTrailer(blocks, out.digest()))
    await out.flush()
    return { bytes: out.position, blocks }
  })
}

/**
 * Writes every block record in canonical order. Blocks are fetched and
 * verified READ_CONCURRENCY at a time but written in order; returns how many.
 */
async function writeBlocks (store: RecoveryPointStore, manifests: Manifest[], out: SeedWriter, options: ExportOptions): Promise<number> {
  const total = countRefs(manifests).rawBytes
  let done = 0
  let blocks = 0
  const inFlight: Array<Promise<VerifiedBlock>> = []
  const emit = async (b: VerifiedBlock): Promise<void> => {
    await out.write(encodeRecordHeader({ hash: b.hash, codec: b.codec, rawLength: b.rawLength, storedLength: b.data.byteLength }))
    await out.write(b.data)
    blocks++
    done += b.rawLength
    options.onProgress?.({ phase: 'seed-export', done, total })
  }
  for (const ref of blockRefs(manifests)) {
    throwIfAborted(options.signal)
    const p = fetchVerified(store, ref)
    // Rejections are seen when the promise is awaited in order; until then this keeps them from counting as unhandled.
    p.catch(() => {})
    inFlight.push(p)
    if (inFlight.length >= READ_CONCURRENCY) await emit(await inFlight.shift()!)
  }
  while (inFlight.length > 0) await emit(await inFlight.shift()!)
  options.onProgress?.({ phase: 'seed-export', done, total })
  return blocks
}

interface VerifiedBlock {
  hash: Uint8Array
  codec: Codec
  rawLength: number
  data: Uint8Array
}

/** A block's stored bytes, verified by the store; its length must be the one the manifest implies. */
async function fetchVerified (store: RecoveryPointStore, ref: BlockRef): Promise<VerifiedBlock> {
  const { location, stored } = await store.readVerified(ref.hash)
  if (location.rawLength !== ref.rawLength) {
    const hex = toHex(ref.hash)
    throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `block ${hex} in pack ${location.pack} at ${location.offset} has the wrong length`, { details: { hash: hex, pack: location.pack, offset: location.offset } })
  }
  return { hash: ref.hash, codec: location.codec, rawLength: location.rawLength, data: stored }
}
