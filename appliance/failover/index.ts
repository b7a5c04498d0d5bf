/**
 * Failover on the Replica (docs/failover.md): recovery points served over
 * NBD for a VM to boot from, test failovers on them, and drills that prove
 * a point boots.
 */
export { nbdUri, PointServer, type PointServerInit, type PointServerLog, type PointServing, type ServedDisk } from './point-server.ts'
export { TestFailovers, type RunningTest, type TestFailoversInit, type TestFailoversLog, type TestStartOptions } from './test-failovers.ts'
export { Drills, proofInfo, signText, type DrillsInit, type DrillsLog } from './drills.ts'
export { DrillBook, type Proof } from './drill-book.ts'
export { DrillTimer, type DrillTimerInit } from './drill-timer.ts'
export { checkDrillSign, defaultDrillSettings, nextDrillAt, parseDrillEvery, parseDrillTimeout, type DrillSettings } from './drill-settings.ts'
export { checkBootFiles, testVmPlan, type TestVmPlan } from './test-vm-plan.ts'
export { readTestRecord, testRecordFile, writeTestRecord, type TestRecord } from './test-record.ts'
export { Failovers, type FailoversInit } from './failovers.ts'
export { failoverNics, failoverOverlay, failoverPlan, failoverRawFile, type FailoverPlan } from './failover-plan.ts'
export { readFailoverRecord, writeFailoverRecord, failoverRecordFile, type FailoverRecord } from './failover-record.ts'
export { choosePoint, checkPointId, type PointChoice } from './point-choice.ts'
export { hostBridges } from './host-bridges.ts'
export * from './constants.ts'
