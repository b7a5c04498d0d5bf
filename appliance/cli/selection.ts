/**
 * Turning what the operator typed (`--point latest`, an optional `--disk`)
 * into a recovery point and one of its disks.
 */
import { CoreError, CoreErrorCode, type PointDisk, type RecoveryPoint, type RecoveryPointStore } from '../../core/index.ts'
import { AppError, AppErrorCode } from '../service/index.ts'
import type { PointSelector } from './option-values.ts'

/** The chosen point; CORE_POINT_NOT_FOUND when there is no such point (or none at all for `latest`). */
export async function resolvePoint (store: RecoveryPointStore, selector: PointSelector): Promise<RecoveryPoint> {
  if (selector !== 'latest') return await store.getPoint(selector)
  const latest = await store.latestPoint()
  if (latest === undefined) throw new CoreError(CoreErrorCode.CORE_POINT_NOT_FOUND, `store ${store.dir} has no recovery points yet`)
  return latest
}

/**
 * The named disk of a point, or its only disk when no name is given.
 * CORE_DISK_NOT_FOUND for an unknown name; APP_USAGE when the point has
 * several disks and none was named. Both messages list the names it has.
 */
export function chooseDisk (point: RecoveryPoint, name: string | undefined): PointDisk {
  if (name !== undefined) {
    const found = point.disks.find(d => d.name === name)
    if (found !== undefined) return found
    throw new CoreError(CoreErrorCode.CORE_DISK_NOT_FOUND, `recovery point ${point.id} has no disk "${name}" (it has: ${point.disks.map(d => d.name).join(', ')})`)
  }
  if (point.disks.length === 1) return point.disks[0]!
  throw new AppError(AppErrorCode.APP_USAGE, `recovery point ${point.id} has ${point.disks.length} disks (${point.disks.map(d => d.name).join(', ')}); choose one with --disk`)
}
