/**
 * The retention rule in force, and what a prune did, in words, as
 * `replicate` and `prune` print them
 * (docs/cli.md, "Retention"). Pure. The rule itself is core's
 * `selectRetained` (core/store/retention.ts).
 */
import type { PruneReport, RetentionPolicy } from '../../core/index.ts'
import { formatBytes, plural } from './format.ts'

const NAMED: Array<{ ms: number, one: string }> = [
  { ms: 86_400_000, one: 'day' },
  { ms: 3_600_000, one: 'hour' },
  { ms: 60_000, one: 'minute' },
  { ms: 1000, one: 'second' }
]

/**
 * `keeping the latest point and one per hour (the first of each hour) for
 * the last 24 hours that have points`; `keeping only the latest point`;
 * `keeping the latest point and the 5 newest before it`.
 */
export function retentionRule (p: RetentionPolicy): string {
  if (p.additional === 0) return 'keeping only the latest point'
  if (p.intervalMs === 0) return `keeping the latest point and the ${p.additional === 1 ? 'newest point' : `${p.additional} newest points`} before it`
  const named = NAMED.find(u => u.ms === p.intervalMs)
  const window = named?.one ?? `${compactDuration(p.intervalMs)} window`
  const span = p.additional === 1 ? `${window} that has points` : `${plural(p.additional, window)} that have points`
  return `keeping the latest point and one per ${window} (the first of each ${window}) for the last ${span}`
}

/** `1h30m`, `90s`, `250ms`: the form `--interval` takes. */
export function compactDuration (ms: number): string {
  let rest = ms
  let out = ''
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size)
    if (n > 0) { out += `${n}${unit}`; rest -= n * size }
  }
  return out === '' ? '0' : out
}

/** `removed 1 point (2), freed 4.0 MiB on disk, 1.0 MiB unreferenced until a repack`, or `removed no point, ...`. */
export function prunedText (r: PruneReport): string {
  const removed = r.removedPoints.length === 0 ? 'removed no point' : `removed ${plural(r.removedPoints.length, 'point')} (${r.removedPoints.join(', ')})`
  return `${removed}, freed ${formatBytes(r.freedBytes)} on disk, ${formatBytes(r.unreferencedBytes)} unreferenced until a repack`
}
