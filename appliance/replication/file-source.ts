import { FileDiskSource, type DiskView } from '../../core/disk-view/index.ts'
import { scanDisk, type ScanPool } from '../../core/scan/index.ts'
import type { CycleSource } from '../../p2p/replication/index.ts'

/**
 * Disk image files (a stopped VM's disks) as the source of one cycle: views
 * are opened together (one moment for all disks), each scan hashes,
 * diffs and compresses in the worker pool, and `finish` closes the views,
 * failing with CORE_SOURCE_CHANGED when a file was written meanwhile.
 */
export async function openFileCycleSource (pool: ScanPool, disks: Array<{ name: string, path: string }>, blockSize: number, signal?: AbortSignal): Promise<CycleSource & { close: () => Promise<void> }> {
  const views = new Map<string, DiskView>()
  try {
    for (const d of disks) views.set(d.name, await new FileDiskSource(d.path).open(signal))
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
  return {
    disks: disks.map(d => ({ name: d.name, size: views.get(d.name)!.size, blockSize })),
    scan: async (name, base, onBlocks, scanSignal) => {
      const view = views.get(name)
      if (view === undefined) throw new TypeError(`no open view of disk ${name}`)
      const result = await scanDisk(view, { pool, blockSize, base, onChanged: onBlocks, signal: scanSignal })
      return { manifest: result.manifest, changed: result.changed }
    },
    finish: closeAll,
    close: async () => { await closeAll().catch(() => {}) }
  }
}
