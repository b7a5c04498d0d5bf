/**
 * The JSON-able values of the ReplicaApi (replica-api.ts): what a Replica
 * shows of the relationships it holds, their recovery points, and the event
 * log. docs/cli.md documents each as a `--json` output.
 */
import type { DrillSettingsInfo, ProofInfo, TestFailoverInfo } from './failover-types.ts'
import type { FailoverInfo } from './unplanned-types.ts'

/** One recovery point of a relationship held here as Replica. */
export interface PointInfo {
  id: number
  /** The point's snapshot time (ISO 8601). */
  time: string
  consistency: 'crash' | 'app'
  /** Why a point is crash-consistent when app-consistency was asked for. */
  consistencyNote?: string
  /** Bytes: the sum of its disks' sizes. */
  size: number
  /** The relationship's term when the point was made (0 when not recorded). */
  term: number
  /** Root hash over the disks' roots, hex. */
  root: string
  disks: Array<{ name: string, size: number }>
  /** The newest drill that booted this very point (same id and root); absent when none did. */
  proven?: ProofInfo
}

/** `tandem points NAME`: the points of one relationship this box holds as Replica, oldest first. */
export interface PointsResult {
  relationship: string
  /** The protected VM's name; null for the store of a removed relationship (its record is gone). */
  vm: string | null
  /** The primary's peer id. */
  peer: string
  /** True when the primary removed the relationship: its points are kept until this box's operator deletes them. */
  removed: boolean
  /** The store's directory. */
  store: string
  points: PointInfo[]
}

/** `events` arguments. */
export interface EventsRequest {
  /** A relationship id or a VM name: only its events. */
  name?: string
  /**
   * Only the newest `last` events (default DEFAULT_EVENTS_SHOWN, at most
   * MAX_EVENTS_SHOWN); with `after`, the oldest `last` of those after it,
   * so a reader pages forward with the last seq it got and misses none.
   */
  last?: number
  /**
   * Only events with a larger `seq` (a whole number, 0 or more): what a
   * reader that saw up to `after` has not seen. Seqs only grow (docs/events.md).
   */
  after?: number
  /**
   * Only the events appended after this position of the log: the `cursor`
   * of an earlier answer, or '' for the log's beginning (docs/events.md
   * "Reading from a cursor"). Opaque: never made or changed by a caller.
   * Not with `after`. The log reads only what follows the position (and
   * `last` counts the events read, before `name` picks among them).
   */
  cursor?: string
}

/** Events shown when `last` is not given. */
export const DEFAULT_EVENTS_SHOWN = 200
/** Most events one call returns: at under 1 KiB an event, the answer stays far below the API client's 1 MiB limit. */
export const MAX_EVENTS_SHOWN = 1000

/** One event of the log (docs/events.md), its time as ISO 8601. */
export interface EventInfo {
  seq: number
  time: string
  relationship?: string
  vm?: string
  kind: string
  reason: string
  code?: string
  phase?: 'begin' | 'end'
  begin?: number
  outcome?: 'ok' | 'failed' | 'interrupted'
  data?: Record<string, string | number | boolean | null>
}

/** `tandem events [NAME]`: oldest first, newest last. */
export interface EventsResult {
  events: EventInfo[]
  /** Lines of the log that could not be read (damaged, cut short), skipped. */
  problems: number
  /**
   * Where a reader continues: give it as the next request's `cursor` to
   * get only what is appended after this answer. After a `cursor`
   * request, the position after the last event read; otherwise the log's
   * end as this answer read it (what `after` and `last` left out is not
   * after it).
   */
  cursor: string
  /** With `cursor`: this answer stopped at `last` events or at a read's byte bound; ask again with the new cursor at once. Else false. */
  more: boolean
  /**
   * With `cursor`: the log no longer held that position (rotated twice,
   * truncated or replaced: docs/events.md), so this answer starts again at
   * its oldest event: a reader that built state from events starts it
   * afresh, one that keeps seqs skips those it saw. Else false.
   */
  reset: boolean
}

/** A relationship held here as Replica, from its record alone (no store is opened). */
export interface ReplicaStatusInfo {
  relationship: string
  vm: string
  role: 'replica'
  /** The primary's peer id. */
  peer: string
  term: number
  state: string
  /** Why it is in its state. */
  reason: string
  /**
   * Normal, Warning or Critical from what the Replica knows (docs/health.md's
   * rules on its record: its state, and the newest point's age for `stale`;
   * the primary alone has the cycle records behind the missed-cycle rules).
   */
  health: 'normal' | 'warning' | 'critical'
  /** The rule that decided it (docs/health.md#health-rules). */
  healthRule: string
  /** Why the health is what it is: one line. */
  healthReason: string
  /** Additional recovery points kept besides the latest (the relationship's setting; retention applies it here). */
  recoveryPoints: number
  /** Milliseconds between cycles, or 'continuous'. */
  frequency: number | 'continuous'
  /** Snapshot time of the newest point received (ISO), or null. */
  lastPointTime: string | null
  /** When the last cycle committed here (ISO), or null. */
  lastReplicationTime: string | null
  /** The age of the newest point now, in ms (the RPO achieved so far), or null before the first point. */
  achievedRpoMs: number | null
  /** The VM as its primary described it. */
  vmShape: { driver: 'qemu' | 'manual', vcpus: number, memoryMiB: number, disks: Array<{ name: string, size: number, format: 'raw' | 'qcow2' }> } | null
  /** The test failover running now (it does not change `state`), or null. */
  test: TestFailoverInfo | null
  /** The newest drill's proof: the last point shown to boot, or null. */
  lastProvenPoint: ProofInfo | null
  /** The relationship's drill settings, or null when none were set. */
  drill: DrillSettingsInfo | null
  /** The unplanned failover of the relationship on this box (docs/failover.md "Unplanned failover"), or null. */
  failover: FailoverInfo | null
}
