/**
 * CycleProgress with a clock the test moves: no progress before a cycle
 * begins or after it ends, `starting` until the sender's first report, and
 * the ETA from the rate over the last minute (null until two reports at
 * different times tell one).
 */
import t from 'tap'
import { CycleProgress, MAX_PROGRESS_SAMPLES, STARTING_PHASE } from '../../../appliance/replication/cycle-progress.ts'

t.test('begin, reports, ETA, end', async t => {
  let now = Date.UTC(2026, 11, 7, 10, 0, 0)
  const p = new CycleProgress(() => now)
  t.equal(p.info('vm1'), null, 'nothing before a cycle')
  p.report('vm1', { phase: 'send disk0', done: 1, total: 2 })
  t.equal(p.info('vm1'), null, 'a report with no cycle is ignored')

  p.begin('vm1')
  t.same(p.info('vm1'), { phase: STARTING_PHASE, bytesDone: 0, bytesTotal: 0, startedAt: '2026-12-07T10:00:00.000Z', etaMs: null })
  now += 1000
  p.report('vm1', { phase: 'send disk0', done: 100_000_000, total: 1_000_000_000 })
  t.equal(p.info('vm1')!.etaMs, null, 'one report tells no rate')
  now += 10_000
  p.report('vm1', { phase: 'send disk0', done: 200_000_000, total: 1_000_000_000 })
  // 100 MB in 10 s: 10 MB/s, 800 MB left.
  t.same(p.info('vm1'), { phase: 'send disk0', bytesDone: 200_000_000, bytesTotal: 1_000_000_000, startedAt: '2026-12-07T10:00:00.000Z', etaMs: 80_000 })
  // Two minutes later at 1 MB/s: only the last minute counts.
  for (let i = 0; i < 12; i++) {
    now += 10_000
    p.report('vm1', { phase: 'send disk0', done: 200_000_000 + (i + 1) * 10_000_000, total: 1_000_000_000 })
  }
  t.equal(p.info('vm1')!.etaMs, 680_000, '680 MB left at 1 MB/s')
  t.equal(p.info('vm2'), null, 'another relationship has none')
  p.end('vm1')
  t.equal(p.info('vm1'), null, 'nothing once it ended')
})

t.test('the samples stay bounded', async t => {
  let now = 0
  const p = new CycleProgress(() => now)
  p.begin('vm1')
  for (let i = 1; i <= MAX_PROGRESS_SAMPLES * 3; i++) {
    now += 1
    p.report('vm1', { phase: 'send disk0', done: i * 1000, total: 10_000_000 })
  }
  // 1000 bytes per ms = 1 MB/s over the samples kept.
  t.equal(p.info('vm1')!.etaMs, Math.round((10_000_000 - MAX_PROGRESS_SAMPLES * 3 * 1000) / 1000))
})
