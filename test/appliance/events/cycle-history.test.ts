/**
 * CycleHistory keeps what relationshipStatus needs: the records of the
 * monitoring window and the newest successful one before it; older ones go.
 */
import t from 'tap'
import { CycleHistory, type CycleRecord } from '../../../appliance/events/index.ts'

const H = 60 * 60 * 1000
const rec = (end: number, outcome: 'ok' | 'failed' = 'ok'): CycleRecord => ({
  start: end - 1000, end, outcome, bytesSent: 1, bytesChanged: 1, consistency: 'crash', missedIntervals: 0, appConsistentRequested: false, appConsistentSucceeded: false
})

t.test('the window and the last success before it are kept', async t => {
  const h = new CycleHistory(12 * H)
  const now = 100 * H
  h.load('a', [rec(80 * H), rec(86 * H), rec(87 * H, 'failed'), rec(89 * H), rec(99 * H, 'failed')], now)
  t.same(h.records('a', now).map(r => r.end), [86 * H, 89 * H, 99 * H], 'window from 88 h: the last ok before it (86 h), not the failure (87 h) nor older ones')
  h.add('a', rec(100 * H), now)
  t.same(h.records('a', now).map(r => r.end), [86 * H, 89 * H, 99 * H, 100 * H])
  t.same(h.records('a', now + 2 * H).map(r => r.end), [89 * H, 99 * H, 100 * H], 'time moves the window on')
  t.same(h.records('b', now), [], 'a relationship with no record')
  const copy = h.records('a', now + 2 * H)
  copy[0]!.end = 0
  t.equal(h.records('a', now + 2 * H)[0]!.end, 89 * H, 'callers get copies')
  h.forget('a')
  t.same(h.records('a', now), [])
})
