import type {
  DrillRequest, DrillScheduleRequest, DrillSettingsInfo, TestFailoverInfo, TestPlanInfo, TestPlanRequest, TestStartRequest, TestStopResult
} from './failover-types.ts'
import type { JobInfo } from './job-types.ts'

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
}
