import { BlockCodec, type Codec } from '../compress.ts'
import { CoreError, CoreErrorCode, throwIfAborted } from '../errors.ts'
import { equalHashes, hashBlock, toHex } from '../hash.ts'
import { decodeManifest, diskRoot } from '../manifest.ts'
import { updateImage } from '../store/replica-image.ts'
import { StagedCycle, type IncomingBlock } from '../store/staged-cycle.ts'
import type { RecoveryPointStore } from '../store/store.ts'
import type { Manifest, ProgressListener, RecoveryPoint } from '../types.ts'
import {
  CRC_BYTES, PREAMBLE_BYTES, RECORD_HEADER_BYTES, TRAILER_BYTES,
  blockRefs, decodeHeader, decodePreamble, decodeRecordHeader, decodeTrailer, manifestBytes, maxStoredLength,
  type SeedHeaderRecord
} from './seed-format.ts'
import { SeedReader } from './seed-reader.ts'

/** Blocks handed to the cycle at once: amortizes its index lookup, bounds the copies held. */
const STAGE_BATCH_BLOCKS = 256
const STAGE_BATCH_BYTES = 8 * 1024 * 1024

export interface ImportOptions {
  /** Honoured until the commit; after it the point exists and the image update runs to its end. */
  signal?: AbortSignal
  onProgress?: ProgressListener
}

/**
 * Reads the preamble and header from the start of a seed. Throws
 * CORE_SEED_INVALID (not a seed, unknown version, malformed header) or
 * CORE_SEED_TRUNCATED (the file ends inside them).
 */
export async function readHead (reader: SeedReader): Promise<SeedHeaderRecord & { version: number }> {
  const available = await reader.fill(PREAMBLE_BYTES)
  const { version, headerLength } = decodePreamble(reader.peek(available))
  await reader.take(PREAMBLE_BYTES)
  return { version, ...decodeHeader(await reader.take(headerLength + CRC_BYTES), version) }
}

/**
 * Imports a seed as a new recovery point of `store` (same time and
 * consistency as the exported point), then brings the replica images to it.
 *
 * Every block is decoded and re-hashed and must be the next one the
 * manifests call for; the point is committed only after the trailer's
 * whole-file BLAKE3 matched. On any failure before the commit nothing is
 * committed and the store keeps exactly the points it had (staged packs are
 * named pending in the index, deleted by the next open's sweep). Errors: CORE_SEED_INVALID,
 * CORE_SEED_TRUNCATED, CORE_SEED_CORRUPT, CORE_INVALID_ARGUMENT (block size
 * differs from the store's), CORE_ABORTED, CORE_WRITE_FAILED.
 *
 * Memory: the manifests, the cycle's index of staged blocks, one read
 * buffer and one staging batch, whatever the disk size.
 */
export async function importSeed (store: RecoveryPointStore, path: string, options: ImportOptions = {}): Promise<RecoveryPoint> {
  const { reader, size: fileSize } = await SeedReader.open(path)
  const cycle = new StagedCycle(store)
  let point: RecoveryPoint
  try {
    const header = await readHead(reader)
    if (header.blockSize !== store.blockSize) {
      throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `seed uses ${header.blockSize}-byte blocks; the store uses ${store.blockSize}`)
    }
    const manifests = await readManifests(reader, header)
    const blocks = await stageBlocks(reader, manifests, cycle, fileSize, options)
    await checkTrailer(reader, blocks)
    options.onProgress?.({ phase: 'seed-import', done: reader.position, total: fileSize })
    throwIfAborted(options.signal)
    header.disks.forEach((d, i) => { cycle.setDisk(d.name, manifests[i]!) })
    point = await cycle.commit({
      time: header.time,
      consistency: header.consistency,
      ...(header.consistencyNote === undefined ? {} : { consistencyNote: header.consistencyNote })
    })
  } catch (err) {
    await cycle.abort()
    throw err
  } finally {
    await reader.close()
  }
  for (const d of point.disks) {
    await updateImage(store, d.name, point.id, {
      onProgress: p => options.onProgress?.({ ...p, phase: `image ${d.name}` })
    })
  }
  return point
}

/**
 * Reads each disk's manifest and checks it against the header's disk root.
 * decodeHeader already checked the header's point root against those disk
 * roots, so the manifests are then consistent with the point root too.
 */
