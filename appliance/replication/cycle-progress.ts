/**
 * How far the running cycle of each relationship is, for status
 * (ReplicationInfo.progress): fed by the sender's progress (the same
 * `Progress` that `tandem replicate --progress` draws), with the ETA from
 * the rate of the last minute (events/figures.ts `eta`). Holds nothing once
 * a cycle ends. Not shared across processes; calls may interleave freely.
 */
import type { Progress } from '../../core/types.ts'
import { ETA_RATE_WINDOW_MS, eta } from '../events/index.ts'
import type { CycleProgressInfo } from '../service/replication-types.ts'

/** Samples kept per cycle: the sender reports every batch (~4 MiB), so a fast link would otherwise pile up a minute of them; the rate needs only the window's ends. */
export const MAX_PROGRESS_SAMPLES = 256

/** The phase before the sender's first report: the driver's disk views, the Replica's manifests. */
export const STARTING_PHASE = 'starting'

interface Running {
  startedAt: number
  phase: string
  done: number
  total: number
  samples: Array<{ time: number, done: number }>
}

export class CycleProgress {
  private readonly now: () => number
  private readonly running = new Map<string, Running>()

  constructor (now: () => number) { this.now = now }

  /** A cycle of `id` begins (replacing any left from one that did not say it ended). */
  begin (id: string): void {
    this.running.set(id, { startedAt: this.now(), phase: STARTING_PHASE, done: 0, total: 0, samples: [] })
  }

  /** The sender's report; ignored when no cycle of `id` runs. */
  report (id: string, p: Progress): void {
    const r = this.running.get(id)
    if (r === undefined) return
    const time = this.now()
    r.phase = p.phase
    r.done = p.done
    r.total = p.total
    // Samples older than the window tell nothing of the rate now (a resumed cycle starts with a jump).
    const keepFrom = time - ETA_RATE_WINDOW_MS
    while (r.samples.length > 0 && (r.samples[0]!.time < keepFrom || r.samples.length >= MAX_PROGRESS_SAMPLES)) r.samples.shift()
    r.samples.push({ time, done: p.done })
  }

  end (id: string): void {
    this.running.delete(id)
  }

  /** Where the cycle of `id` stands, or null when none runs. */
  info (id: string): CycleProgressInfo | null {
    const r = this.running.get(id)
    if (r === undefined) return null
    const seconds = r.total > 0 ? eta(r.total, r.samples).seconds : null
    return {
      phase: r.phase,
      bytesDone: r.done,
      bytesTotal: r.total,
      startedAt: new Date(r.startedAt).toISOString(),
      etaMs: seconds === null ? null : Math.round(seconds * 1000)
    }
  }
}
