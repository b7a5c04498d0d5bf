/**
 * What the scheduler remembers of one replication cycle, the input of
 * `measure`, the health rules and the live figures (docs/health.md#cycle-records).
 */
import type { Consistency } from '../../core/types.ts'

export interface CycleRecord {
  /** Snapshot time (ms since the epoch): the recovery point's time when the cycle succeeded. */
  start: number
  /** When the cycle committed or gave up (ms). */
  end: number
  outcome: 'ok' | 'failed'
  /** The error code of a failed cycle. */
  code?: string
  /**
   * Why a failed cycle failed: `network` when the link failed (dial, reset,
   * timeout; the cycle resumes), `replication` for anything else (source,
   * store, a refusal by the Replica).
   */
  failure?: 'network' | 'replication'
  /** Bytes that went on the wire (compressed). */
  bytesSent: number
  /** Bytes of the disks that changed since the previous point (uncompressed). */
  bytesChanged: number
  /** Consistency of the point made (meaningful when ok). */
  consistency: Consistency
  /** Intervals that passed while the cycle ran, when no new cycle could start (missedIntervals()). */
  missedIntervals: number
  /** The cycle asked the guest to freeze for an app-consistent point. */
  appConsistentRequested: boolean
  /** The freeze succeeded: the point is app-consistent. */
  appConsistentSucceeded: boolean
}

/** The cycles that ended in the window (after `start`, up to and including `end`). */
export function cyclesIn (cycles: readonly CycleRecord[], window: { start: number, end: number }): CycleRecord[] {
  return cycles.filter(c => c.end > window.start && c.end <= window.end)
}
