/**
 * Seed files: one recovery point in one portable file, for initial
 * replication on removable media. Format: docs/seed-format.md.
 */
import type { RecoveryPointStore } from '../store/store.ts'
import type { Consistency, ProgressListener, RecoveryPoint } from '../types.ts'
import { exportSeed as exportPoint } from './export.ts'
import { importSeed as importPoint, readHead } from './import.ts'
import { CRC_BYTES, MAX_SEED_HEADER_BYTES, PREAMBLE_BYTES, type SeedOrigin } from './seed-format.ts'
import { SeedReader } from './seed-reader.ts'

export {
  SEED_VERSION, READABLE_SEED_VERSIONS, MAX_SEED_DISKS, MAX_SEED_HEADER_BYTES, MAX_SEED_MANIFEST_BYTES, MAX_CONSISTENCY_NOTE_BYTES,
  MAX_ORIGIN_RELATIONSHIP_BYTES, MAX_ORIGIN_PEER_BYTES, validOrigin, type SeedOrigin
} from './seed-format.ts'
export { writeSeed, type SeedBlock, type WriteSeedInit, type WriteSeedOptions, type WriteSeedResult } from './write.ts'

export interface SeedOptions {
  signal?: AbortSignal
  onProgress?: ProgressListener
}

/** What a seed's header says (docs/seed-format.md). */
export interface SeedHeader {
  /** Format version of the file: 1 or 2. */
  version: number
  blockSize: number
  /** The point's time, ms since the epoch. */
  time: number
  consistency: Consistency
  consistencyNote?: string
  /** The relationship and peer the seed was exported for; null for a seed of a bare store (and every version 1 seed). */
  origin: SeedOrigin | null
  disks: Array<{ name: string, size: number, root: string }>
  /** pointRoot of the disks, hex: the root of the point an import creates. */
  root: string
}

/**
 * Writes point `pointId` of `store` to a new seed file at `path`: absent or
 * complete, never partial. Every block is verified first (CORE_BLOCK_CORRUPT
 * rather than a bad seed). `origin` names the relationship and peer the seed
 * is for (none by default). Throws CORE_OUTPUT_EXISTS unless `force`.
 */
export async function exportSeed (store: RecoveryPointStore, pointId: number, path: string, options: SeedOptions & { force?: boolean, origin?: SeedOrigin } = {}): Promise<{ bytes: number, blocks: number }> {
  return await exportPoint(store, pointId, path, options)
}

/**
 * Reads and checks a seed's header only (to learn its block size before
 * creating a store, or its origin to find its relationship). The rest of the file is not read: a seed whose header
 * passes can still fail to import. Throws CORE_SEED_INVALID or CORE_SEED_TRUNCATED.
 */
export async function readSeedHeader (path: string): Promise<SeedHeader> {
  const { reader } = await SeedReader.open(path, PREAMBLE_BYTES + MAX_SEED_HEADER_BYTES + CRC_BYTES)
  try {
    const h = await readHead(reader)
    return {
      version: h.version,
      blockSize: h.blockSize,
      time: h.time,
      consistency: h.consistency,
      ...(h.consistencyNote === undefined ? {} : { consistencyNote: h.consistencyNote }),
      origin: h.origin === null ? null : { relationship: h.origin.relationship, peer: h.origin.peer },
      disks: h.disks.map(d => ({ name: d.name, size: d.size, root: d.root })),
      root: h.root
    }
  } finally {
    await reader.close()
  }
}

/**
 * Imports a seed as a new recovery point of `store`, every block verified and
 * committed only once the whole file checked out; then builds the replica
 * image. On failure the store keeps exactly the points it had.
 */
export async function importSeed (store: RecoveryPointStore, path: string, options: SeedOptions = {}): Promise<RecoveryPoint> {
  return await importPoint(store, path, options)
}
