/**
 * Transitions and cycles logged through the event log come back after a
 * reopen: the cycle records read from the log are the ones written, so
 * measure gives the same figures across a restart; an interrupted cycle
 * made no record.
 */
import t from 'tap'
import { EventLog, cycleEndInput, cycleRecordsFrom, measure, stateEventInput, CYCLE_KIND, type CycleRecord } from '../../../appliance/events/index.ts'
import { DEFAULT_SETTINGS, newRelationship, transitionOrThrow } from '../../../appliance/relationships/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'

const T0 = 1_700_000_000_000
const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'

const RECORDS: CycleRecord[] = [
  { start: T0 + 1000, end: T0 + 3000, outcome: 'ok', bytesSent: 400, bytesChanged: 900, consistency: 'crash', missedIntervals: 0, appConsistentRequested: false, appConsistentSucceeded: false },
  { start: T0 + 31_000, end: T0 + 32_000, outcome: 'failed', code: 'P2P_DIAL_FAILED', failure: 'network', bytesSent: 0, bytesChanged: 0, consistency: 'crash', missedIntervals: 0, appConsistentRequested: false, appConsistentSucceeded: false },
  { start: T0 + 61_000, end: T0 + 130_000, outcome: 'ok', bytesSent: 9000, bytesChanged: 20_000, consistency: 'app', missedIntervals: 2, appConsistentRequested: true, appConsistentSucceeded: true }
]

t.test('state events and cycle records round-trip through the log', async t => {
  const dir = await tempDir(t)
  const log = await EventLog.open(dir)
  // The process "dies" below without closing: the handle is closed only at the end (Node 26 refuses to let one be garbage-collected open).
  t.teardown(async () => { await log.close() })
  let rel = newRelationship({ id: 'rel-1', vm: 'web', role: 'primary', peer: PEER, settings: DEFAULT_SETTINGS }, T0)
  const enabled = transitionOrThrow(rel, { kind: 'enable' }, T0)
  rel = enabled.next
  await log.append(stateEventInput(rel, enabled.event!))
  for (const r of RECORDS) {
    const b = await log.begin({ relationship: rel.id, vm: rel.vm, kind: CYCLE_KIND, reason: 'cycle started' })
    await log.end(b.seq, cycleEndInput(r, r.outcome === 'ok' ? 'point committed' : 'cycle failed'))
  }
  await log.append({ relationship: 'rel-2', vm: 'db', kind: CYCLE_KIND, reason: 'not a cycle end' })
  await log.begin({ relationship: rel.id, vm: rel.vm, kind: CYCLE_KIND, reason: 'cycle started, never ended' })
  // no close: the process "dies" here

  const again = await EventLog.open(dir)
  t.equal(again.recovery.interrupted.length, 1, 'the open cycle is ended as interrupted')
  const events = (await again.read({ relationship: 'rel-1' })).events
  t.same(events[0], { ...events[0], kind: 'state', relationship: 'rel-1', vm: 'web', data: { from: 'not-enabled', to: 'waiting-initial-replication', input: 'enable' } }, 'the state event')
  const back = cycleRecordsFrom(events)
  t.same(back, RECORDS, 'the records come back as written; the interrupted cycle made none')
  const window = { start: T0, end: T0 + 200_000 }
  t.same(measure(back, window, 0), measure(RECORDS, window, 0), 'measure is the same after the restart')
  await again.close()
})
