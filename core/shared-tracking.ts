import { throwIfAborted } from './errors.ts'
import { diffManifests } from './diff.ts'
import { diskRoot } from './manifest.ts'
import type { DiskView } from './disk-view/disk-view.ts'
import type { Extent, Manifest } from './types.ts'

/**
 * The blocks where two manifests of one disk differ, as byte ranges
 * (ascending, adjacent blocks merged). Pure. Both must have the same size
 * and block size: a TypeError otherwise (callers check first).
 */
export function differingExtents (a: Manifest, b: Manifest): Extent[] {
  if (a.size !== b.size || a.blockSize !== b.blockSize) throw new TypeError('differingExtents needs two manifests of the same size and block size')
  const out: Extent[] = []
  for (const i of diffManifests(a, b)) {
    const offset = i * a.blockSize
    const length = Math.min(a.blockSize, a.size - offset)
    const last = out.at(-1)
    if (last !== undefined && last.offset + last.length === offset) last.length += length
    else out.push({ offset, length })
  }
  return out
}

/**
 * Change tracking carried across a shared point (docs/failover.md "Delta
 * failback"): the view's tracking vouches for every change since `shared`
 * (a point both boxes hold), while the scan diffs against `base`, another
 * descendant of `shared` (the other box's newer disk). A block that neither
 * the view's tracking names nor `base` changed since `shared` is `shared`'s
 * block on both sides, hence equal to `base` there and not read. So the
 * blocks to read are the tracked ones plus those where `base` and `shared`
 * differ (a pure manifest diff: no disk I/O).
 *
 * Resolves to the byte ranges to read, or to the reason the answer cannot
 * vouch (sizes or block sizes that differ; the view not tracked relative to
 * exactly `shared`'s root: its own reason). Never guesses: any doubt is a
 * reason, and the caller compares every block by hash (docs/design.md
 * invariant 3).
 */
export async function trackedViaShared (view: DiskView, base: Manifest, shared: Manifest, signal?: AbortSignal): Promise<Extent[] | string> {
  throwIfAborted(signal)
  if (view.changedSince === undefined) return 'the source has no change tracking'
  if (shared.size !== view.size || base.size !== view.size) return `the shared point's disk (${shared.size} bytes) and the base (${base.size}) are not the disk's size (${view.size})`
  if (shared.blockSize !== base.blockSize) return 'the shared point and the base have other block sizes'
  const answer = await view.changedSince(diskRoot(shared), signal)
  if (!Array.isArray(answer)) return `change tracking since the shared point: ${answer.untracked}`
  return [...answer, ...differingExtents(shared, base)].sort((x, y) => x.offset - y.offset)
}
