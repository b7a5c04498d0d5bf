/**
 * The drill schedule's loop on a clock the test moves (no sleeps): a drill
 * runs when it is due and not before, one at a time, a busy VM is tried
 * again after the retry interval, a change of schedule is read at once,
 * a runner that throws is reported and not retried in a loop, and stop()
 * ends a drill in progress through its signal.
 */
import t from 'tap'
import { DrillTimer } from '../../../appliance/failover/index.ts'
import { ManualClock } from '../../helpers/manual-clock.ts'

const H = 3_600_000

interface Harness {
  clock: ManualClock
  timer: DrillTimer
  schedule: Map<string, number>
  runs: string[]
  errors: string[]
  /** What the next runs answer, per relationship (`ran` moves it one hour on, as the drill's lastRunAt does). */
  answer: Map<string, 'ran' | 'busy' | 'throw' | 'hang'>
  signals: AbortSignal[]
}

function harness (): Harness {
  const clock = new ManualClock(1_000_000)
  const schedule = new Map<string, number>()
  const runs: string[] = []
  const errors: string[] = []
  const answer = new Map<string, 'ran' | 'busy' | 'throw' | 'hang'>()
  const signals: AbortSignal[] = []
  const timer = new DrillTimer({
    clock,
    busyRetryMs: 10 * 60_000,
    due: () => [...schedule].map(([relationship, at]) => ({ relationship, at })),
    run: async (relationship, signal) => {
      runs.push(`${relationship}@${clock.now()}`)
      signals.push(signal)
      const a = answer.get(relationship) ?? 'ran'
      if (a === 'throw') throw new Error('bug')
      if (a === 'hang') await new Promise((_resolve, reject) => { signal.addEventListener('abort', () => { reject(signal.reason) }) })
      if (a === 'ran') schedule.set(relationship, clock.now() + H)
      return a === 'busy' ? 'busy' : 'ran'
    },
    onError: (_err, relationship) => { errors.push(relationship) }
  })
  return { clock, timer, schedule, runs, errors, answer, signals }
}

t.test('drills run when due, in time order, and the schedule moves on', async t => {
  const h = harness()
  h.schedule.set('a', h.clock.now() + H)
  h.schedule.set('b', h.clock.now() + 2 * H)
  h.timer.start()
  t.teardown(async () => { await h.timer.stop() })
  await h.clock.sleeping()
  t.same(h.runs, [], 'nothing before it is due')
  h.clock.advance(H - 1)
  await h.clock.sleeping()
  t.same(h.runs, [], 'still not')
  h.clock.advance(1)
  await h.clock.sleeping()
  t.same(h.runs, [`a@${1_000_000 + H}`])
  h.clock.advance(H)
  await h.clock.sleeping()
  t.same(h.runs, [`a@${1_000_000 + H}`, `a@${1_000_000 + 2 * H}`, `b@${1_000_000 + 2 * H}`], 'both due: one after the other')
})

t.test('a busy VM is tried again after the retry interval; a change of schedule is read at once', async t => {
  const h = harness()
  h.timer.start()
  t.teardown(async () => { await h.timer.stop() })
  await h.clock.sleeping()
  h.answer.set('a', 'busy')
  h.schedule.set('a', h.clock.now())
  h.timer.poke()
  await h.clock.sleeping()
  t.equal(h.runs.length, 1, 'ran at once when poked')
  h.clock.advance(10 * 60_000 - 1)
  await h.clock.sleeping()
  t.equal(h.runs.length, 1, 'not again before the retry interval')
  h.answer.set('a', 'ran')
  h.clock.advance(1)
  await h.clock.sleeping()
  t.equal(h.runs.length, 2, 'tried again after it')
  h.schedule.delete('a')
  h.timer.poke()
  await h.clock.sleeping()
  h.clock.advance(10 * H)
  await h.clock.sleeping()
  t.equal(h.runs.length, 2, 'a schedule turned off runs nothing')
})

t.test('a runner that throws is reported and not run again in a loop', async t => {
  const h = harness()
  h.answer.set('a', 'throw')
  h.schedule.set('a', h.clock.now())
  h.timer.start()
  t.teardown(async () => { await h.timer.stop() })
  await h.clock.sleeping()
  t.same(h.errors, ['a'])
  t.equal(h.runs.length, 1)
})

t.test('stop() aborts a drill in progress and ends the loop', async t => {
  const h = harness()
  h.answer.set('a', 'hang')
  h.schedule.set('a', h.clock.now())
  h.timer.start()
  while (h.signals.length === 0) await new Promise(resolve => setImmediate(resolve))
  await h.timer.stop()
  t.ok(h.signals[0]!.aborted, 'the drill\'s signal aborted')
  t.same(h.errors, [], 'an abort is not an error')
  t.equal(h.clock.pending, 0, 'nothing sleeps')
})
