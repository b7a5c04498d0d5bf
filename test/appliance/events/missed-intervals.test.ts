/** A cycle that runs past its interval counts the intervals it missed: literal rows. */
import t from 'tap'
import { missedIntervals } from '../../../appliance/events/index.ts'

t.test('intervals a cycle ran past', async t => {
  const rows: Array<[number | 'continuous', number, number, number]> = [
    // frequency, start, end, missed
    [30_000, 0, 0, 0],
    [30_000, 0, 1, 0],
    [30_000, 0, 29_999, 0],
    [30_000, 0, 30_000, 0], // ends exactly on the next tick: the next cycle starts on time
    [30_000, 0, 30_001, 1],
    [30_000, 0, 60_000, 1],
    [30_000, 0, 60_001, 2],
    [30_000, 10_000, 100_000, 2],
    [300_000, 0, 3_600_000, 11],
    [2000, 5000, 11_500, 3],
    [30_000, 50_000, 40_000, 0], // the clock went backwards
    ['continuous', 0, 3_600_000, 0]
  ]
  for (const [frequency, start, end, want] of rows) t.equal(missedIntervals(frequency, start, end), want, `${frequency} ${start}..${end}`)
  t.throws(() => missedIntervals(0, 0, 1), TypeError)
})
