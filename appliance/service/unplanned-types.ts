/**
 * The JSON-able values of the FailoverApi's unplanned failover, its
 * completion and its cancel, on the Replica alone (docs/failover.md
 * "Unplanned failover", "Complete and cancel"; docs/api.md "Failover").
 * docs/cli.md documents each as a `--json` output.
 */
import type { PointInfo } from './replica-types.ts'

/**
 * How the failover makes the point's data available here:
 * - `vm`: the VM runs under this box's QEMU, its disks qcow2 overlays over
 *   the served point (a VM whose boot this box knows: BIOS, or a kernel);
 * - `files`: no VM runs; each disk is a raw file, byte for byte the point,
 *   for a hypervisor Tandem does not run (a manual-driver VM that names no
 *   kernel, a UEFI VM).
 */
export type FailoverKind = 'vm' | 'files'

/**
 * Where a failover of a relationship stands (its record on this box):
 * - `starting`: the term raised, the VM being started (or a crash left it so);
 * - `materializing`: the raw files being written (`files`; a job);
 * - `running`: failed over, waiting for complete or cancel;
 * - `completing`: the data being copied into the VM's own disks (a job);
 * - `cancelling`: being undone.
 */
export type FailoverPhase = 'starting' | 'materializing' | 'running' | 'completing' | 'cancelling'

/** How long each step of a failover took, in ms (null for a step it did not have, or has not reached). */
export interface FailoverTimings {
  /** Recording the failover: the term raised, durably, once no cycle of the old primary can commit. */
  termMs: number | null
  /** Pinning the point and serving its disks over NBD. */
  serveMs: number | null
  /** The qcow2 overlays over the served disks. */
  overlayMs: number | null
  /** From the VM's start command until QEMU reported it running. */
  startMs: number | null
  /** Writing the raw files (`files`). */
  copyMs: number | null
}

/** One NIC of the failover VM, and why it differs from the primary's when it does. */
export interface FailoverNicInfo {
  id: string
  /** `user`, `isolated`, `bridge`, or `none` (no NIC). */
  mode: string
  bridge: string | null
  mac: string | null
  /** Why this NIC is not as on the primary (a bridge this box lacks...), or null. */
  warning: string | null
}

/** A failover of a relationship held here as Replica (one at a time per relationship). */
export interface FailoverInfo {
  relationship: string
  vm: string
  kind: FailoverKind
  phase: FailoverPhase
  /** The recovery point the VM runs from (`vm`) or the files hold (`files`). */
  point: PointInfo
  /** The relationship's term since the failover. */
  term: number
  /** When the failover started (ISO 8601). */
  since: string
  /** The VM's state (`vm`: the qemu driver's), or null (`files`). */
  vmState: string | null
  /** The VM's disks on this box: its overlays (`vm`, the VM's own disks once completed) or the raw files (`files`). */
  disks: Array<{ name: string, path: string }>
  nics: FailoverNicInfo[]
  /** The running job of a `materializing` or `completing` failover, or null. */
  job: string | null
  timings: FailoverTimings
  /** A planned failover's part on this box (its primary handed it over; the reversal follows the completion), not an unplanned one. */
  planned: boolean
  /** What happened last and what to run next, in words. */
  reason: string
}

/** `failoverUnplanned` arguments. */
export interface UnplannedRequest {
  /** A recovery point id held here (`tandem points NAME`); the latest by default. */
  point?: number
  /** Confirms a loss: required when `point` is not the latest (the newer points are dropped at complete). */
  yes?: boolean
}

/** `failoverComplete` arguments. */
export interface CompleteRequest {
  /** Confirms the loss: required (every other point of the relationship is dropped). */
  yes?: boolean
  /** The copy's speed limit, as the operator types it (`50M`, `10Mi`: docs/relationships.md#settings, bandwidth), or none. */
  bandwidth?: string
}

/** `failoverPlan` arguments: which command's dry run, and (for `unplanned`) the point. */
export interface FailoverPlanRequest {
  action: 'unplanned' | 'complete' | 'cancel'
  point?: number
}

/** What a failover command would do (`--dry-run`), checked as the command checks it; nothing done. */
export interface FailoverPlanInfo {
  action: 'unplanned' | 'complete' | 'cancel'
  relationship: string
  vm: string
  /** The relationship's state now. */
  state: string
  /** Its term now, and after the command. */
  term: number
  termAfter: number
  kind: FailoverKind
  point: PointInfo
  /** The point is the newest held here. */
  latest: boolean
  /** Points held here newer than `point`: dropped at complete. */
  newerPoints: number
  /** Every point complete would drop (all but `point`). */
  dropAtComplete: number
  /** The VM's shape here (`vm`): vCPUs, memory, boot; null for `files`. */
  vcpus: number | null
  memoryMiB: number | null
  boot: 'bios' | 'kernel' | null
  disks: Array<{ name: string, path: string, size: number }>
  nics: FailoverNicInfo[]
  /** Why no VM runs (`files`), or null. */
  note: string | null
  /** Whether the command needs `yes` (it loses data). */
  needsYes: boolean
  /** What the command would do and what could be lost, in plain words, one line each: the CLI's `--dry-run` text and the web page's summary (plan-summary.ts). */
  summary: string[]
}

/** What cancel did. */
export interface FailoverCancelResult {
  relationship: string
  vm: string
  /** The failover's point (on the Replica), or null (a planned failover cancelled on the primary). */
  point: number | null
  /** The term after the cancel (the one before the failover). */
  term: number
  /** `planned`: a prepared planned failover cancelled on the primary (replication goes on from it). */
  kind: FailoverKind | 'planned'
  /**
   * Always true. On the Replica: the VM stopped (or the files removed), its
   * disks removed, the serving closed; no recovery point changed. On the
   * primary: back to replicating, the VM started again unless the Replica
   * took the failover already (`vmStarted`).
   */
  cancelled: true
  /** On the primary: whether the VM was started again here (a qemu VM the Replica did not take over); else null. */
  vmStarted: boolean | null
}
