import { DEFAULT_ADDITIONAL_POINTS, DEFAULT_POINT_INTERVAL_MS } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'

/**
 * Which recovery points a store keeps: always the latest, plus up to
 * `additional` older points, at most one per `intervalMs` window (the newest
 * point of each window). `intervalMs` 0 keeps the `additional` newest points.
 */
export interface RetentionPolicy {
  additional: number
  intervalMs: number
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  additional: DEFAULT_ADDITIONAL_POINTS,
  intervalMs: DEFAULT_POINT_INTERVAL_MS
}

export function checkRetention (p: RetentionPolicy): void {
  if (!Number.isInteger(p.additional) || p.additional < 0 || p.additional > 10_000) {
    throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `additional recovery points must be an integer from 0 to 10000, got ${p.additional}`)
  }
  if (!Number.isFinite(p.intervalMs) || p.intervalMs < 0) {
    throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `recovery point interval must be >= 0 ms, got ${p.intervalMs}`)
  }
}

/**
 * Pure: the ids of the points to keep, ascending. `points` may come in any
 * order; the latest is the one with the highest id (ids grow with commits).
 * Windows are aligned to the epoch (hourly windows start on the hour, UTC).
 */
export function selectRetained (points: ReadonlyArray<{ id: number, time: number }>, policy: RetentionPolicy): number[] {
  if (points.length === 0) return []
  const newestFirst = [...points].sort((a, b) => b.id - a.id)
  const latest = newestFirst[0]!
  const keep = [latest.id]
  const windows = new Set<number>()
  for (const p of newestFirst.slice(1)) {
    if (keep.length - 1 >= policy.additional) break
    const window = policy.intervalMs === 0 ? p.id : Math.floor(p.time / policy.intervalMs)
    if (windows.has(window)) continue
    windows.add(window)
    keep.push(p.id)
  }
  return keep.sort((a, b) => a - b)
}
