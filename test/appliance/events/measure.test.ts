/** Measure-VMReplication's figures match the cycles given: literal cycles, literal figures. */
import t from 'tap'
import { measure, type CycleRecord } from '../../../appliance/events/index.ts'

const H = 3_600_000

function cycle (start: number, end: number, extra: Partial<CycleRecord> = {}): CycleRecord {
  return { start, end, outcome: 'ok', bytesSent: 0, bytesChanged: 0, consistency: 'crash', missedIntervals: 0, appConsistentRequested: false, appConsistentSucceeded: false, ...extra }
}

const CYCLES: CycleRecord[] = [
  cycle(-2 * H, -2 * H + 5000, { bytesSent: 999_999 }), // before the window: only lastReplicationTime may see it
  cycle(0, 1000, { bytesSent: 100, bytesChanged: 300 }), // ends on the window start: outside
  cycle(10_000, 12_000, { bytesSent: 200, bytesChanged: 500 }),
  cycle(40_000, 44_000, { bytesSent: 600, bytesChanged: 900, appConsistentRequested: true, appConsistentSucceeded: true, consistency: 'app' }),
  cycle(70_000, 71_000, { outcome: 'failed', code: 'P2P_DIAL_FAILED', failure: 'network', bytesSent: 50 }),
  cycle(75_000, 160_000, { bytesSent: 1000, bytesChanged: 4000, missedIntervals: 2, appConsistentRequested: true, appConsistentSucceeded: false }),
  cycle(170_000, 171_000, { outcome: 'failed', code: 'CORE_WRITE_FAILED', failure: 'replication', appConsistentRequested: true, appConsistentSucceeded: false }),
  cycle(180_000, 181_000, { outcome: 'failed', code: 'APP_UNEXPECTED' }), // no failure kind: counted as a replication failure
  cycle(200_000, 300_000, { bytesSent: 7 }) // ends after the window
]

t.test('figures of one window', async t => {
  t.same(measure(CYCLES, { start: 1000, end: 200_000 }, 12_345), {
    windowStart: 1000,
    windowEnd: 200_000,
    successCount: 3,
    missCount: 5, // 3 failed + 2 intervals run past
    averageLatencyMs: (2000 + 4000 + 85_000) / 3,
    maxLatencyMs: 85_000,
    averageSizeBytes: (200 + 600 + 1000) / 3,
    maxSizeBytes: 1000,
    pendingSizeBytes: 12_345,
    networkFailureCount: 1,
    replicationFailureCount: 2,
    appConsistentFailureCount: 2,
    lastReplicationTime: 160_000
  })
})

t.test('an empty window', async t => {
  t.same(measure(CYCLES, { start: -H, end: 0 }, 0), {
    windowStart: -H,
    windowEnd: 0,
    successCount: 0,
    missCount: 0,
    averageLatencyMs: null,
    maxLatencyMs: null,
    averageSizeBytes: null,
    maxSizeBytes: null,
    pendingSizeBytes: 0,
    networkFailureCount: 0,
    replicationFailureCount: 0,
    appConsistentFailureCount: 0,
    lastReplicationTime: -2 * H + 5000 // the last replication before the window
  })
  t.equal(measure([], { start: 0, end: 1 }, 0).lastReplicationTime, null, 'never replicated')
})

t.test('pending bytes are the driver\'s count as given, or null when it cannot tell', async t => {
  for (const pending of [0, 1, 12_345, null]) t.equal(measure(CYCLES, { start: 1000, end: 200_000 }, pending).pendingSizeBytes, pending, String(pending))
})

t.test('the window end is included, its start is not', async t => {
  const m = measure(CYCLES, { start: 12_000, end: 300_000 }, 0)
  t.equal(m.successCount, 3, 'the cycle ending at 12000 is out, the one ending at 300000 is in')
  t.equal(m.lastReplicationTime, 300_000)
})
