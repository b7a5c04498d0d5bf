import { rm } from 'node:fs/promises'
import type { DiskSource } from '../../core/disk-view/index.ts'
import type { ScanPool } from '../../core/scan/index.ts'
import { writeSeed } from '../../core/seed/index.ts'
import type { Consistency, ProgressListener } from '../../core/types.ts'
import { openCycleSource } from './cycle-source.ts'

export interface SeedFromDisksInit {
  /** The VM's disks for this moment (a driver's cycle sources): read once, together. */
  disks: Array<{ name: string, source: DiskSource }>
  pool: ScanPool
  blockSize: number
  path: string
  force: boolean
  /** The relationship the seed is for and this box's peer id: the Replica's import finds its relationship by them. */
  origin: { relationship: string, peer: string }
  time: number
  consistency: Consistency
  consistencyNote?: string
  signal?: AbortSignal
  onProgress?: ProgressListener
}

/**
 * Writes a seed of a VM's disks as they are at one moment (docs/seeds.md):
 * the disks are read once, through the same scan as a cycle with no base,
 * and the file is complete or absent. A disk written during the read (the
 * source's CORE_SOURCE_CHANGED) removes the file again: a seed that is
 * not one moment is never left behind.
 */
export async function seedFromDisks (init: SeedFromDisksInit): Promise<{ bytes: number, blocks: number, root: string, disks: Array<{ name: string, size: number, root: string }> }> {
  const source = await openCycleSource(init.pool, init.disks, init.blockSize, init.signal)
  try {
    const written = await writeSeed(init.path, {
      blockSize: init.blockSize,
      time: init.time,
      consistency: init.consistency,
      ...(init.consistencyNote === undefined ? {} : { consistencyNote: init.consistencyNote }),
      origin: init.origin,
      disks: source.disks.map(d => ({ name: d.name, size: d.size })),
      scan: async (name, onBlocks, signal) => (await source.scan(name, undefined, onBlocks, signal)).manifest
    }, { force: init.force, ...(init.signal === undefined ? {} : { signal: init.signal }), ...(init.onProgress === undefined ? {} : { onProgress: init.onProgress }) })
    try {
      await source.finish?.()
    } catch (err) {
      await rm(init.path, { force: true })
      throw err
    }
    return written
  } finally {
    await source.close()
  }
}
