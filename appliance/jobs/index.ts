export { JobRegistry, MAX_ENDED_JOBS, type JobContext, type JobResult, type JobSpec } from './job-registry.ts'
