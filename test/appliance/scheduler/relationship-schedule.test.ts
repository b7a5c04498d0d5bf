/**
 * The schedule of one relationship, driven by a ManualClock and by cycles
 * the test ends by hand: no real time passes and nothing sleeps.
 */
import t from 'tap'
import { CycleSlots, RelationshipSchedule, RETRY_INITIAL_MS, CONTINUOUS_PAUSE_MS, type CycleReport } from '../../../appliance/scheduler/index.ts'
import { ManualClock } from '../../helpers/manual-clock.ts'
import type { Teardown } from '../../helpers/fixtures.ts'

interface Call { signal: AbortSignal, ok: () => void, fail: (err: unknown) => void }

/** runCycle calls that wait for the test to end them; tracks how many ran at once. */
class Cycles {
  readonly calls: Call[] = []
  running = 0
  maxRunning = 0
  private readonly waiters: Array<() => void> = []
  run = async (signal: AbortSignal): Promise<void> => {
    this.running++
    this.maxRunning = Math.max(this.maxRunning, this.running)
    try {
      await new Promise<void>((resolve, reject) => {
        this.calls.push({ signal, ok: resolve, fail: reject })
        signal.addEventListener('abort', () => reject(signal.reason), { once: true })
        this.waiters.splice(0).forEach(w => w())
      })
    } finally { this.running-- }
  }

  /** The `n`th call (1-based), once it has been made. */
  async call (n: number): Promise<Call> {
    while (this.calls.length < n) await new Promise<void>(resolve => this.waiters.push(resolve))
    return this.calls[n - 1]!
  }
}

function reports (): { list: CycleReport[], next: (n: number) => Promise<CycleReport>, onCycle: (r: CycleReport) => void } {
  const list: CycleReport[] = []
  const waiters: Array<() => void> = []
  return {
    list,
    onCycle: r => { list.push(r); waiters.splice(0).forEach(w => w()) },
    next: async n => { while (list.length < n) await new Promise<void>(resolve => waiters.push(resolve)); return list[n - 1]! }
  }
}

/** Lets every task queued so far run (no time passes on the ManualClock). */
async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve))
}

function setup (t: Teardown, options: { frequencyMs?: number, suspended?: boolean, slots?: CycleSlots, clock?: ManualClock } = {}) {
  const clock = options.clock ?? new ManualClock(0)
  const cycles = new Cycles()
  const r = reports()
  const schedule = new RelationshipSchedule({
    id: 'vm1',
    frequencyMs: options.frequencyMs ?? 30_000,
    runCycle: cycles.run,
    clock,
    onCycle: r.onCycle,
    ...(options.suspended === undefined ? {} : { suspended: options.suspended }),
    ...(options.slots === undefined ? {} : { slots: options.slots })
  })
  schedule.start()
  t.teardown(async () => { await schedule.stop() })
  return { clock, cycles, r, schedule }
}

t.test('the first cycle starts at once; the next is due one interval after the first was due', async t => {
  const { clock, cycles, r } = setup(t)
  const first = await cycles.call(1)
  clock.advance(5_000)
  first.ok()
  t.match(await r.next(1), { ok: true, due: 0, start: 0, end: 5_000, missed: 0, nextDue: 30_000 })
  await clock.sleeping()
  t.equal(cycles.calls.length, 1, 'no second cycle before it is due')
  clock.advance(25_000)
  await cycles.call(2)
  t.pass('the second cycle started when due')
})

t.test('a cycle that runs past its interval counts the intervals it missed, and cycles never overlap', async t => {
  const { clock, cycles, r, schedule } = setup(t)
  const first = await cycles.call(1)
  clock.advance(95_000) // 30 s, 60 s and 90 s pass while it runs
  schedule.runNow() // asking for a cycle meanwhile starts none beside it
  t.equal(cycles.running, 1)
  first.ok()
  const report = await r.next(1)
  t.equal(report.nextDue, 95_000, 'runNow during the cycle: the next starts right after it')
  await cycles.call(2)
  t.equal(cycles.maxRunning, 1, 'never two cycles at once')

  const { clock: c2, cycles: cy2, r: r2 } = setup(t)
  const one = await cy2.call(1)
  c2.advance(95_000)
  one.ok()
  t.match(await r2.next(1), { missed: 3, nextDue: 120_000 }, 'without runNow: 3 missed, next on the grid')
})

t.test('a link failure is retried with a growing pause; success goes back to the grid', async t => {
  const { clock, cycles, r } = setup(t)
  ;(await cycles.call(1)).fail(Object.assign(new Error('dropped'), { code: 'P2P_STREAM_CLOSED' }))
  t.match(await r.next(1), { ok: false, network: true, retry: 1, nextDue: RETRY_INITIAL_MS, missed: 0 })
  await clock.sleeping()
  clock.advance(RETRY_INITIAL_MS)
  ;(await cycles.call(2)).fail(Object.assign(new Error('late'), { code: 'P2P_TIMEOUT' }))
  t.match(await r.next(2), { network: true, retry: 2, nextDue: 3 * RETRY_INITIAL_MS })
  await clock.sleeping()
  clock.advance(2 * RETRY_INITIAL_MS)
  ;(await cycles.call(3)).ok()
  const ok = await r.next(3)
  t.match(ok, { ok: true, due: 3 * RETRY_INITIAL_MS, nextDue: 3 * RETRY_INITIAL_MS + 30_000 })
  t.notOk('retry' in ok, 'not a retry any more')
  t.equal(cycles.calls.length, 3, 'each retry is one call: the runner resumes the staged cycle')
})

