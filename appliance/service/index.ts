/**
 * The face of appliance/ for the CLI and web/: the ApplianceService, its
 * JSON types, the LocalBox seam the composition root gives the CLI, and the
 * error codes. Nothing else of appliance/ may be imported by cli/ or web/.
 */
export type { ApplianceService } from './appliance-service.ts'
export type { FailoverApi } from './failover-api.ts'
export type {
  DrillInfo, DrillRequest, DrillScreenshot, DrillScheduleRequest, DrillSettingsInfo, DrillSignInfo, ProofInfo, ServedDiskInfo,
  TestFailoverInfo, TestPlanInfo, TestPlanRequest, TestStartRequest, TestStopPlanInfo, TestStopResult, TestTimings
} from './failover-types.ts'
export { MAX_DRILL_SCREENSHOT_BYTES } from './failover-types.ts'
export type {
  CompleteRequest, FailoverCancelResult, FailoverInfo, FailoverKind, FailoverNicInfo, FailoverPhase, FailoverPlanInfo, FailoverPlanRequest, FailoverTimings, UnplannedRequest
} from './unplanned-types.ts'
export type {
  PlannedInfo, PlannedPlanInfo, PlannedPlanRequest, PlannedRequest, PlannedTimings, ReverseCycleInfo, ReverseInfo, ReversePlanInfo, ReverseRequest,
  SalvageDeleteRequest, SalvageDeleteResult, SalvageInfo, SalvageRestoreRequest, SalvageRestoreResult, SharedPointInfo
} from './planned-types.ts'
export type { SalvageApi } from './salvage-api.ts'
export type { SettingsApi } from './settings-api.ts'
export type { SettingsInfo, SettingsUpdateRequest } from './settings-types.ts'
export {
  failoverPlanSummary, plannedPlanSummary, plural, reversePlanSummary, signText, testPlanSummary, testStopPlanSummary, withSummary, type PlanFacts
} from './plan-summary.ts'
export type { JobApi } from './job-api.ts'
export type { JobInfo, JobKind, JobState, SeedExportRequest, SeedExportResult, SeedImportRequest, SeedImportResult } from './job-types.ts'
export type { ReplicationApi } from './replication-api.ts'
export type { CycleProgressInfo, ReplicationEnableRequest, ReplicationInfo, ReplicationMeasureInfo, ReplicationRemoveResult, ReplicationSettingsInfo, ReplicationUpdateRequest } from './replication-types.ts'
export type {
  BoxRole, PairingDoneInfo, PairingSecrets, PairJoinRequest, PairJoinResult, PairOpenRequest, PairOpenResult, PairRemoveResult, PairStatusInfo, PairWindowInfo, PeerInfo, StatusInfo, WebStatusInfo
} from './types.ts'
export type { ReplicaApi } from './replica-api.ts'
export { DEFAULT_EVENTS_SHOWN, MAX_EVENTS_SHOWN, type EventInfo, type EventsRequest, type EventsResult, type PointInfo, type PointsResult, type ReplicaStatusInfo } from './replica-types.ts'
export type { VmApi } from './vm-api.ts'
export type { VmAddRequest, VmBootRequest, VmDiskInfo, VmDriverName, VmInfo, VmNicRequest, VmProtection, VmRemoveResult, VmStateName, VmStopRequest } from './vm-types.ts'
export { MAX_VM_STOP_WINDOW_MS } from './vm-types.ts'
export { DATA_ENV, DEFAULT_DATA_DIR, type InitOptions, type InitResult, type LocalBox } from './local-box.ts'
export { ServiceError, ERROR_CODE_PATTERN, errorCodeOf } from './service-error.ts'
export { AppError, AppErrorCode } from '../errors.ts'
/** Durations in words, as health reasons write them: for the CLI and web to say them the same way. */
export { durationText, rateText } from '../events/figure-text.ts'
