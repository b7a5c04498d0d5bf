/**
 * When a cycle should quiesce the guest for an app-consistent point
 * (Hyper-V's "app-consistent snapshot frequency"): every `everyHours`
 * hours, counted from the last point that really was app-consistent, so a
 * failed freeze is tried again at the next cycle instead of waiting another
 * period. Pure.
 *
 *   everyHours  0 or undefined: never (crash-consistent points only)
 *   lastApp     time (ms) of the last app-consistent point, or undefined: none yet
 */
export function wantsAppConsistent (policy: { everyHours?: number }, lastApp: number | undefined, now: number): boolean {
  const every = policy.everyHours ?? 0
  if (!Number.isFinite(every) || every < 0) throw new TypeError('everyHours must be a non-negative number')
  if (every === 0) return false
  if (lastApp === undefined) return true
  return now - lastApp >= every * HOUR_MS
}

const HOUR_MS = 3_600_000
