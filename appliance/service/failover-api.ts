import type {
  DrillRequest, DrillScheduleRequest, DrillScreenshot, DrillSettingsInfo, TestFailoverInfo, TestPlanInfo, TestPlanRequest, TestStartRequest, TestStopPlanInfo, TestStopResult
} from './failover-types.ts'
import type { JobInfo } from './job-types.ts'
import type { PlannedPlanInfo, PlannedPlanRequest, PlannedRequest } from './planned-types.ts'
import type { CompleteRequest, FailoverCancelResult, FailoverPlanInfo, FailoverPlanRequest, UnplannedRequest } from './unplanned-types.ts'

/**
 * Test failovers and drills on the Replica (docs/failover.md "Test
 * failover", docs/api.md "Failover"). NAME is a VM name or relationship id
 * held here as Replica. A test never changes the relationship's state:
 * replication goes on committing points while it runs, and the point it
 * runs on is pinned. Every method may be called concurrently; one test per
 * relationship at a time.
 */
export interface FailoverApi {
  /**
   * Starts a test failover: the point (the latest by default) served over
   * NBD, and the throw-away VM `<vm>-test` on qcow2 overlays, its NICs on an
   * isolated network. When this box cannot run the VM (its boot is not
   * known here, or is UEFI) the point is only served and the result lists
   * the NBD URIs. Throws APP_RELATIONSHIP_NOT_FOUND, APP_POINT_NOT_FOUND,
   * APP_INVALID_STATE (a test or drill of the VM runs, the daemon stops),
   * APP_BOOT_FILE_MISSING (the kernel or initrd the VM boots is not on this
   * box), APP_VM_EXISTS (the inventory has a VM named `<vm>-test`),
   * APP_VM_INVALID, APP_VM_START_FAILED, APP_QEMU_IMG_FAILED, APP_USAGE.
   */
  failoverTest: (name: string, request?: TestStartRequest) => Promise<TestFailoverInfo>
  /** What failoverTest (or, with `check`, failoverDrill) would do, checked the same way; nothing is started. Same errors. */
  failoverTestPlan: (name: string, request?: TestPlanRequest) => Promise<TestPlanInfo>
  /**
   * Stops the test: the VM, its overlays and run directory, the serving
   * (the point is unpinned); nothing is left behind. APP_INVALID_STATE when
   * no test runs, or when the test is a drill's (cancel the job instead).
   */
  failoverStopTest: (name: string) => Promise<TestStopResult>
  /** What failoverStopTest would do, checked the same way (same errors); nothing is stopped. */
  failoverStopTestPlan: (name: string) => Promise<TestStopPlanInfo>
  /** The tests running on this box. */
  failoverTests: () => Promise<TestFailoverInfo[]>
  /**
   * A drill as a job: a test failover of the point, a wait for the sign of
   * life, a screenshot, a time, a stop. A drill that saw the sign marks
   * the point proven; one that did not fails with APP_DRILL_FAILED (the
   * reason says why; nothing is marked). Throws what failoverTest throws
   * before the job starts, and APP_VM_NOT_MANAGED when no VM can run here.
   */
  failoverDrill: (name: string, request?: DrillRequest) => Promise<JobInfo>
  /** Sets the relationship's drill settings: a schedule (or `off`), the sign of life, its time limit. APP_SETTING_INVALID, APP_VM_INVALID (a bad serial pattern). */
  failoverDrillSchedule: (name: string, request: DrillScheduleRequest) => Promise<DrillSettingsInfo>
  /**
   * The screenshot `file` of one of the relationship's drill proofs (the
   * file name its proof's `screenshot` ends with), read whole. Only a file
   * a proof names is read: `file` is compared with those names, never
   * joined to a folder. APP_RELATIONSHIP_NOT_FOUND, APP_SCREENSHOT_NOT_FOUND
   * (no proof names it, or its file is gone), APP_SCREENSHOT_INVALID (not a
   * PNG, or over MAX_DRILL_SCREENSHOT_BYTES).
   */
  drillScreenshot: (name: string, file: string) => Promise<DrillScreenshot>

