/**
 * steadyKey, pure: a snapshot differs from another in its key exactly when
 * something other than the clock moved (table of literal changes).
 */
import t from 'tap'
import { steadyKey, type LiveSnapshot } from '../../web/live-snapshot.ts'
import { JOB, REPLICA_STATUS, REPLICATION, STATUS, TEST } from './fixtures/fake-service.ts'

const r = {
  ...REPLICATION,
  reason: 'replicating; the newest recovery point is 5 s old',
  forecast: { breachInMs: 1_200_000, cause: 'bandwidth-limit', message: 'at this change rate and link speed, RPO breach in ~20 min: the bandwidth limit binds' }
}
const base: LiveSnapshot = { status: STATUS, replication: [r], replica: [REPLICA_STATUS], jobs: [JOB], tests: [TEST] }

const table: Array<[string, Partial<LiveSnapshot>, boolean]> = [
  ['the same', {}, false],
  ['the newest point aged', { replication: [{ ...r, achievedRpo: { ...r.achievedRpo, currentMs: 9000, worstMs: 9000 }, dataAtRisk: { ...r.dataAtRisk, seconds: 9 } }] }, false],
  ['the forecast came nearer', { replication: [{ ...r, forecast: { ...r.forecast, breachInMs: 60_000, message: 'at this change rate and link speed, RPO breach in ~1 h 5 min: the bandwidth limit binds' } }] }, false],
  ['the Replica\'s point aged', { replica: [{ ...REPLICA_STATUS, achievedRpoMs: 70_000 }] }, false],
  ['a duration in a reason', { replication: [{ ...r, reason: 'replicating; the newest recovery point is 3 d 2 h old' }] }, false],
  ['the target was missed', { replication: [{ ...r, achievedRpo: { ...r.achievedRpo, met: false } }] }, true],
  ['the bytes at risk', { replication: [{ ...r, dataAtRisk: { ...r.dataAtRisk, bytes: 4096 } }] }, true],
  ['a new point', { replication: [{ ...r, lastPointTime: '2026-01-01T00:06:00.000Z' }] }, true],
  ['the health', { replica: [{ ...REPLICA_STATUS, health: 'warning' }] }, true],
  ['a reason\'s words', { replication: [{ ...r, reason: 'replication is suspended' }] }, true],
  ['a forecast\'s cause', { replication: [{ ...r, forecast: { ...r.forecast, cause: 'link-too-slow' } }] }, true],
  ['a job\'s progress', { jobs: [{ ...JOB, progress: { done: 1, total: 2 } }] }, true],
  ['a peer connected', { status: { ...STATUS, connectedPeers: 1 } }, true],
  ['a test stopped', { tests: [] }, true]
]

t.test('which changes count', async t => {
  for (const [what, change, counts] of table) t.equal(steadyKey({ ...base, ...change }) !== steadyKey(base), counts, what)
})
