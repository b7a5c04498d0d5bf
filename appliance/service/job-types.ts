/**
 * The JSON-able values of the JobApi (job-api.ts): long work the daemon runs
 * on the operator's behalf (a seed export or import may take hours) and a
 * client follows by asking for the job again (docs/api.md "Jobs",
 * docs/cli.md "tandem seed").
 */
import type { DrillInfo } from './failover-types.ts'
import type { PointInfo } from './replica-types.ts'
import type { PlannedInfo, ReverseInfo, SalvageRestoreResult } from './planned-types.ts'
import type { FailoverInfo } from './unplanned-types.ts'

/**
 * `drill`: a test failover with a sign of life, a screenshot and a proof
 * (docs/failover.md "Drills"). `failover`: an unplanned failover (its VM
 * started, or its raw files written); `failover-complete`: a failover kept
 * (the copy into the VM's own disks): docs/failover.md "Unplanned failover";
 * a planned failover's part on the Replica is a `failover` job too, which
 * goes on to the completion and the reversal. `failover-planned`: a
 * planned failover on the primary; `replication-reverse`: reverse
 * replication on the box that failed over; `salvage-restore`: a salvage
 * copy written out (docs/failover.md "Planned failover", "Reverse
 * replication", "Salvage").
 */
export type JobKind = 'seed-export' | 'seed-import' | 'drill' | 'failover' | 'failover-complete' | 'failover-planned' | 'replication-reverse' | 'salvage-restore'

/** `running` until it ends: `ok`, `failed` (with `error`) or `cancelled` (jobCancel, or the daemon stopping). */
export type JobState = 'running' | 'ok' | 'failed' | 'cancelled'

/** `seed export`: on the primary, a seed of the VM's disks as they are now. */
export interface SeedExportRequest {
  /** Absolute path of the seed file to write (on removable media, say). */
  to: string
  /** Replace an existing file at `to`. */
  force?: boolean
}

/** `seed import`: on the Replica, the seed a primary exported for a relationship held here. */
export interface SeedImportRequest {
  /** Absolute path of the seed file. */
  from: string
}

/** What a finished seed export wrote. */
export interface SeedExportResult {
  path: string
  /** Bytes of the seed file. */
  bytes: number
  /** Distinct non-zero blocks in it. */
  blocks: number
  /** The point's root hash (hex): `points` shows the same root on the Replica once imported. */
  root: string
  /** The point's snapshot time (ISO 8601). */
  time: string
}

/** What a finished seed import committed. */
export interface SeedImportResult {
  relationship: string
  vm: string
  /** The primary's peer id. */
  peer: string
  point: PointInfo
}

export interface JobInfo {
  /** Unique while the daemon runs; jobs are not kept across restarts (the event log keeps their outcome). */
  id: string
  kind: JobKind
  vm: string
  relationship: string | null
  state: JobState
  startedAt: string
  endedAt: string | null
  /** Bytes done of bytes to do (0 of 0 before the size is known). */
  progress: { done: number, total: number }
  /** When the job failed or was cancelled. */
  error: { code: string, message: string } | null
  /** The result of an `ok` seed export, else null. */
  seedExport: SeedExportResult | null
  /** The result of an `ok` seed import, else null. */
  seedImport: SeedImportResult | null
  /** The result of an `ok` drill, else null. */
  drill: DrillInfo | null
  /** The failover after an `ok` `failover` or `failover-complete` job, else null. */
  failover: FailoverInfo | null
  /** The planned failover after an `ok` `failover-planned` job (on the primary), else null. */
  planned: PlannedInfo | null
  /** The reversal after an `ok` `replication-reverse` job, or a planned failover's `failover` job on the Replica, else null. */
  reverse: ReverseInfo | null
  /** What an `ok` `salvage-restore` job wrote, else null. */
  salvageRestore: SalvageRestoreResult | null
}
