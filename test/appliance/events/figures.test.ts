/**
 * The live figures from literal inputs: achieved RPO against the target,
 * data at risk, ETA from progress samples, and the forecast of an RPO
 * breach with its cause.
 */
import t from 'tap'
import { achievedRpo, dataAtRisk, eta, forecast, targetRpoMs, type CycleRecord } from '../../../appliance/events/index.ts'
import { DEFAULT_SETTINGS } from '../../../appliance/relationships/index.ts'

const S = 1000
const MIN = 60 * S
const NOW = 1_000_000 * S

function ok (start: number, end: number, bytesChanged = 0, bytesSent = 0): CycleRecord {
  return { start, end, outcome: 'ok', bytesSent, bytesChanged, consistency: 'crash', missedIntervals: 0, appConsistentRequested: false, appConsistentSucceeded: false }
}

t.test('the RPO target is two intervals', async t => {
  t.equal(targetRpoMs(30 * S), 60 * S)
  t.equal(targetRpoMs(5 * MIN), 10 * MIN)
  t.equal(targetRpoMs('continuous'), 60 * S)
})

t.test('achieved RPO: now, and the worst in the window', async t => {
  const cycles = [ok(NOW - 200 * S, NOW - 190 * S), ok(NOW - 170 * S, NOW - 120 * S), ok(NOW - 100 * S, NOW - 95 * S), ok(NOW - 70 * S, NOW - 65 * S)]
  // the newest point's age just before each next one landed: 200-120 = 80 s, 170-95 = 75 s, 100-65 = 35 s
  t.same(achievedRpo({ lastPointAt: NOW - 70 * S, cycles, frequency: 30 * S, now: NOW, windowStart: NOW - 300 * S }), { currentMs: 70 * S, worstMs: 80 * S, targetMs: 60 * S, met: false })
  t.same(achievedRpo({ lastPointAt: NOW - 70 * S, cycles, frequency: 40 * S, now: NOW - 60 * S, windowStart: NOW - 110 * S }), { currentMs: 10 * S, worstMs: 75 * S, targetMs: 80 * S, met: true }, 'the 80 s gap closed before the window')
  t.same(achievedRpo({ lastPointAt: NOW - 70 * S, cycles, frequency: 30 * S, now: NOW - 60 * S, windowStart: NOW - 110 * S }), { currentMs: 10 * S, worstMs: 75 * S, targetMs: 60 * S, met: false }, 'a tighter target is missed')
  t.same(achievedRpo({ lastPointAt: NOW - 70 * S, cycles, frequency: 30 * S, now: NOW - 60 * S, windowStart: NOW - 90 * S }), { currentMs: 10 * S, worstMs: 35 * S, targetMs: 60 * S, met: true }, 'only the last gap in a short window')
  t.same(achievedRpo({ lastPointAt: undefined, cycles: [], frequency: 30 * S, now: NOW, windowStart: NOW - 300 * S }), { currentMs: null, worstMs: null, targetMs: 60 * S, met: false }, 'no point yet')
})

t.test('data at risk: the driver\'s pending bytes as given (null: it cannot tell), and the newest point\'s age', async t => {
  const table: Array<[string, number | undefined, number | null, { bytes: number | null, seconds: number | null }]> = [
    ['bytes and a point', NOW - 45 * S, 12_000_000, { bytes: 12_000_000, seconds: 45 }],
    ['nothing written since the point', NOW - 45 * S, 0, { bytes: 0, seconds: 45 }],
    ['bytes unknown', NOW - 45 * S, null, { bytes: null, seconds: 45 }],
    ['no point yet', undefined, 5, { bytes: 5, seconds: null }],
    ['neither known', undefined, null, { bytes: null, seconds: null }],
    ['a point stamped after now (clock step)', NOW + 3 * S, 7, { bytes: 7, seconds: 0 }]
  ]
  for (const [name, lastPointAt, pending, expected] of table) t.same(dataAtRisk(lastPointAt, pending, NOW), expected, name)
})

t.test('ETA from the progress of the last minute', async t => {
  t.same(eta(1000, []), { bytesLeft: 1000, bytesPerSecond: null, seconds: null }, 'no samples')
  t.same(eta(1000, [{ time: 0, done: 100 }]), { bytesLeft: 900, bytesPerSecond: null, seconds: null }, 'one sample')
  t.same(eta(1000, [{ time: 0, done: 100 }, { time: 10 * S, done: 200 }]), { bytesLeft: 800, bytesPerSecond: 10, seconds: 80 })
  t.same(eta(10_000, [{ time: 0, done: 0 }, { time: 60 * S, done: 6000 }, { time: 100 * S, done: 7000 }]),
    { bytesLeft: 3000, bytesPerSecond: 25, seconds: 120 }, 'only the last minute counts: 1000 B in 40 s')
  t.same(eta(1000, [{ time: 0, done: 500 }, { time: 10 * S, done: 500 }]), { bytesLeft: 500, bytesPerSecond: null, seconds: null }, 'stalled')
  t.same(eta(1000, [{ time: 0, done: 0 }, { time: 1, done: 1000 }]), { bytesLeft: 0, bytesPerSecond: 1_000_000, seconds: 0 }, 'done')
})

