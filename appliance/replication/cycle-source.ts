import type { DiskSource, DiskView } from '../../core/disk-view/index.ts'
import { trackedExtents } from '../../core/replicate.ts'
import { scanDisk, type ScanPool } from '../../core/scan/index.ts'
import type { CycleSource } from '../../p2p/replication/index.ts'

/**
 * The source of one cycle, with `close` for the caller's `finally`, and
 * `untracked`: each disk scanned without change tracking (every block read
 * and compared by hash) and why; a disk whose scan read only the extents
 * its tracking named is absent.
 */
export type OpenCycleSource = CycleSource & { close: () => Promise<void>, untracked: Map<string, string> }

/** Why a disk is read whole when its source has no change tracking at all (a file, a stopped VM's disk). */
export const NO_TRACKING = 'the source has no change tracking: every block is compared'

/**
 * Disk sources (files of stopped VMs, live QEMU points) as the source of one
 * cycle: views are opened together (one moment for all disks); each scan
 * hashes, diffs and compresses in the worker pool, reading only the extents
 * change tracking names when the view vouches for the base
 * (`DiskView.changedSince`); `finish` closes the views, failing with
 * CORE_SOURCE_CHANGED when one turned out inconsistent.
 */
export async function openCycleSource (pool: ScanPool, disks: Array<{ name: string, source: DiskSource }>, blockSize: number, signal?: AbortSignal): Promise<OpenCycleSource> {
  const views = new Map<string, DiskView>()
  try {
    for (const d of disks) views.set(d.name, await d.source.open(signal))
  } catch (err) {
    for (const v of views.values()) await v.close().catch(() => {})
    throw err
  }
  const closeAll = async (): Promise<void> => {
    const open = [...views.values()]
    views.clear()
    let first: unknown
    for (const v of open) await v.close().catch(err => { first ??= err })
    if (first !== undefined) throw first
  }
  const untracked = new Map<string, string>()
  return {
    untracked,
    disks: disks.map(d => ({ name: d.name, size: views.get(d.name)!.size, blockSize })),
    scan: async (name, base, onBlocks, scanSignal, heal) => {
      const view = views.get(name)
      if (view === undefined) throw new TypeError(`no open view of disk ${name}`)
      const tracking = await trackedExtents(view, base, scanSignal)
      const changedExtents = Array.isArray(tracking) ? tracking : undefined
      if (changedExtents === undefined) untracked.set(name, typeof tracking === 'string' ? tracking : NO_TRACKING)
      else untracked.delete(name)
      const result = await scanDisk(view, { pool, blockSize, base, changedExtents, heal, onChanged: onBlocks, reuseResults: true, signal: scanSignal })
      return { manifest: result.manifest, changed: result.changed }
    },
    finish: closeAll,
    close: async () => { await closeAll().catch(() => {}) }
  }
}
