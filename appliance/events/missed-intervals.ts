import type { Frequency } from '../relationships/settings.ts'

/**
 * Pure: how many scheduled cycle starts a cycle ran past. Cycles of one VM
 * never overlap, so every tick of the schedule that falls while a cycle
 * still runs is an interval missed: with frequency F and a cycle from
 * `start` to `end`, the ticks at start + kF (k >= 1) strictly before `end`,
 * that is ceil((end - start) / F) - 1 (0 for a cycle within its interval).
 * `continuous` has no schedule and misses nothing; a clock that went
 * backwards (end < start) misses nothing.
 */
export function missedIntervals (frequency: Frequency, start: number, end: number): number {
  if (frequency === 'continuous') return 0
  if (!Number.isSafeInteger(frequency) || frequency <= 0) throw new TypeError(`frequency must be a positive number of ms, got ${frequency}`)
  const took = end - start
  return took <= 0 ? 0 : Math.ceil(took / frequency) - 1
}
