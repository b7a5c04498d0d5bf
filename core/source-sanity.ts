import { CoreError, CoreErrorCode } from './errors.ts'

/** A disk as the sanity check sees it: its name and size in bytes. */
export interface DiskShape {
  name: string
  size: number
}

export interface SourceSanityOptions {
  /** The operator said the VM's disks really changed (`--allow-disk-change`): another set of names is accepted. */
  allowDiskChange?: boolean
}

/**
 * Pure: refuses a cycle whose sources look like the wrong thing aimed at
 * the store, before anything is read (issue 11, "a wrong source replaces the
 * good one"). A wrong source would become the latest point, and retention
 * would then drop the good ones.
 *
 * - CORE_SOURCE_DISKS_CHANGED: the set of disk names differs from the latest
 *   point's, unless `allowDiskChange`. Order does not matter.
 * - CORE_SOURCE_EMPTY: a disk is 0 bytes while the latest point's disk of
 *   that name had data. Never allowed: a 0-byte disk is not a VM disk.
 *
 * A store with no point yet accepts anything. `details` names the disks.
 */
export function checkSourceSanity (latest: { id: number, disks: readonly DiskShape[] } | undefined, disks: readonly DiskShape[], options: SourceSanityOptions = {}): void {
  if (latest === undefined) return
  const before = new Map(latest.disks.map(d => [d.name, d.size]))
  for (const d of disks) {
    const had = before.get(d.name)
    if (d.size === 0 && had !== undefined && had > 0) {
      throw new CoreError(CoreErrorCode.CORE_SOURCE_EMPTY,
        `disk "${d.name}" is empty (0 bytes) but recovery point ${latest.id} holds ${had} bytes of it; refusing to replace it with nothing`,
        { details: { disk: d.name, point: latest.id, previousSize: had } })
    }
  }
  if (options.allowDiskChange === true) return
  const now = new Set(disks.map(d => d.name))
  const added = [...now].filter(n => !before.has(n)).sort()
  const removed = [...before.keys()].filter(n => !now.has(n)).sort()
  if (added.length > 0 || removed.length > 0) {
    const parts = [
      ...(added.length > 0 ? [`new: ${added.join(', ')}`] : []),
      ...(removed.length > 0 ? [`missing: ${removed.join(', ')}`] : [])
    ]
    throw new CoreError(CoreErrorCode.CORE_SOURCE_DISKS_CHANGED,
      `the disks differ from recovery point ${latest.id}'s (${parts.join('; ')}); if the VM's disks really changed, say so with --allow-disk-change`,
      { details: { point: latest.id, added, removed } })
  }
}