async function readManifests (reader: SeedReader, header: SeedHeaderRecord): Promise<Manifest[]> {
  const manifests: Manifest[] = []
  for (const d of header.disks) {
    const at = reader.position
    // Bounded: the header's sizes were checked against MAX_SEED_MANIFEST_BYTES.
    const bytes = new Uint8Array(manifestBytes(d.size, header.blockSize))
    await reader.takeInto(bytes)
    let m: Manifest
    try {
      m = decodeManifest(bytes)
    } catch (err) {
      throw corrupt(`manifest of disk ${d.name} is malformed`, at, err)
    }
    if (m.size !== d.size || m.blockSize !== header.blockSize || diskRoot(m) !== d.root) {
      throw corrupt(`manifest of disk ${d.name} does not match the header's root hash`, at)
    }
    manifests.push(m)
  }
  return manifests
}

/**
 * Reads the block records, each of which must be the next block of the
 * canonical order, verifies them and stages them. Returns how many were read.
 */
async function stageBlocks (reader: SeedReader, manifests: Manifest[], cycle: StagedCycle, fileSize: number, options: ImportOptions): Promise<number> {
  const codec = new BlockCodec()
  let batch: IncomingBlock[] = []
  let batchBytes = 0
  let count = 0
  const flush = async (): Promise<void> => {
    if (batch.length > 0) await cycle.putBlocks(batch)
    batch = []
    batchBytes = 0
  }
  for (const ref of blockRefs(manifests)) {
    throwIfAborted(options.signal)
    const at = reader.position
    const rh = decodeRecordHeader(await reader.take(RECORD_HEADER_BYTES))
    if (rh === undefined) throw corrupt(`block record ${count} header fails its CRC`, at)
    if (!equalHashes(rh.hash, 0, ref.hash, 0)) throw corrupt(`block record ${count} is ${toHex(rh.hash)}; the manifests call for ${toHex(ref.hash)}`, at)
    if (rh.rawLength !== ref.rawLength || rh.storedLength > maxStoredLength(rh.rawLength)) {
      throw corrupt(`block record ${count} has impossible lengths (raw ${rh.rawLength}, stored ${rh.storedLength})`, at)
    }
    const hash = new Uint8Array(ref.hash)
    const stored = await reader.take(rh.storedLength)
    let raw: Uint8Array
    try {
      raw = codec.decode(rh.codec, stored, rh.rawLength)
    } catch (err) {
      throw corrupt(`block record ${count} does not decode`, at, err)
    }
    if (!equalHashes(hashBlock(raw), 0, hash, 0)) throw corrupt(`block record ${count} does not match its hash`, at)
    // The reader reuses its buffer and pack writers keep what they are given: copy.
    batch.push({ hash, codec: rh.codec as Codec, rawLength: rh.rawLength, data: new Uint8Array(stored) })
    batchBytes += stored.byteLength
    count++
    if (batch.length >= STAGE_BATCH_BLOCKS || batchBytes >= STAGE_BATCH_BYTES) await flush()
    options.onProgress?.({ phase: 'seed-import', done: reader.position, total: fileSize })
  }
  await flush()
  return count
}

/** The trailer must follow the last block, count the blocks, hash the file, and end it. */
async function checkTrailer (reader: SeedReader, blocks: number): Promise<void> {
  const digest = reader.digest()
  const at = reader.position
  const trailer = decodeTrailer(await reader.take(TRAILER_BYTES))
  if (!trailer.magicOk) throw corrupt('expected the trailer after the last block', at)
  if (trailer.blocks !== BigInt(blocks)) throw corrupt(`trailer counts ${trailer.blocks} blocks; the manifests need ${blocks}`, at + 8)
  if (!equalHashes(trailer.digest, 0, digest, 0)) throw corrupt('the file does not match the trailer\'s BLAKE3', at + 16)
  if (!await reader.atEnd()) throw corrupt('bytes follow the trailer', reader.position)
}

function corrupt (message: string, offset: number, cause?: unknown): CoreError {
  return new CoreError(CoreErrorCode.CORE_SEED_CORRUPT, `seed is damaged: ${message}`, {
    details: { offset },
    ...(cause === undefined ? {} : { cause })
  })
}

