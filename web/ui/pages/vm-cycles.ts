/**
 * Pure: the VM page's figures over time, from the event log's cycle end
 * events (docs/events.md "State changes and cycles": the cycle record in
 * `data`, times in ms): each successful cycle's size on the wire, its
 * duration (`end - start`), and the achieved RPO as docs/health.md
 * "Live figures" defines its worst: `b.end - a.start` for consecutive
 * successful cycles a, b, the age the newest point reached just before b's
 * point landed. Failed and interrupted cycles made no point: they are
 * counted, not charted.
 */
import type { EventInfo } from '../../../appliance/service/replica-types.ts'

export interface CycleSample {
  /** The end event's seq: the sample's identity. */
  seq: number
  /** When the cycle committed (ms since the epoch). */
  end: number
  /** Bytes sent (compressed, on the wire). */
  bytesSent: number
  /** Bytes changed on the disks since the previous point. */
  bytesChanged: number
  durationMs: number
  /** The age of the newest point just before this one landed; null for the first cycle known. */
  rpoMs: number | null
}

export interface CycleSeries {
  samples: CycleSample[]
  /** Cycle ends that made no point (failed, interrupted). */
  failed: number
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** The samples of the successful cycle ends among `events` (any order), oldest first. */
export function cycleSeries (events: readonly EventInfo[]): CycleSeries {
  const ends = events.filter(e => e.kind === 'cycle' && e.phase === 'end')
  const ok: Array<{ seq: number, start: number, end: number, bytesSent: number, bytesChanged: number }> = []
  let failed = 0
  for (const e of ends) {
    const d = e.data ?? {}
    if (e.outcome !== 'ok' || !isCount(d.start) || !isCount(d.end) || !isCount(d.bytesSent) || d.end < d.start) { failed += e.outcome === 'ok' ? 0 : 1; continue }
    ok.push({ seq: e.seq, start: d.start, end: d.end, bytesSent: d.bytesSent, bytesChanged: isCount(d.bytesChanged) ? d.bytesChanged : 0 })
  }
  ok.sort((a, b) => a.end - b.end || a.seq - b.seq)
  const samples = ok.map((c, i): CycleSample => ({
    seq: c.seq,
    end: c.end,
    bytesSent: c.bytesSent,
    bytesChanged: c.bytesChanged,
    durationMs: c.end - c.start,
    rpoMs: i === 0 ? null : c.end - ok[i - 1]!.start
  }))
  return { samples, failed }
}

/** The median of `values` (0 for none). */
export function median (values: readonly number[]): number {
  if (values.length === 0) return 0
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/**
 * Seconds shown either side of a chart's only sample: uPlot's own range
 * for one time value is the day after it, the sample drawn on the left
 * edge and the ticks at midnight (00:00).
 */
export const LONE_SAMPLE_SPAN_S = 60

/** A chart's time axis (seconds) over the samples `xs`: uPlot's `min`..`max`, or one sample in the middle of its own span. */
export function timeRange (xs: readonly number[], min: number, max: number): [number, number] {
  return xs.length === 1 ? [xs[0]! - LONE_SAMPLE_SPAN_S, xs[0]! + LONE_SAMPLE_SPAN_S] : [min, max]
}
