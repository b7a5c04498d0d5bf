/** relationshipStatus puts the pure parts together: each field is what its own function gives for the same input. */
import t from 'tap'
import { achievedRpo, dataAtRisk, forecast, health, measure, relationshipStatus, type CycleRecord } from '../../../appliance/events/index.ts'
import { DEFAULT_SETTINGS, newRelationship, type Relationship } from '../../../appliance/relationships/index.ts'

const S = 1000
const NOW = 1_000_000 * S
const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'

t.test('status of a replicating relationship', async t => {
  const rel: Relationship = {
    ...newRelationship({ id: 'rel-1', vm: 'web', role: 'primary', peer: PEER, settings: { ...DEFAULT_SETTINGS, frequency: 30 * S } }, 0),
    state: 'replicating', reason: 'initial replication finished; replicating', initialDoneAt: NOW - 3600 * S, lastPointAt: NOW - 20 * S, lastReplicationAt: NOW - 15 * S
  }
  const cycles: CycleRecord[] = Array.from({ length: 10 }, (_, i) => ({
    start: NOW - 320 * S + i * 30 * S, end: NOW - 315 * S + i * 30 * S, outcome: 'ok', bytesSent: 1000, bytesChanged: 3000,
    consistency: 'crash', missedIntervals: 0, appConsistentRequested: false, appConsistentSucceeded: false
  }))
  const s = relationshipStatus({ rel, cycles, now: NOW, pendingBytes: 777, windowMs: 3600 * S })
  const h = health(rel, cycles, NOW, { windowMs: 3600 * S })
  t.same([s.state, s.stateReason, s.health, s.healthRule, s.reason], ['replicating', rel.reason, h.level, h.rule, h.reason])
  t.equal(s.health, 'normal')
  t.equal(s.lastReplicationTime, NOW - 15 * S)
  t.same(s.achievedRpo, achievedRpo({ lastPointAt: rel.lastPointAt, cycles, frequency: 30 * S, now: NOW, windowStart: NOW - 3600 * S }))
  t.same(s.dataAtRisk, dataAtRisk(rel.lastPointAt, 777, NOW))
  t.same(s.forecast, forecast({ settings: rel.settings, cycles, lastPointAt: rel.lastPointAt, now: NOW }))
  t.same(s.measure, measure(cycles, { start: NOW - 3600 * S, end: NOW }, 777))
  t.equal(s.measure.successCount, 10)

  const unknown = relationshipStatus({ rel, cycles, now: NOW, pendingBytes: null, windowMs: 3600 * S })
  t.same(unknown.dataAtRisk, { bytes: null, seconds: 20 }, 'bytes unknown: the age of the newest point still counts')
  t.equal(unknown.measure.pendingSizeBytes, null)
  t.same({ ...unknown, dataAtRisk: s.dataAtRisk, measure: s.measure }, s, 'nothing else depends on the pending bytes')
})
