/**
 * The salvage copies an operator sees (docs/failover.md "Salvage"):
 * listed, restored as raw image files (a job, every block verified as it is
 * read), deleted only with `yes`. The copies themselves are written by the
 * demotion (demotion.ts) and recorded in the SalvageBook.
 */
import { stat } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { CoreError, CoreErrorCode } from '../../core/errors.ts'
import { DISK_NAME_PATTERN } from '../../core/constants.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import type { EventLog } from '../events/index.ts'
import type { JobRegistry } from '../jobs/index.ts'
import type { JobInfo, SalvageDeleteRequest, SalvageDeleteResult, SalvageInfo, SalvageRestoreRequest } from '../service/index.ts'
import { salvageInfo, type SalvageBook } from './salvage-book.ts'

export interface SalvagesInit {
  book: SalvageBook
  /** ReplicaSide.materializePoint: the point's disks written as raw files (pinned and held meanwhile). */
  materialize: (name: string, pointId: number, disks: ReadonlyArray<{ disk: string, out: string }>, options: { signal?: AbortSignal, onProgress?: (done: number, total: number) => void }) => Promise<void>
  jobs: JobRegistry
  events: EventLog
}

export class Salvages {
  private readonly init: SalvagesInit

  constructor (init: SalvagesInit) {
    this.init = init
  }

  /** SalvageApi.salvageList. */
  list (name?: string): SalvageInfo[] {
    if (name !== undefined && !DISK_NAME_PATTERN.test(name)) throw new AppError(AppErrorCode.APP_USAGE, `${name.slice(0, 80)} is not a VM name or relationship id`)
    return this.init.book.list().filter(r => name === undefined || r.vm === name || r.relationship === name).map(salvageInfo)
  }

  /** SalvageApi.salvageRestore. */
  async restore (id: string, request: SalvageRestoreRequest): Promise<JobInfo> {
    const r = this.init.book.get(id)
    if (r.state !== 'kept' || r.point === null) throw new AppError(AppErrorCode.APP_INVALID_STATE, `salvage copy ${id} is ${r.state}: only a kept copy is restored`, { details: { state: r.state } })
    if (!isAbsolute(request.out) || request.out.includes('\0')) throw new AppError(AppErrorCode.APP_USAGE, `${request.out.slice(0, 200)} is not an absolute path`)
    const names = r.disks.map(d => d.name)
    const disk = request.disk ?? (names.length === 1 ? names[0]! : undefined)
    if (disk === undefined) throw new AppError(AppErrorCode.APP_USAGE, `salvage copy ${id} has ${names.length} disks (${names.join(', ')}): name one with --disk`)
    if (!names.includes(disk)) throw new AppError(AppErrorCode.APP_USAGE, `salvage copy ${id} has no disk ${disk.slice(0, 80)} (it has ${names.join(', ')})`)
    const point = r.point
    return await this.init.jobs.start({
      kind: 'salvage-restore',
      vm: r.vm,
      relationship: r.relationship,
      reason: `restoring disk ${disk} of salvage copy ${id} to ${request.out}`,
      work: async ctx => {
        if (request.force !== true && await stat(request.out).then(() => true, () => false)) {
          throw new CoreError(CoreErrorCode.CORE_OUTPUT_EXISTS, `${request.out} exists: add --force to replace it`)
        }
        await this.init.materialize(`${r.peer}/${r.relationship}`, point, [{ disk, out: request.out }], { signal: ctx.signal, onProgress: ctx.progress })
        const bytes = (await stat(request.out)).size
        return {
          result: { kind: 'salvage-restore', result: { id, disk, path: request.out, bytes } },
          reason: `disk ${disk} of salvage copy ${id} written to ${request.out} (${bytes} bytes, every block verified)`,
          data: { id, disk, bytes }
        }
      }
    })
  }

  /** SalvageApi.salvageDelete: the record goes; its point is left to the store's retention (no longer pinned). */
  async delete (id: string, request: SalvageDeleteRequest = {}): Promise<SalvageDeleteResult> {
    const r = this.init.book.get(id)
    if (r.state === 'saving') throw new AppError(AppErrorCode.APP_INVALID_STATE, `salvage copy ${id} is being written: delete it once it is kept`, { details: { state: r.state } })
    if (request.yes !== true) {
      throw new AppError(AppErrorCode.APP_CONFIRMATION_REQUIRED, r.prepared
        ? `salvage copy ${id} is a preparation (the disks of ${r.vm}, still untouched, kept for a faster reverse): deleting it loses nothing now, but the reverse will copy the disks again; add --yes to delete it`
        : `deleting salvage copy ${id} loses what this box wrote to ${r.vm} after the last shared point${r.base === null ? '' : ` (${new Date(r.base.time).toISOString()})`}; add --yes to delete it`)
    }
    await this.init.book.remove(id)
    await this.init.events.append({ kind: 'salvage', relationship: r.relationship, vm: r.vm, reason: `salvage copy ${id} deleted by the operator: its point ${r.point ?? '-'} is no longer kept outside retention`, data: { id } })
      .catch(() => undefined)
    return { id, deleted: true, pointDropped: false }
  }
}
