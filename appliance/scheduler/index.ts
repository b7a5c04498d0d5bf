/**
 * The scheduler: when each relationship's cycles run (docs/scheduler.md).
 * It knows nothing of what a cycle does: the daemon passes `runCycle` and
 * turns each CycleReport into relationship events and figures.
 */
export { Scheduler, type SchedulerInit } from './scheduler.ts'
export { RelationshipSchedule, type CycleReport, type RelationshipScheduleInit } from './relationship-schedule.ts'
export { CycleSlots } from './cycle-slots.ts'
export { systemClock, type Clock } from './clock.ts'
export { isNetworkFailure, nextCycle, retryDelay, type FrequencyMs, type NextCycle } from './plan.ts'
export { CONTINUOUS_PAUSE_MS, MAX_CONCURRENT_CYCLES, RETRY_FACTOR, RETRY_INITIAL_MS, RETRY_MAX_MS } from './constants.ts'
