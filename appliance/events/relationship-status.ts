import type { Relationship, RelationshipState } from '../relationships/relationship.ts'
import type { CycleRecord } from './cycle-record.ts'
import { achievedRpo, dataAtRisk, forecast, type AchievedRpo, type DataAtRisk, type Forecast } from './figures.ts'
import { health, type Health, type HealthRule } from './health.ts'
import { DEFAULT_MONITORING_WINDOW_MS, measure, monitoringWindow, type ReplicationMeasure } from './measure.ts'

/** Where one relationship stands now: its state, health and figures in one value (what `replication status` shows). */
export interface RelationshipStatus {
  state: RelationshipState
  /** Why the relationship is in its state. */
  stateReason: string
  health: Health
  healthRule: HealthRule
  /** Why the health is what it is. */
  reason: string
  /** End of the last successful cycle (ms), or null. */
  lastReplicationTime: number | null
  achievedRpo: AchievedRpo
  dataAtRisk: DataAtRisk
  forecast: Forecast
  measure: ReplicationMeasure
}

export interface StatusInput {
  rel: Relationship
  /** The relationship's cycle records, at least those of the monitoring window. */
  cycles: readonly CycleRecord[]
  now: number
  /** Bytes written and not yet on the Replica (VmDriver.pendingBytes); null when the driver cannot tell. */
  pendingBytes: number | null
  windowMs?: number
}

/** Pure: health, achieved RPO, data at risk, forecast and measure of one relationship over the monitoring window ending now. */
export function relationshipStatus ({ rel, cycles, now, pendingBytes, windowMs = DEFAULT_MONITORING_WINDOW_MS }: StatusInput): RelationshipStatus {
  const window = monitoringWindow(now, windowMs)
  const h = health(rel, cycles, now, { windowMs })
  const m = measure(cycles, window, pendingBytes)
  return {
    state: rel.state,
    stateReason: rel.reason,
    health: h.level,
    healthRule: h.rule,
    reason: h.reason,
    lastReplicationTime: rel.lastReplicationAt ?? m.lastReplicationTime,
    achievedRpo: achievedRpo({ lastPointAt: rel.lastPointAt, cycles, frequency: rel.settings.frequency, now, windowStart: window.start }),
    dataAtRisk: dataAtRisk(rel.lastPointAt, pendingBytes, now),
    forecast: forecast({ settings: rel.settings, cycles, lastPointAt: rel.lastPointAt, now }),
    measure: m
  }
}