t.test('any other failure waits for the next interval', async t => {
  const { cycles, r } = setup(t)
  ;(await cycles.call(1)).fail(Object.assign(new Error('stale'), { code: 'P2P_STALE_TERM' }))
  const report = await r.next(1)
  t.match(report, { ok: false, network: false, nextDue: 30_000 })
  t.equal((report.error as { code: string }).code, 'P2P_STALE_TERM')
})

t.test('continuous: the next cycle starts a short pause after the last', async t => {
  const { clock, cycles, r } = setup(t, { frequencyMs: 0 })
  const first = await cycles.call(1)
  clock.advance(7_000)
  first.ok()
  t.match(await r.next(1), { missed: 0, nextDue: 7_000 + CONTINUOUS_PAUSE_MS })
  await clock.sleeping()
  clock.advance(CONTINUOUS_PAUSE_MS)
  await cycles.call(2)
})

t.test('suspended: no cycle starts until resume; the one in flight finishes', async t => {
  const { clock, cycles, r, schedule } = setup(t, { suspended: true })
  clock.advance(60_000)
  await settle()
  t.equal(cycles.calls.length, 0, 'none while suspended')
  schedule.resume()
  const first = await cycles.call(1)
  schedule.suspend()
  first.ok()
  await r.next(1)
  clock.advance(120_000)
  await settle()
  t.equal(cycles.calls.length, 1, 'none after suspend')
  t.equal(first.signal.aborted, false, 'suspend did not abort the cycle in flight')
  schedule.resume()
  await cycles.call(2)
})

t.test('stop aborts the cycle in flight and ends the loop; nothing is reported for it', async t => {
  const { cycles, r, schedule } = setup(t)
  const first = await cycles.call(1)
  await schedule.stop()
  t.equal(first.signal.aborted, true, 'the cycle was told to stop (it stays resumable)')
  t.equal(r.list.length, 0)
  schedule.start()
  t.equal(cycles.calls.length, 1, 'a stopped schedule does not start again')
})

t.test('shared slots: a second relationship waits for a free slot', async t => {
  const clock = new ManualClock(0)
  const slots = new CycleSlots(1)
  const a = setup(t, { clock, slots })
  const b = setup(t, { clock, slots })
  const aCall = await a.cycles.call(1)
  t.equal(b.cycles.calls.length, 0, 'b waits while a holds the only slot')
  t.equal(slots.busy, 1)
  aCall.ok()
  await b.cycles.call(1)
  t.pass('b ran once a released the slot')
})

t.test('setFrequency: the cycle in flight runs on, the next is planned on the new grid', async t => {
  const { clock, cycles, r, schedule } = setup(t, { frequencyMs: 3_600_000 })
  const first = await cycles.call(1)
  clock.advance(5_000)
  schedule.setFrequency(30_000)
  t.equal(cycles.calls[0]!.signal.aborted, false, 'the cycle in flight is not disturbed')
  first.ok()
  t.match(await r.next(1), { ok: true, due: 0, nextDue: 30_000 }, 'planned on the new frequency')
  t.equal(schedule.frequencyMs, 30_000)
})

t.test('setFrequency while waiting: due one new interval after the last cycle\'s due time, at once when that passed', async t => {
  const { clock, cycles, r, schedule } = setup(t, { frequencyMs: 3_600_000 })
  ;(await cycles.call(1)).ok()
  t.match(await r.next(1), { nextDue: 3_600_000 })
  await clock.sleeping()
  schedule.setFrequency(7_200_000)
  t.equal(schedule.nextDue, 7_200_000, 'longer: later')
  clock.advance(600_000)
  schedule.setFrequency(300_000)
  t.equal(schedule.nextDue, 300_000, 'shorter: one new interval after the last due time, which has passed')
  await cycles.call(2)
  t.pass('the overdue cycle started at once')
})

t.test('setFrequency before any cycle counts from lastDue, or keeps the first due time without it', async t => {
  const clock = new ManualClock(1_000_000)
  const cycles = new Cycles()
  const restarted = new RelationshipSchedule({ id: 'a', frequencyMs: 3_600_000, firstDue: 900_000 + 3_600_000, lastDue: 900_000, runCycle: cycles.run, clock })
  const initial = new RelationshipSchedule({ id: 'b', frequencyMs: 3_600_000, firstDue: 5_000_000, runCycle: cycles.run, clock })
  restarted.setFrequency(600_000)
  initial.setFrequency(600_000)
  t.equal(restarted.nextDue, 1_500_000, 'after a restart: from the newest point')
  t.equal(initial.nextDue, 5_000_000, 'an initial replication at a time keeps it')
  t.throws(() => { initial.setFrequency(-1) }, TypeError)
})
