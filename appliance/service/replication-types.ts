/**
 * The JSON-able values of the ReplicationApi (replication-api.ts): what
 * `tandem replication ...` sends and shows (docs/cli.md, docs/api.md).
 * Times are ISO 8601 strings, durations milliseconds, sizes bytes.
 */
import type { Health, RelationshipState } from '../../core/types.ts'

/** `replication enable`: the settings as the operator typed them (docs/relationships.md#settings); any left out takes its default. */
export interface ReplicationEnableRequest {
  /** The paired Replica: its peer id or its name (as `pair list` shows them). */
  to: string
  /** `30s`, `5m`, `15m`, `continuous` or any duration from 1s to 1h. */
  frequency?: string
  /** Additional recovery points kept besides the latest. */
  recoveryPoints?: string
  /** A duration, or `none`. */
  appConsistentEvery?: string
  /** Bytes per second (`10M`, `500k`), or `none`. */
  bandwidth?: string
  /** `now`, `at:TIME` (ISO 8601 with a zone), `existing` (diff against the Replica's copy), or `seed:PATH` (an absolute path: a seed is written there, to carry to the Replica; docs/seeds.md). */
  initial?: string
}

/**
 * `replication set`: the settings to change, in the syntax of
 * ReplicationEnableRequest (the same parsers); any left out stays as it is.
 * `initial` is not here: it only means something before the first cycle.
 */
export interface ReplicationUpdateRequest {
  frequency?: string
  recoveryPoints?: string
  appConsistentEvery?: string
  bandwidth?: string
}

/** The settings as stored, in JSON. */
export interface ReplicationSettingsInfo {
  /** ms between cycle starts, or `continuous`. */
  frequency: number | 'continuous'
  recoveryPoints: number
  appConsistentEvery: number | null
  bandwidth: number | null
  /** `now`, `existing`, `at:TIME` or `seed:PATH`. */
  initial: string
}

/** Where one relationship stands (`replication status`). */
export interface ReplicationInfo {
  /** The relationship's id (the VM's name on the primary). */
  relationship: string
  vm: string
  role: 'primary' | 'replica'
  /** The other box's peer id. */
  peer: string
  term: number
  state: RelationshipState
  /** Why the relationship is in its state. */
  stateReason: string
  /** Normal, Warning or Critical, and the rule that decided it (docs/health.md). */
  health: Health
  healthRule: string
  /** Why the health is what it is: one line. */
  reason: string
  /** The error code behind the state, or null. */
  code: string | null
  /** End of the last successful cycle, or null. */
  lastReplicationTime: string | null
  /** Snapshot time of the newest recovery point on the Replica, or null. */
  lastPointTime: string | null
  /** The newest point's age now and at worst in the monitoring window, against the target (docs/health.md#achieved-rpo). */
  achievedRpo: { currentMs: number | null, worstMs: number | null, targetMs: number, met: boolean }
  /** What a failover now would lose (docs/health.md#data-at-risk); `bytes` null when the VM's driver cannot tell. */
  dataAtRisk: { bytes: number | null, seconds: number | null }
  /** "at this change rate and link speed, RPO breach in ~N min" and its cause, or why there is none. */
  forecast: { breachInMs: number | null, cause: string | null, message: string }
  settings: ReplicationSettingsInfo
  /** When the next cycle is due (null while suspended or not scheduled); a cycle in flight is `running`. */
  nextCycleAt: string | null
  running: boolean
  /** The newest seed export job of the relationship since the daemon started (`job(id)` follows it), or null. */
  seedExportJob: string | null
  /** The cycle running now (the initial replication above all): how far it is; null when none runs. */
  progress: CycleProgressInfo | null
}

/** A running cycle's progress (docs/cli.md "tandem replication status"). */
export interface CycleProgressInfo {
  /** `starting` (reading the VM's disks, asking the Replica), then `send DISK` while a disk is compared and sent. */
  phase: string
  /** Bytes of the disks gone through (compared, and sent where they differ) out of all the VM's disk bytes; 0 of 0 while starting. */
  bytesDone: number
  bytesTotal: number
  /** When the cycle began. */
  startedAt: string
  /** Time left at the rate of the last minute (ETA_RATE_WINDOW_MS); null until two samples tell a rate. */
  etaMs: number | null
}

/** Measure-VMReplication's figures over the monitoring window (`replication measure`, docs/health.md#measure). */
export interface ReplicationMeasureInfo {
  relationship: string
  vm: string
  windowStart: string
  windowEnd: string
  successCount: number
  missCount: number
  averageLatencyMs: number | null
  maxLatencyMs: number | null
  averageSizeBytes: number | null
  maxSizeBytes: number | null
  /** Bytes written and not yet on the Replica, now; null when the VM's driver cannot tell (docs/health.md#measure). */
  pendingSizeBytes: number | null
  networkFailureCount: number
  replicationFailureCount: number
  appConsistentFailureCount: number
  lastReplicationTime: string | null
}

/** `replication remove`. */
export interface ReplicationRemoveResult {
  relationship: string
  vm: string
  removed: true
  /** The Replica was told (it keeps its recovery points); false when it could not be reached: it learns at its next contact. */
  replicaTold: boolean
}
