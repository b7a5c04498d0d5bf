/**
 * The daemon's jobs: each is a begin / end pair in a real event log; a job
 * ends ok with its result, failed with its code, or cancelled; cancel and
 * stop wait for the work to end; old ended jobs are forgotten, running
 * ones never. Work is held open with promises the test resolves, never timers.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { EventLog } from '../../../appliance/events/index.ts'
import { AppError } from '../../../appliance/errors.ts'
import { JobRegistry, MAX_ENDED_JOBS, type JobContext } from '../../../appliance/jobs/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'

const RESULT = { path: '/mnt/usb/vm1.seed', bytes: 10, blocks: 1, root: 'ab'.repeat(32), time: '2026-01-01T00:00:00.000Z' }

async function setup (t: Test): Promise<{ events: EventLog, jobs: JobRegistry }> {
  const events = await EventLog.open(join(await tempDir(t), 'events'), { now: () => 1000 })
  t.teardown(async () => { await events.close() })
  return { events, jobs: new JobRegistry({ events, now: () => 1000 }) }
}

/** A job whose work waits until `finish` is called, reporting progress first. */
function heldJob (): { work: (ctx: JobContext) => Promise<never>, started: Promise<JobContext>, finish: (ok: boolean) => void } {
  let ctxOut!: (ctx: JobContext) => void
  const started = new Promise<JobContext>(resolve => { ctxOut = resolve })
  let finish!: (ok: boolean) => void
  const decided = new Promise<boolean>(resolve => { finish = resolve })
  const work = async (ctx: JobContext): Promise<never> => {
    ctx.progress(5, 10)
    ctxOut(ctx)
    const aborted = new Promise<boolean>((_resolve, reject) => { ctx.signal.addEventListener('abort', () => { reject(Object.assign(new Error('aborted'), { code: 'CORE_ABORTED' })) }, { once: true }) })
    const ok = await Promise.race([decided, aborted])
    if (ok) return { result: { kind: 'seed-export', result: RESULT }, reason: 'written' } as never
    throw new AppError('APP_VM_NOT_FOUND', 'gone')
  }
  return { work, started, finish }
}

const until = async (jobs: JobRegistry, id: string): Promise<void> => { while (jobs.get(id).state === 'running') await new Promise(resolve => setImmediate(resolve)) }

t.test('a job runs in the background and ends ok with its result, logged as begin and end', async t => {
  const { events, jobs } = await setup(t)
  const held = heldJob()
  const job = await jobs.start({ kind: 'seed-export', vm: 'vm1', relationship: 'vm1', reason: 'writing a seed', work: held.work })
  t.equal(job.state, 'running')
  await held.started
  t.same(jobs.get(job.id).progress, { done: 5, total: 10 }, 'progress is visible while it runs')
  t.equal(jobs.running('seed-export', 'vm1')?.id, job.id)
  held.finish(true)
  await until(jobs, job.id)
  const ended = jobs.get(job.id)
  t.equal(ended.state, 'ok')
  t.same(ended.seedExport, RESULT)
  t.equal(ended.seedImport, null)
  t.not(ended.endedAt, null)
  t.equal(jobs.running('seed-export', 'vm1'), undefined)
  const logged = (await events.read()).events
  t.same(logged.map(e => [e.kind, e.phase, e.outcome]), [['seed-export', 'begin', undefined], ['seed-export', 'end', 'ok']])
})

t.test('a failing job keeps its code; a cancelled one ends cancelled; unknown ids are APP_JOB_NOT_FOUND', async t => {
  const { events, jobs } = await setup(t)
  const failing = heldJob()
  const a = await jobs.start({ kind: 'seed-import', vm: 'vm1', reason: 'importing', work: failing.work })
  failing.finish(false)
  await until(jobs, a.id)
  t.equal(jobs.get(a.id).state, 'failed')
  t.equal(jobs.get(a.id).error?.code, 'APP_VM_NOT_FOUND')

  const held = heldJob()
  const b = await jobs.start({ kind: 'seed-export', vm: 'vm2', reason: 'writing', work: held.work })
  await held.started
  const cancelled = await jobs.cancel(b.id)
  t.equal(cancelled.state, 'cancelled', 'cancel resolves once the work has ended')
  t.equal(cancelled.error?.code, 'CORE_ABORTED')
  t.same((await jobs.cancel(a.id)).state, 'failed', 'cancelling an ended job returns it as it is')
  t.throws(() => jobs.get('nope'), { code: 'APP_JOB_NOT_FOUND' })
  await t.rejects(jobs.cancel('nope'), { code: 'APP_JOB_NOT_FOUND' })
  const ends = (await events.read()).events.filter(e => e.phase === 'end')
  t.same(ends.map(e => [e.outcome, e.code]), [['failed', 'APP_VM_NOT_FOUND'], ['failed', 'CORE_ABORTED']])
})

t.test('stop cancels the running jobs and refuses new ones; old ended jobs are forgotten', async t => {
  const { jobs } = await setup(t)
  const first = await jobs.start({ kind: 'seed-export', vm: 'vm0', reason: 'x', work: async () => ({ result: { kind: 'seed-export', result: RESULT }, reason: 'done' }) })
  await until(jobs, first.id)
  for (let i = 0; i < MAX_ENDED_JOBS; i++) {
    const j = await jobs.start({ kind: 'seed-export', vm: `vm${i + 1}`, reason: 'x', work: async () => ({ result: { kind: 'seed-export', result: RESULT }, reason: 'done' }) })
    await until(jobs, j.id)
  }
  t.throws(() => jobs.get(first.id), { code: 'APP_JOB_NOT_FOUND' }, 'the oldest ended job is forgotten')
  t.equal(jobs.list().length, MAX_ENDED_JOBS)

  const held = heldJob()
  const running = await jobs.start({ kind: 'seed-export', vm: 'vm-x', reason: 'x', work: held.work })
  await held.started
  await jobs.stop()
  t.equal(jobs.get(running.id).state, 'cancelled', 'stop waits for the running job to end')
  await t.rejects(jobs.start({ kind: 'seed-export', vm: 'vm-y', reason: 'x', work: held.work }), { code: 'APP_INVALID_STATE' })
})
