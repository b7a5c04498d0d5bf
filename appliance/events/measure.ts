import { cyclesIn, type CycleRecord } from './cycle-record.ts'

/** Hyper-V's default monitoring interval: statistics and health cover the last 12 hours. */
export const DEFAULT_MONITORING_WINDOW_MS = 12 * 60 * 60 * 1000

/**
 * Measure-VMReplication's figures for one monitoring window
 * (docs/health.md#measure). Latencies in ms, sizes in bytes; null where
 * there was nothing to average.
 */
export interface ReplicationMeasure {
  windowStart: number
  windowEnd: number
  /** Cycles that succeeded. */
  successCount: number
  /** Intervals without a point: failed cycles plus the intervals cycles ran past. */
  missCount: number
  averageLatencyMs: number | null
  maxLatencyMs: number | null
  /** Bytes sent by a successful cycle, on average and at most. */
  averageSizeBytes: number | null
  maxSizeBytes: number | null
  /** Bytes written and not yet on the Replica, now (VmDriver.pendingBytes, an upper bound); null when the driver cannot tell. */
  pendingSizeBytes: number | null
  networkFailureCount: number
  replicationFailureCount: number
  /** Cycles that asked for an app-consistent point and got a crash-consistent one. */
  appConsistentFailureCount: number
  /** End of the newest successful cycle, in the window or before it; null when there was none. */
  lastReplicationTime: number | null
}

/** The monitoring window ending now: the last `windowMs`. */
export function monitoringWindow (now: number, windowMs = DEFAULT_MONITORING_WINDOW_MS): { start: number, end: number } {
  return { start: now - windowMs, end: now }
}

/**
 * Pure: the figures of the cycles that ended in `window` (after its start,
 * up to and including its end). `pendingBytes` is what the caller knows is
 * written and unsent (the VM driver's dirty bytes, null when it cannot
 * tell); the cycle records cannot tell it.
 */
export function measure (cycles: readonly CycleRecord[], window: { start: number, end: number }, pendingBytes: number | null): ReplicationMeasure {
  const inWindow = cyclesIn(cycles, window)
  const ok = inWindow.filter(c => c.outcome === 'ok')
  const failed = inWindow.filter(c => c.outcome === 'failed')
  const latencies = ok.map(c => c.end - c.start)
  const sizes = ok.map(c => c.bytesSent)
  const average = (xs: number[]): number | null => xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length
  const max = (xs: number[]): number | null => xs.length === 0 ? null : xs.reduce((a, b) => Math.max(a, b))
  const everOk = cycles.filter(c => c.outcome === 'ok' && c.end <= window.end)
  return {
    windowStart: window.start,
    windowEnd: window.end,
    successCount: ok.length,
    missCount: failed.length + inWindow.reduce((n, c) => n + c.missedIntervals, 0),
    averageLatencyMs: average(latencies),
    maxLatencyMs: max(latencies),
    averageSizeBytes: average(sizes),
    maxSizeBytes: max(sizes),
    pendingSizeBytes: pendingBytes,
    networkFailureCount: failed.filter(c => c.failure === 'network').length,
    replicationFailureCount: failed.filter(c => c.failure !== 'network').length,
    appConsistentFailureCount: inWindow.filter(c => c.appConsistentRequested && !c.appConsistentSucceeded).length,
    lastReplicationTime: max(everOk.map(c => c.end))
  }
}
