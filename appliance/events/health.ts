import type { Health } from '../../core/types.ts'
import type { Relationship } from '../relationships/relationship.ts'
import type { Frequency } from '../relationships/settings.ts'
import { cyclesIn, type CycleRecord } from './cycle-record.ts'
import { durationText } from './figure-text.ts'
import { DEFAULT_MONITORING_WINDOW_MS, monitoringWindow } from './measure.ts'

export type { Health }

/** Which rule decided (docs/health.md#health-rules): for tools and tests; the reason is for people. */
export type HealthRule =
  | 'error' | 'resync-required' | 'stale' | 'missed-critical'
  | 'suspended' | 'initial-pending' | 'resynchronizing' | 'failover-pending' | 'missed-warning'
  | 'not-enabled' | 'failed-over' | 'ok'

export interface HealthReport {
  level: Health
  rule: HealthRule
  /** One line an operator understands. */
  reason: string
}

/** Hyper-V's rule: more than 20% of the cycles in the monitoring window missed is Warning. */
export const WARNING_MISSED_FRACTION = 0.2
/** Tandem's rule (Hyper-V states none): more than half of the cycles missed is Critical. */
export const CRITICAL_MISSED_FRACTION = 0.5
/** Hyper-V's rule: no replication for an hour is Critical (in the Hyper-V management pack, "out of sync by more than an hour"). */
export const STALE_AFTER_MS = 60 * 60 * 1000

export interface HealthOptions {
  /** The monitoring window the missed-cycle rules look at; DEFAULT_MONITORING_WINDOW_MS. */
  windowMs?: number
}

/** How long without a point is Critical: an hour, or two intervals when the frequency is longer than half an hour. */
export function staleAfterMs (frequency: Frequency): number {
  return frequency === 'continuous' ? STALE_AFTER_MS : Math.max(STALE_AFTER_MS, 2 * frequency)
}

/** Missed intervals as a fraction of all intervals (missed and successful) in the window; 0 when nothing ran. */
function missedFraction (cycles: readonly CycleRecord[]): { fraction: number, missed: number, all: number } {
  const ok = cycles.filter(c => c.outcome === 'ok').length
  const missed = cycles.reduce((n, c) => n + c.missedIntervals + (c.outcome === 'failed' ? 1 : 0), 0)
  const all = ok + missed
  return { fraction: all === 0 ? 0 : missed / all, missed, all }
}

const withCode = (rel: Relationship): string => rel.code === undefined ? rel.reason : `${rel.reason} (${rel.code})`

/**
 * Pure: the relationship's health now (docs/health.md#health-rules), from
 * its state and the cycles of the monitoring window. The first matching
 * rule wins, Critical rules before Warning rules:
 *
 * Critical: state `error`; state `resynchronization-required`; replicating
 * or resynchronizing with no point for staleAfterMs; more than
 * CRITICAL_MISSED_FRACTION of the intervals missed.
 * Warning: suspended; initial replication not finished; resynchronizing; a
 * failover prepared or not completed; more than WARNING_MISSED_FRACTION missed.
 * Normal: anything else (not enabled, failed over, replicating well).
 */
/** Why initial replication has not finished, with the next step when a seed carries it (docs/seeds.md). */
function initialPendingReason (rel: Relationship): string {
  const initial = rel.settings.initial
  if (typeof initial !== 'object' || !('seed' in initial)) return 'initial replication has not finished'
  if (rel.seedExportedAt === undefined) return `initial replication from a seed: no seed is written yet (tandem seed export ${rel.vm} --to ${initial.seed})`
  return `initial replication from a seed: waiting for the seed written at ${new Date(rel.seedExportedAt).toISOString()} to be imported on the Replica (tandem seed import --from PATH there)`
}

export function health (rel: Relationship, cycles: readonly CycleRecord[], now: number, options: HealthOptions = {}): HealthReport {
  const windowMs = options.windowMs ?? DEFAULT_MONITORING_WINDOW_MS
  const active = rel.state === 'replicating' || rel.state === 'resynchronizing'
  const recent = cyclesIn(cycles, monitoringWindow(now, windowMs))
  const missed = active ? missedFraction(recent) : { fraction: 0, missed: 0, all: 0 }
  const missedText = `${Math.round(missed.fraction * 100)}% of cycles missed in the last ${durationText(windowMs)} (${missed.missed} of ${missed.all})`
  const newest = rel.lastPointAt ?? rel.initialDoneAt
  const age = newest === undefined ? undefined : now - newest
  const stale = staleAfterMs(rel.settings.frequency)

  switch (rel.state) {
    case 'error': return { level: 'critical', rule: 'error', reason: `replication stopped on an error: ${withCode(rel)}` }
    case 'resynchronization-required': return { level: 'critical', rule: 'resync-required', reason: withCode(rel) }
  }
  if (active && age !== undefined && age > stale) return { level: 'critical', rule: 'stale', reason: `no replication for ${durationText(age)}: the newest recovery point is older than ${durationText(stale)}` }
  if (missed.fraction > CRITICAL_MISSED_FRACTION) return { level: 'critical', rule: 'missed-critical', reason: missedText }

  switch (rel.state) {
    case 'suspended': return { level: 'warning', rule: 'suspended', reason: `replication is suspended: ${rel.reason}` }
    case 'waiting-initial-replication': return { level: 'warning', rule: 'initial-pending', reason: initialPendingReason(rel) }
    case 'resynchronizing': return { level: 'warning', rule: 'resynchronizing', reason: 'resynchronizing: the Replica is being brought back in step' }
    case 'prepared-for-planned-failover': return { level: 'warning', rule: 'failover-pending', reason: 'a planned failover is prepared: fail over on the Replica, or cancel it' }
    case 'failed-over-waiting-completion': return { level: 'warning', rule: 'failover-pending', reason: 'failed over and not completed: complete or cancel the failover' }
    case 'not-enabled': return { level: 'normal', rule: 'not-enabled', reason: 'replication is not enabled' }
    case 'failed-over': return { level: 'normal', rule: 'failed-over', reason: 'failed over: the VM runs on this box' }
  }
  if (missed.fraction > WARNING_MISSED_FRACTION) return { level: 'warning', rule: 'missed-warning', reason: missedText }
  return { level: 'normal', rule: 'ok', reason: age === undefined ? 'replicating' : `replicating; the newest recovery point is ${durationText(age)} old` }
}
