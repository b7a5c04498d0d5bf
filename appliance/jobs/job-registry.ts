/**
 * The daemon's long work, as jobs (docs/api.md "Jobs"): each runs in the
 * background with its own AbortController and progress, is a begin / end
 * pair in the event log, and stays queryable after it ended (the newest
 * MAX_ENDED_JOBS). Jobs live in memory only: a daemon stop cancels the
 * running ones, and the event log closes a crash's as interrupted.
 */
import { randomBytes } from 'node:crypto'
import { AppError, AppErrorCode } from '../errors.ts'
import type { EventData, EventLog } from '../events/index.ts'
import type { DrillInfo } from '../service/failover-types.ts'
import type { JobInfo, JobKind, SeedExportResult, SeedImportResult } from '../service/job-types.ts'
import type { PlannedInfo, ReverseInfo, SalvageRestoreResult } from '../service/planned-types.ts'
import type { FailoverInfo } from '../service/unplanned-types.ts'

/** Ended jobs kept for `job(id)`: a client that follows its job asks within seconds; 100 covers a busy day. */
export const MAX_ENDED_JOBS = 100

/** What a job's work gets: its id, its signal (cancel, daemon stop) and where to report progress. */
export interface JobContext {
  id: string
  signal: AbortSignal
  progress: (done: number, total: number) => void
}

/** A job's result, by kind. */
export type JobResult =
  | { kind: 'seed-export', result: SeedExportResult }
  | { kind: 'seed-import', result: SeedImportResult }
  | { kind: 'drill', result: DrillInfo }
  | { kind: 'failover', result: FailoverInfo }
  | { kind: 'planned', result: PlannedInfo }
  | { kind: 'reverse', result: ReverseInfo }
  | { kind: 'salvage-restore', result: SalvageRestoreResult }

export interface JobSpec {
  kind: JobKind
  vm: string
  relationship?: string
  /** The begin event's reason: one line saying what runs. */
  reason: string
  /** The work. Resolves to the result and the end event's reason; throws a coded error to fail. */
  work: (ctx: JobContext) => Promise<{ result: JobResult, reason: string, data?: EventData }>
}

interface Job {
  info: JobInfo
  controller: AbortController
  done: Promise<void>
}

const iso = (ms: number): string => new Date(ms).toISOString()
const codeOf = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : AppErrorCode.APP_UNEXPECTED
}

export class JobRegistry {
  private readonly jobs = new Map<string, Job>()
  private readonly events: EventLog
  private readonly now: () => number
  private stopped = false

  constructor (init: { events: EventLog, now: () => number }) {
    this.events = init.events
    this.now = init.now
  }

  /** The running job of `kind` for VM `vm`, if any (one of each per VM at a time is the callers' rule). */
  running (kind: JobKind, vm: string): JobInfo | undefined {
    for (const j of this.jobs.values()) if (j.info.kind === kind && j.info.vm === vm && j.info.state === 'running') return copy(j.info)
    return undefined
  }

  /** Starts `spec.work` in the background once its begin event is logged; returns the running job. */
  async start (spec: JobSpec): Promise<JobInfo> {
    if (this.stopped) throw new AppError(AppErrorCode.APP_INVALID_STATE, 'the daemon is stopping')
    const begin = await this.events.begin({ vm: spec.vm, ...(spec.relationship === undefined ? {} : { relationship: spec.relationship }), kind: spec.kind, reason: spec.reason })
    const controller = new AbortController()
    const info: JobInfo = {
      id: randomBytes(6).toString('hex'),
      kind: spec.kind,
      vm: spec.vm,
      relationship: spec.relationship ?? null,
      state: 'running',
      startedAt: iso(this.now()),
      endedAt: null,
      progress: { done: 0, total: 0 },
      error: null,
      seedExport: null,
      seedImport: null,
      drill: null,
      failover: null,
      planned: null,
      reverse: null,
      salvageRestore: null
    }
    const progress = (done: number, total: number): void => { info.progress = { done, total } }
    // The job shows its end (state, result, endedAt together) only once its end is in the log.
    const done = (async () => {
      const ended: Partial<JobInfo> = {}
      try {
        const { result, reason, data } = await spec.work({ id: info.id, signal: controller.signal, progress })
        if (result.kind === 'seed-export') ended.seedExport = result.result
        else if (result.kind === 'seed-import') ended.seedImport = result.result
        else if (result.kind === 'drill') ended.drill = result.result
        else if (result.kind === 'planned') ended.planned = result.result
        else if (result.kind === 'reverse') ended.reverse = result.result
        else if (result.kind === 'salvage-restore') ended.salvageRestore = result.result
        else ended.failover = result.result
        ended.state = 'ok'
        await this.events.end(begin.seq, { outcome: 'ok', reason, ...(data === undefined ? {} : { data }) }).catch(() => {})
      } catch (err) {
        const cancelled = controller.signal.aborted
        ended.state = cancelled ? 'cancelled' : 'failed'
        ended.error = { code: codeOf(err), message: cancelled ? 'cancelled' : (err as Error).message ?? String(err) }
        // the message is the why (a drill's says what it saw): the event keeps it, cut to one line
        await this.events.end(begin.seq, { outcome: 'failed', code: ended.error.code, reason: cancelled ? `${spec.kind} cancelled` : `${spec.kind} failed: ${ended.error.code}: ${ended.error.message}` }).catch(() => {})
      }
      Object.assign(info, ended, { endedAt: iso(this.now()) })
      this.forgetOld()
    })()
    this.jobs.set(info.id, { info, controller, done })
    return copy(info)
  }

  /** Resolves with the job once it has ended (its end event logged); APP_JOB_NOT_FOUND for an unknown id. */
  async wait (id: string): Promise<JobInfo> {
    const job = this.job(id)
    await job.done
    return copy(job.info)
  }

  get (id: string): JobInfo {
    return copy(this.job(id).info)
  }

  list (): JobInfo[] {
    return [...this.jobs.values()].map(j => copy(j.info))
  }

  /** Aborts a running job and waits for its end; an ended job is returned as it is. */
  async cancel (id: string): Promise<JobInfo> {
    const job = this.job(id)
    job.controller.abort(new AppError(AppErrorCode.APP_INVALID_STATE, 'cancelled'))
    await job.done
    return copy(job.info)
  }

  /** Cancels every running job and waits for them to end (the daemon's stop). Idempotent. */
  async stop (): Promise<void> {
    this.stopped = true
    const running = [...this.jobs.values()].filter(j => j.info.state === 'running')
    for (const j of running) j.controller.abort(new AppError(AppErrorCode.APP_INVALID_STATE, 'the daemon is stopping'))
    await Promise.all(running.map(async j => { await j.done }))
  }

  private job (id: string): Job {
    const job = this.jobs.get(id)
    if (job === undefined) throw new AppError(AppErrorCode.APP_JOB_NOT_FOUND, `no job ${id.slice(0, 40)} in this daemon (it keeps the newest ${MAX_ENDED_JOBS} ended jobs; \`tandem events\` shows older ones)`)
    return job
  }

  private forgetOld (): void {
    const ended = [...this.jobs.values()].filter(j => j.info.state !== 'running')
    for (const j of ended.slice(0, Math.max(0, ended.length - MAX_ENDED_JOBS))) this.jobs.delete(j.info.id)
  }
}

function copy (j: JobInfo): JobInfo {
  return structuredClone(j)
}
