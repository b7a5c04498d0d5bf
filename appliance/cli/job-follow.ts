/**
 * Following a daemon job from the CLI (docs/cli.md "tandem seed"): the job
 * is asked for until it ends, its progress drawn on the session's progress
 * line. Ctrl-C cancels the job in the daemon (nothing half-done stays
 * behind) and the command ends with the job's code.
 */
import { ServiceError, type ApplianceService, type JobInfo } from '../service/index.ts'
import type { Session } from './session.ts'

/** How often the job is asked for: a progress line needs no more, and each ask is one small API call. */
export const JOB_POLL_MS = 500

/** Resolves with the job once it ended `ok`; throws its error (code and message) when it failed or was cancelled. */
export async function followJob (service: ApplianceService, started: JobInfo, session: Session): Promise<JobInfo> {
  let job = started
  let cancelled = false
  while (job.state === 'running') {
    if (session.signal.aborted && !cancelled) {
      cancelled = true
      job = await service.jobCancel(job.id)
      break
    }
    session.progress.update({ phase: job.kind, done: job.progress.done, total: job.progress.total })
    await pause(JOB_POLL_MS, session.signal)
    job = await service.job(job.id)
  }
  session.progress.end()
  if (job.state === 'ok') return job
  const error = job.error ?? { code: 'APP_UNEXPECTED', message: `job ${job.id} ended ${job.state}` }
  throw new ServiceError(error.code, `${job.kind} ${job.state === 'cancelled' ? 'cancelled' : 'failed'}: ${error.message}`)
}

/** Waits `ms`, or less when `signal` aborts (never rejects). */
async function pause (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>(resolve => {
    const done = (): void => { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
