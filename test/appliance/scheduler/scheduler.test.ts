import t from 'tap'
import { Scheduler } from '../../../appliance/scheduler/index.ts'
import { ManualClock } from '../../helpers/manual-clock.ts'

/** A cycle that waits until the test ends it; `started` counts calls per id. */
function gate () {
  const started = new Map<string, number>()
  const pending: Array<() => void> = []
  const waiters: Array<() => void> = []
  return {
    started,
    pending,
    runner: (id: string) => async (signal: AbortSignal): Promise<void> => {
      started.set(id, (started.get(id) ?? 0) + 1)
      waiters.splice(0).forEach(w => w())
      await new Promise<void>((resolve, reject) => { pending.push(resolve); signal.addEventListener('abort', () => reject(signal.reason), { once: true }) })
    },
    until: async (check: () => boolean): Promise<void> => { while (!check()) await new Promise<void>(resolve => waiters.push(resolve)) }
  }
}

t.test('schedules start with the scheduler, share its cycle limit, and stop with it', async t => {
  const clock = new ManualClock(0)
  const g = gate()
  const scheduler = new Scheduler({ clock, maxConcurrentCycles: 1 })
  await scheduler.add({ id: 'a', frequencyMs: 30_000, runCycle: g.runner('a') })
  await scheduler.add({ id: 'b', frequencyMs: 30_000, runCycle: g.runner('b') })
  t.equal(g.started.size, 0, 'nothing runs before start()')
  scheduler.start()
  await g.until(() => g.started.size === 1)
  t.equal(scheduler.runningCycles, 1, 'one cycle at a time across relationships')
  g.pending.shift()!()
  await g.until(() => g.started.size === 2)
  t.same([...g.started.keys()].sort(), ['a', 'b'])
  await scheduler.stop()
  t.equal(scheduler.runningCycles, 0, 'stop released every slot')
})

t.test('adding an id again replaces its schedule; remove stops it', async t => {
  const clock = new ManualClock(0)
  const g = gate()
  const scheduler = new Scheduler({ clock })
  t.teardown(async () => { await scheduler.stop() })
  scheduler.start()
  const first = await scheduler.add({ id: 'a', frequencyMs: 30_000, runCycle: g.runner('a') })
  await g.until(() => g.started.get('a') === 1)
  const second = await scheduler.add({ id: 'a', frequencyMs: 60_000, runCycle: g.runner('a') })
  t.not(first, second)
  t.equal(scheduler.get('a'), second)
  t.equal(first.running, false, 'the old schedule was stopped (its cycle aborted)')
  await g.until(() => g.started.get('a') === 2)
  t.equal(await scheduler.remove('a'), true)
  t.equal(await scheduler.remove('a'), false)
  t.equal(scheduler.get('a'), undefined)
})
