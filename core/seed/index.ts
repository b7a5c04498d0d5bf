/**
 * Seed files: one recovery point in one portable file, for initial
 * replication on removable media. (Stub: being written; see docs/seed-format.md.)
 */
import type { RecoveryPointStore } from '../store/store.ts'
import type { ProgressListener, RecoveryPoint } from '../types.ts'

export interface SeedOptions {
  signal?: AbortSignal
  onProgress?: ProgressListener
}

export interface SeedHeader {
  blockSize: number
  time: number
  disks: Array<{ name: string, size: number, root: string }>
}

/** Writes point `pointId` of `store` to a new seed file at `path`. Throws CORE_OUTPUT_EXISTS unless `force`. */
export async function exportSeed (_store: RecoveryPointStore, _pointId: number, _path: string, _options: SeedOptions & { force?: boolean } = {}): Promise<{ bytes: number, blocks: number }> {
  throw new Error('not implemented')
}

/** Reads and checks a seed's header only (to learn its block size before creating a store). */
export async function readSeedHeader (_path: string): Promise<SeedHeader> {
  throw new Error('not implemented')
}

/** Imports a seed as a new recovery point of `store`, every block verified; then builds the replica image. */
export async function importSeed (_store: RecoveryPointStore, _path: string, _options: SeedOptions = {}): Promise<RecoveryPoint> {
  throw new Error('not implemented')
}