  /**
   * Unplanned failover on the Replica alone (docs/failover.md "Unplanned
   * failover"), as a job (kind `failover`): the term raised (the old
   * primary is refused from then on), then the VM named as the protected
   * VM started on qcow2 overlays over the point served over NBD (seconds,
   * whatever the disks' size), or, when this box cannot run it, the
   * point's disks written as raw files (a copy of the whole disks, with
   * progress). The relationship is then failed-over-waiting-completion.
   * Checked before the job starts: APP_RELATIONSHIP_NOT_FOUND,
   * APP_POINT_NOT_FOUND, APP_USAGE, APP_INVALID_STATE (a state that does
   * not fail over, a failover already there), APP_CONFIRMATION_REQUIRED (a
   * point older than the latest without `yes`), APP_BOOT_FILE_MISSING,
   * APP_VM_EXISTS (an inventory VM of that name), APP_VM_INVALID. A job
   * that fails (APP_VM_START_FAILED, APP_QEMU_IMG_FAILED, a copy's error)
   * leaves nothing: the relationship is back as it was, no point changed.
   */
  failoverUnplanned: (name: string, request?: UnplannedRequest) => Promise<JobInfo>
  /** What `action` would do (`--dry-run`), checked as the command checks it (`yes` aside); nothing is done. */
  failoverPlan: (name: string, request: FailoverPlanRequest) => Promise<FailoverPlanInfo>
  /**
   * Keeps the failover, as a job (kind `failover-complete`): the VM's
   * disks copied out of the served point while it runs (QMP block-stream)
   * until they stand alone, the serving closed, every other point of the
   * relationship dropped (its point is kept: the base of a later
   * failback), the state failed-over; a `files` failover keeps its files.
   * A failover being completed answers its running job. Needs `yes`
   * (APP_CONFIRMATION_REQUIRED). APP_INVALID_STATE (no failover waiting, a
   * test of the VM runs), APP_VM_NOT_RUNNING (start the VM first),
   * APP_SETTING_INVALID (a bad bandwidth); the job: APP_FAILOVER_COPY_FAILED.
   */
  failoverComplete: (name: string, request?: CompleteRequest) => Promise<JobInfo>
  /**
   * Undoes a failover that waits for completion: the VM stopped and its
   * overlays removed (or the files removed), the serving closed, the term
   * back, the state back to replicating. No recovery point changed; what
   * the VM wrote is discarded. APP_INVALID_STATE (no failover, or its
   * job runs: cancel the job first).
   */
  failoverCancel: (name: string) => Promise<FailoverCancelResult>

  /**
   * Planned failover, on the primary (docs/failover.md "Planned failover"),
   * as a job (kind `failover-planned`): the VM shut down (its guest agent or
   * ACPI, within `timeoutMs`; refused rather than powered off unless
   * `force`; a manual VM must be stopped by its hypervisor: its disks are
   * checked free), one last cycle (a stopped disk: the point is exact), the
   * state prepared-for-planned-failover, then the Replica told: it fails
   * over to that point (term + 1), starts the VM, makes its disks local and
   * reverses replication, which makes this box its Replica with no full
   * copy. A prepared relationship goes on at the handover. Checked before
   * the job: APP_RELATIONSHIP_NOT_FOUND (not the primary of it),
   * APP_INVALID_STATE (a state other than replicating or prepared),
   * APP_VM_NOT_FOUND, APP_USAGE (a window out of range). The job fails with
   * APP_VM_STOP_TIMEOUT or APP_DISK_IN_USE (nothing changed: replication
   * goes on), a cycle's code (the VM stays stopped, replication goes on),
   * or the Replica's refusal (P2P_FAILOVER_REFUSED, P2P_PEER_UNREACHABLE...:
   * the relationship stays prepared, with what to run next).
   */
  failoverPlanned: (name: string, request?: PlannedRequest) => Promise<JobInfo>
  /** What `failover planned` (or, with `action: 'cancel'`, `failover cancel` on the primary) would do, checked the same way; nothing is done. */
  failoverPlannedPlan: (name: string, request?: PlannedPlanRequest) => Promise<PlannedPlanInfo>
}
