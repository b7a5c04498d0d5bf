import type { DiskSource, DiskView } from '../../core/disk-view/index.ts'
import { trackedExtents } from '../../core/replicate.ts'
import { scanDisk, type ScanPool } from '../../core/scan/index.ts'
import { trackedViaShared } from '../../core/shared-tracking.ts'
import type { Manifest } from '../../core/types.ts'
import type { CycleSource } from '../../p2p/replication/index.ts'

/**
 * The source of one cycle, with `close` for the caller's `finally`,
 * `untracked`: each disk scanned without change tracking (every block read
 * and compared by hash) and why; a disk whose scan read only the extents
 * its tracking named is absent; and `bytesRead`: each disk's bytes read
 * from its view by its last scan.
 */
export type OpenCycleSource = CycleSource & { close: () => Promise<void>, untracked: Map<string, string>, bytesRead: Map<string, number> }

/** Why a disk is read whole when its source has no change tracking at all (a file, a stopped VM's disk). */
export const NO_TRACKING = 'the source has no change tracking: every block is compared'

/**
 * Disk sources (files of stopped VMs, live QEMU points) as the source of one
 * cycle: views are opened together (one moment for all disks); each scan
 * hashes, diffs and compresses in the worker pool, reading only the extents
 * change tracking names when the view vouches for the base
 * (`DiskView.changedSince`); `finish` closes the views, failing with
 * CORE_SOURCE_CHANGED when one turned out inconsistent.
 *
 * `shared`: each disk's manifest in a point both boxes hold (the failover
 * point, on the box that failed over). When a view's tracking does not
 * vouch for the base itself but for that point, the scan reads the tracked
 * blocks plus those where the base differs from it (core's
 * trackedViaShared; docs/failover.md "Delta failback"), else every block.
 */
export async function openCycleSource (pool: ScanPool, disks: Array<{ name: string, source: DiskSource }>, blockSize: number, signal?: AbortSignal, shared?: ReadonlyMap<string, Manifest>): Promise<OpenCycleSource> {
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
  const bytesRead = new Map<string, number>()
  return {
    untracked,
    bytesRead,
    disks: disks.map(d => ({ name: d.name, size: views.get(d.name)!.size, blockSize })),
    scan: async (name, base, onBlocks, scanSignal, heal) => {
      const view = views.get(name)
      if (view === undefined) throw new TypeError(`no open view of disk ${name}`)
      let tracking = await trackedExtents(view, base, scanSignal)
      const via = shared?.get(name)
      if (typeof tracking === 'string' && base !== undefined && via !== undefined) {
        const bridged = await trackedViaShared(view, base, via, scanSignal)
        tracking = Array.isArray(bridged) ? bridged : `${tracking}; ${bridged}`
      }
      const changedExtents = Array.isArray(tracking) ? tracking : undefined
      if (changedExtents === undefined) untracked.set(name, typeof tracking === 'string' ? tracking : NO_TRACKING)
      else untracked.delete(name)
      const result = await scanDisk(view, { pool, blockSize, base, changedExtents, heal, onChanged: onBlocks, reuseResults: true, signal: scanSignal })
      bytesRead.set(name, result.bytesRead)
      return { manifest: result.manifest, changed: result.changed }
    },
    finish: closeAll,
    close: async () => { await closeAll().catch(() => {}) }
  }
}
