/**
 * The JSON-able values of planned failover (on the primary), reverse
 * replication (on the box that failed over) and salvage copies (on an old
 * primary that became the Replica): docs/failover.md "Planned failover",
 * "Reverse replication", "Salvage"; docs/api.md "Failover". docs/cli.md
 * documents each as a `--json` output.
 */

/** `failoverPlanned` arguments (on the primary). */
export interface PlannedRequest {
  /** Power the VM off when its guest does not shut down within the window; without it the planned failover is refused then, and nothing changed. */
  force?: boolean
  /** The guest's window to shut down, ms (1 s to 1 h; default 5 min). */
  timeoutMs?: number
}

/** `failoverPlannedPlan` arguments: the dry run of `failover planned`, or of `failover cancel` on the primary. */
export interface PlannedPlanRequest extends PlannedRequest {
  action?: 'planned' | 'cancel'
}

/** How long each step of a planned failover took on the primary, ms (null: not reached, or nothing to do). */
export interface PlannedTimings {
  /** The VM's shut-down (guest agent or ACPI, or forced), or the check that a manual VM's disks are free. */
  shutdownMs: number | null
  /** The final cycle: the stopped disks' last changes committed on the Replica. */
  finalCycleMs: number | null
  /** Telling the Replica: it recorded its failover to the final point (term raised). */
  handoverMs: number | null
}

/** A planned failover as its job (`failover-planned`) ends on the primary. */
export interface PlannedInfo {
  relationship: string
  vm: string
  /** The Replica's name (or peer id). */
  replica: string
  /** The term the Replica failed over at. */
  term: number
  /** The final point: its root (as `tandem points` shows it on the Replica) and snapshot time (ISO 8601). */
  point: { root: string, time: string }
  /** Bytes the final cycle sent (0 when a planned failover resumed at its handover). */
  bytesSent: number
  timings: PlannedTimings
  /** What happened and what comes next, in words. */
  reason: string
}

/** What `failover planned` (or `failover cancel` on the primary) would do, checked as the command checks it; nothing done. */
export interface PlannedPlanInfo {
  action: 'planned' | 'cancel'
  relationship: string
  vm: string
  replica: string
  /** The relationship's state and term now, and the Replica's term after the failover. */
  state: string
  term: number
  termAfter: number
  driver: 'qemu' | 'manual'
  /** The VM's state under its driver (`unmanaged` for a manual VM). */
  vmState: string
  /** `shutdown`: the guest is asked to shut down; `stopped`: it does not run; `manual`: its hypervisor is not Tandem's, its disks are checked free. */
  shutdown: 'shutdown' | 'stopped' | 'manual'
  shutdownWindowMs: number
  force: boolean
  /** The newest point the Replica holds (the one before the final cycle), ISO 8601, or null. */
  lastPointTime: string | null
  /** Prepared already: the command goes on at the handover (the final point is on the Replica). */
  resumes: boolean
  /** `cancel`: whether the cancel starts the VM again here (a qemu VM that does not run); always false for `planned`. */
  startsVm: boolean
  /** What the command would do and what could be lost, in plain words, one line each: the CLI's `--dry-run` text and the web page's summary (plan-summary.ts). */
  summary: string[]
}

/** `replicationReverse` arguments (on the box that failed over). */
export interface ReverseRequest {
  /** Stop the VM on the old primary when it still runs there (else the reversal is refused: P2P_VM_RUNNING). */
  force?: boolean
}

/** The last recovery point both boxes hold: the point this box failed over from. */
export interface SharedPointInfo {
  /** Its id in this box's store of the relationship (kept after the reversal: `tandem points PEER/RELATIONSHIP`). */
  id: number
  root: string
  /** Its snapshot time, ISO 8601: what the old primary wrote after it is set aside as a salvage copy. */
  time: string
}

/** The first cycle of a reversed relationship: only the blocks that differ from the old primary's disk. */
export interface ReverseCycleInfo {
  outcome: 'ok' | 'failed'
  /** Bytes sent over the network (frames). */
  bytesSent: number
  /** Bytes of the blocks that differed (blocks x block size). */
  bytesChanged: number
  /** The code of a failed cycle, else null. */
  code: string | null
}

/** A reversal as its job (`replication-reverse`, or a planned failover's `failover` job on the Replica) ends. */
export interface ReverseInfo {
  relationship: string
  vm: string
  /** The old primary, now the Replica: its name (or peer id). */
  replica: string
  term: number
  base: SharedPointInfo | null
  /** The first cycle, or null when it did not end while the job followed it. */
  firstCycle: ReverseCycleInfo | null
  timings: { reverseMs: number | null, firstCycleMs: number | null }
  reason: string
}

/** What `replication reverse` would do, checked as the command checks it; nothing done. */
export interface ReversePlanInfo {
  relationship: string
  vm: string
  /** The old primary (the Replica after): its name, or peer id. */
  replica: string
  state: string
  term: number
  base: SharedPointInfo | null
  force: boolean
  /** This box's disks of the VM, which become the primary's. */
  disks: Array<{ name: string, path: string }>
  /** What the command would do and what could be lost, in plain words, one line each: the CLI's `--dry-run` text and the web page's summary (plan-summary.ts). */
  summary: string[]
}

/**
 * A salvage copy on an old primary that became the Replica: its disks as
 * they were then (what it wrote after the last shared point), kept as a
 * point of the relationship's store outside retention.
 * - `saving`: being written (the new primary's cycles wait for it);
 * - `kept`: listed, restorable, deleted only with `yes`;
 * - `failed`: could not be written (`reason`); the disks are untouched,
 *   and the next daemon start tries again;
 * - `prepared`: an old primary that lost its term kept its disks at once,
 *   before any reversal (docs/failover.md "Salvage"); the reversal takes
 *   it as its copy when the disks are unchanged, `replication resume` or
 *   `remove` drops it. A preparation being written is `saving`.
 */
export interface SalvageInfo {
  /** `<relationship>-<yyyymmddThhmmssZ>`. */
  id: string
  relationship: string
  vm: string
  /** The new primary's peer id. */
  peer: string
  state: 'saving' | 'kept' | 'failed' | 'prepared'
  /** A preparation (`saving`, then `prepared`), not yet a reversal's copy. */
  prepared: boolean
  /** When this box became the Replica (a preparation: when it kept its disks): the disks as they were then (ISO 8601). */
  time: string
  /** The last point both boxes shared (ISO 8601): the copy holds what this box wrote after it. Null when none was shared. */
  since: string | null
  /** The point of the relationship's store that holds the copy (`tandem points PEER/RELATIONSHIP`), or null until kept. */
  point: number | null
  root: string | null
  /** Each disk: its name, size, and the file it was read from. */
  disks: Array<{ name: string, size: number | null, source: string }>
  reason: string
}

/** `salvageRestore` arguments. */
export interface SalvageRestoreRequest {
  /** Absolute path of the raw image file to write. */
  out: string
  /** Which disk (needed when the VM has several). */
  disk?: string
  /** Replace a file at `out`. */
  force?: boolean
}

/** What a finished restore wrote: the disk byte for byte as the salvage copy holds it. */
export interface SalvageRestoreResult {
  id: string
  disk: string
  path: string
  bytes: number
}

/** `salvageDelete` arguments. */
export interface SalvageDeleteRequest {
  /** Confirms the loss: required. */
  yes?: boolean
}

export interface SalvageDeleteResult {
  id: string
  deleted: true
  /** Always false: the point is no longer pinned and leaves the store with its retention (the next committed point prunes it unless the settings keep it). */
  pointDropped: boolean
}
