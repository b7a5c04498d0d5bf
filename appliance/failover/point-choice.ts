/**
 * Which recovery point a failover (test or unplanned) runs from: the one
 * the operator names, or the newest held here.
 */
import { AppError, AppErrorCode } from '../errors.ts'
import type { PointInfo } from '../service/index.ts'

export interface PointChoice {
  point: PointInfo
  /** The point is the newest held here. */
  latest: boolean
  /** Points held here newer than it. */
  newer: number
}

/**
 * Pure. Point `requested` of `points` (ascending, as `points` lists them),
 * or the newest when undefined. APP_USAGE for an id that is not one,
 * APP_POINT_NOT_FOUND when it is not held (or none is, for the newest).
 */
export function choosePoint (vm: string, points: readonly PointInfo[], requested: number | undefined): PointChoice {
  checkPointId(requested)
  const i = requested === undefined ? points.length - 1 : points.findIndex(p => p.id === requested)
  if (i < 0) {
    throw new AppError(AppErrorCode.APP_POINT_NOT_FOUND, requested === undefined
      ? `no recovery point of ${vm} has reached this box yet`
      : `${vm} has no recovery point ${requested} on this box (never received, or pruned): tandem points ${vm} lists them`)
  }
  return { point: points[i]!, latest: i === points.length - 1, newer: points.length - 1 - i }
}

/** APP_USAGE unless `requested` is undefined or a point id (a positive integer): checked before the points are read. */
export function checkPointId (requested: number | undefined): void {
  if (requested !== undefined && (!Number.isSafeInteger(requested) || requested < 1)) throw new AppError(AppErrorCode.APP_USAGE, `${String(requested).slice(0, 40)} is not a recovery point id`)
}
