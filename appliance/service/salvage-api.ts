import type { JobInfo } from './job-types.ts'
import type { SalvageDeleteRequest, SalvageDeleteResult, SalvageInfo, SalvageRestoreRequest } from './planned-types.ts'

/**
 * Salvage copies on an old primary that became the Replica (docs/failover.md
 * "Salvage"): what it wrote after the last point both boxes shared, kept
 * before anything could overwrite it, as a point of the relationship's
 * store outside retention. Every method may be called concurrently.
 */
export interface SalvageApi {
  /** The salvage copies on this box, oldest first; only `name`'s (a VM name or relationship id) when given. */
  salvageList: (name?: string) => Promise<SalvageInfo[]>
  /**
   * Writes one disk of salvage copy `id` as a raw image file, byte for byte
   * (every block verified as it is read), as a job (`salvage-restore`).
   * Throws APP_SALVAGE_NOT_FOUND, APP_INVALID_STATE (the copy is not kept:
   * being saved, or failed), APP_USAGE (a path that is not absolute, a disk
   * the copy does not have, or none named when it has several); the job
   * fails with CORE_OUTPUT_EXISTS (a file at `out`, without `force`),
   * CORE_BLOCK_CORRUPT, CORE_WRITE_FAILED.
   */
  salvageRestore: (id: string, request: SalvageRestoreRequest) => Promise<JobInfo>
  /**
   * Deletes salvage copy `id`: its point is no longer kept outside
   * retention (dropped at once when retention does not keep it). Needs `yes`
   * (APP_CONFIRMATION_REQUIRED): what the old primary wrote after the
   * shared point is then gone. APP_SALVAGE_NOT_FOUND, APP_INVALID_STATE
   * (being saved).
   */
  salvageDelete: (id: string, request?: SalvageDeleteRequest) => Promise<SalvageDeleteResult>
}
