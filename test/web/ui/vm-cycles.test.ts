/**
 * The VM page's figures over time (web/ui/pages/vm-cycles.ts), a table of
 * literal cycle events: size and duration from each successful end's
 * record, the achieved RPO of docs/health.md (`b.end - a.start` of
 * consecutive successful cycles), failed and interrupted ends counted, not
 * charted, other events and malformed records ignored.
 */
import t from 'tap'
import type { EventInfo } from '../../../appliance/service/index.ts'
import { cycleSeries, LONE_SAMPLE_SPAN_S, median, timeRange } from '../../../web/ui/pages/vm-cycles.ts'

const end = (seq: number, outcome: 'ok' | 'failed' | 'interrupted', data?: EventInfo['data']): EventInfo =>
  ({ seq, time: new Date(data?.end as number ?? 0).toISOString(), vm: 'web', kind: 'cycle', reason: 'x', phase: 'end', begin: seq - 1, outcome, ...(data === undefined ? {} : { data }) })
const record = (start: number, stop: number, bytesSent: number): EventInfo['data'] => ({ start, end: stop, bytesSent, bytesChanged: bytesSent * 2, consistency: 'crash', missedIntervals: 0 })

t.test('samples, oldest first, with the RPO of consecutive successful cycles', async t => {
  const events: EventInfo[] = [
    end(8, 'ok', record(600_000, 640_000, 300)),
    { seq: 1, time: '2026-01-01T00:00:00.000Z', vm: 'web', kind: 'cycle', reason: 'cycle started', phase: 'begin' },
    end(2, 'ok', record(0, 30_000, 100)),
    end(4, 'failed', record(300_000, 310_000, 0)),
    end(5, 'interrupted'),
    end(6, 'ok', record(360_000, 420_000, 200)),
    end(10, 'ok', { start: 'x', end: 5 }),
    { seq: 11, time: '2026-01-01T00:00:00.000Z', vm: 'web', kind: 'state', reason: 'replicating' }
  ]
  t.same(cycleSeries(events), {
    samples: [
      { seq: 2, end: 30_000, bytesSent: 100, bytesChanged: 200, durationMs: 30_000, rpoMs: null },
      { seq: 6, end: 420_000, bytesSent: 200, bytesChanged: 400, durationMs: 60_000, rpoMs: 420_000 },
      { seq: 8, end: 640_000, bytesSent: 300, bytesChanged: 600, durationMs: 40_000, rpoMs: 280_000 }
    ],
    failed: 2
  })
  t.same(cycleSeries([]), { samples: [], failed: 0 })
})

t.test('median', async t => {
  t.equal(median([]), 0)
  t.equal(median([5, 1, 3]), 3)
  t.equal(median([4, 1, 3, 2]), 2.5)
})

t.test('the time axis: uPlot\'s range, or a lone sample in the middle of its own span', async t => {
  t.same(timeRange([100, 200], 100, 200), [100, 200])
  t.same(timeRange([1000], 1000, 1000 + 86400), [1000 - LONE_SAMPLE_SPAN_S, 1000 + LONE_SAMPLE_SPAN_S], 'not the day after it')
})