t.test('forecast', async t => {
  const settings = { ...DEFAULT_SETTINGS, frequency: 30 * S }
  /** Cycles every 30 s over the last 5 min: `changed` bytes each, `sent` on the wire in `took` ms. */
  const steady = (changed: number, sent: number, took: number): CycleRecord[] =>
    Array.from({ length: 10 }, (_, i) => ok(NOW - 300 * S + i * 30 * S, NOW - 300 * S + i * 30 * S + took, changed, sent))

  const quiet = forecast({ settings, cycles: steady(30_000_000, 15_000_000, 5 * S), lastPointAt: NOW - 30 * S, now: NOW })
  t.same([quiet.breachInMs, quiet.cause], [null, null], 'the link keeps up: no breach')
  t.equal(quiet.changeRate, 1_000_000, 'change rate: 30 MB per 30 s')
  t.equal(quiet.linkRate, 3_000_000, 'link: 15 MB in 5 s')
  t.equal(quiet.utilization, 1_000_000 * 0.5 / 3_000_000)

  // 30 MB changed per 30 s, 15 MB on the wire, sent at 0.375 MB/s: 1.333x what the link carries
  const slow = forecast({ settings, cycles: steady(30_000_000, 15_000_000, 40 * S), lastPointAt: NOW - 40 * S, now: NOW })
  t.equal(slow.cause, 'link-too-slow')
  t.equal(slow.utilization, 500_000 / 375_000)
  t.equal(slow.breachInMs, (60 * S - 40 * S) / (1 - 375_000 / 500_000), 'lag grows 0.25 s per s: 20 s of slack last 80 s')
  t.ok(slow.message.length > 0 && !slow.message.includes('\n'))

  const limited = forecast({ settings: { ...settings, bandwidth: 400_000 }, cycles: steady(30_000_000, 15_000_000, 40 * S), lastPointAt: NOW - 40 * S, now: NOW })
  t.equal(limited.cause, 'bandwidth-limit', 'the link runs at 94% of the limit: the limit is the cause')
  t.equal(limited.linkRate, 375_000)

  const capped = forecast({ settings: { ...settings, bandwidth: 1_000_000 }, cycles: steady(30_000_000, 15_000_000, 5 * S), lastPointAt: NOW - 30 * S, now: NOW })
  t.equal(capped.linkRate, 1_000_000, 'the observed link is faster than the limit: the limit counts')
  t.same([capped.breachInMs, capped.cause], [null, null], '0.5 MB/s of 1 MB/s: no breach')

  const late = forecast({ settings, cycles: steady(30_000_000, 15_000_000, 40 * S), lastPointAt: NOW - 70 * S, now: NOW })
  t.equal(late.breachInMs, 0, 'already breached')

  const failing = forecast({ settings, cycles: [...steady(1, 1, S), { ...ok(NOW - 20 * S, NOW - 10 * S), outcome: 'failed', code: 'P2P_DIAL_FAILED', failure: 'network' }], lastPointAt: NOW - 25 * S, now: NOW })
  t.same([failing.cause, failing.breachInMs], ['replication-failing', 35 * S], 'nothing replicates: the age reaches 60 s in 35 s')

  t.same([forecast({ settings, cycles: [ok(NOW - 10 * S, NOW - 5 * S, 1, 1)], lastPointAt: NOW - 10 * S, now: NOW }).breachInMs], [null], 'one cycle is not enough')
  const idle = forecast({ settings, cycles: steady(0, 0, S), lastPointAt: NOW - 30 * S, now: NOW })
  t.same([idle.breachInMs, idle.cause, idle.changeRate], [null, null, 0], 'nothing written: no breach')
  const old = forecast({ settings, cycles: steady(30_000_000, 15_000_000, 40 * S).map(c => ({ ...c, start: c.start - 2 * 3600 * S, end: c.end - 2 * 3600 * S })), lastPointAt: NOW - 30 * S, now: NOW })
  t.equal(old.utilization, null, 'cycles older than an hour are not used')
})
