import type { JobInfo, SeedExportRequest, SeedImportRequest } from './job-types.ts'

/**
 * Long work the daemon runs in the background (docs/api.md "Jobs"): each
 * call that starts one returns at once with the job running; the caller
 * follows it with `job(id)` until its state is no longer `running`, and may
 * cancel it. A cancelled or failed job leaves nothing half-done behind (a
 * seed file is complete or absent; an import commits a point or nothing).
 */
export interface JobApi {
  /**
   * On the primary, writes a seed of VM `name`'s disks (one point in time)
   * for the initial replication of its relationship, which must be waiting
   * for initial replication with `--initial seed:PATH`. Throws
   * APP_RELATIONSHIP_NOT_FOUND, APP_INVALID_STATE (initial replication
   * done, or a seed export of the VM already running), APP_USAGE (a path
   * that is not absolute); the job fails with CORE_OUTPUT_EXISTS (a file
   * there, without `force`), CORE_WRITE_FAILED (a full disk...) or the
   * driver's errors.
   */
  seedExport: (name: string, request: SeedExportRequest) => Promise<JobInfo>
  /**
   * On the Replica, imports a seed as the first recovery point of the
   * relationship the seed names. Throws APP_USAGE; the job fails with
   * CORE_SEED_* (a bad seed), APP_SEED_MISMATCH (its relationship is not
   * held here from that primary), APP_SEED_NO_ORIGIN (a seed of a bare
   * store), APP_INVALID_STATE (the relationship already has points).
   */
  seedImport: (request: SeedImportRequest) => Promise<JobInfo>
  /** The job `id` (APP_JOB_NOT_FOUND when this daemon never ran it, or forgot it: the newest 100 ended jobs are kept). */
  job: (id: string) => Promise<JobInfo>
  /** The jobs of this daemon, oldest first. */
  jobs: () => Promise<JobInfo[]>
  /** Asks a running job to stop; resolves once it has ended (a job that ended already is returned as it is). */
  jobCancel: (id: string) => Promise<JobInfo>
}
