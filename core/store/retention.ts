import { DEFAULT_ADDITIONAL_POINTS, DEFAULT_POINT_INTERVAL_MS, MAX_ADDITIONAL_POINTS } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'

/**
 * Which recovery points a store keeps: always the latest, plus the first
 * point (the lowest id) of each of the `additional` newest `intervalMs`
 * windows that hold points other than the latest. A point kept as the first
 * of its window stays kept until `additional` newer windows hold points: it
 * is never dropped because cycles were frequent (issue 11), only because
 * time went on. Windows without points do not count, so a store whose
 * cycles stopped keeps its points. `intervalMs` 0 keeps the `additional`
 * newest points besides the latest.
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
  if (!Number.isInteger(p.additional) || p.additional < 0 || p.additional > MAX_ADDITIONAL_POINTS) {
    throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `additional recovery points must be an integer from 0 to ${MAX_ADDITIONAL_POINTS}, got ${p.additional}`)
  }
  if (!Number.isFinite(p.intervalMs) || p.intervalMs < 0) {
    throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `recovery point interval must be >= 0 ms, got ${p.intervalMs}`)
  }
}

/**
 * Pure: the ids of the points to keep, ascending. `points` may come in any
 * order; the latest is the one with the highest id (ids grow with commits),
 * and so is "first" in a window the lowest id. Windows are aligned to the
 * epoch (hourly windows start on the hour, UTC).
 */
export function selectRetained (points: ReadonlyArray<{ id: number, time: number }>, policy: RetentionPolicy): number[] {
  if (points.length === 0) return []
  const newestFirst = [...points].sort((a, b) => b.id - a.id)
  const latest = newestFirst[0]!
  // The first (lowest id) point of each window, the latest excluded.
  const firstOf = new Map<number, number>()
  for (const p of newestFirst.slice(1)) {
    const window = policy.intervalMs === 0 ? p.id : Math.floor(p.time / policy.intervalMs)
    const seen = firstOf.get(window)
    if (seen === undefined || p.id < seen) firstOf.set(window, p.id)
  }
  const windows = [...firstOf.keys()].sort((a, b) => b - a).slice(0, policy.additional)
  return [latest.id, ...windows.map(w => firstOf.get(w)!)].sort((a, b) => a - b)
}
