/**
 * replicationUpdate on two in-process daemons (a manual-driver VM): the
 * settings change durably and with an event, the schedule takes the new
 * frequency at once, the Replica's record (its retention) follows, a cycle
 * in flight ends as it would have, a bad value or an empty request changes
 * nothing, the Replica side refuses, and a restart keeps the new settings.
 */
import t from 'tap'
import { join } from 'node:path'
import { tempDir } from '../../helpers/fixtures.ts'
import { addManualVm, enableReplication, restartablePair, runCycle, startBox } from '../../helpers/paired-daemons.ts'

const BS = 65536
const DISK_BYTES = 16 * BS
const HOUR = 3_600_000

t.test('frequency, bandwidth and recovery points change on the primary, survive a restart; bad values change nothing', async t => {
  const root = await tempDir(t)
  const { p, r, primaryDir } = await restartablePair(t, root, 'vm1')
  let primary = p.app!
  const replica = r.app!
  await addManualVm(primary, 'vm1', join(root, 'vm1.raw'), DISK_BYTES)
  t.equal((await enableReplication(primary, 'vm1', { to: 'box-r', frequency: '1h', recoveryPoints: '2' })).outcome, 'ok', 'initial replication')
  // the cycle's record is told before its schedule plans the next: wait for that
  while (primary.scheduler.get('vm1')!.running) await new Promise(resolve => setImmediate(resolve))
  const nextDue = primary.scheduler.get('vm1')!.nextDue

  const info = await primary.replicationUpdate('vm1', { frequency: '20m', bandwidth: '10M', recoveryPoints: '5' })
  t.match(info.settings, { frequency: 20 * 60_000, bandwidth: 10_000_000, recoveryPoints: 5, appConsistentEvery: null, initial: 'now' })
  t.equal(info.state, 'replicating', 'the state is untouched')
  t.equal(primary.scheduler.get('vm1')!.frequencyMs, 20 * 60_000, 'the schedule runs on the new frequency')
  t.equal(primary.scheduler.get('vm1')!.nextDue, nextDue - 40 * 60_000, 'the next cycle is one new interval after the last one was due')
  t.match(replica.relationships.get('vm1')!.settings, { recoveryPoints: 5, frequency: 20 * 60_000, bandwidth: 10_000_000 }, 'the Replica was told: its retention keeps 5')
  const [event] = (await primary.listEvents({ name: 'vm1' })).events.filter(e => e.kind === 'replication-settings')
  t.match(event, { relationship: 'vm1', data: { changed: 'frequency,recoveryPoints,bandwidth', frequency: 20 * 60_000, bandwidth: 10_000_000, recoveryPoints: 5 } }, 'an event says what changed')
  t.ok((await replica.listEvents({ name: 'vm1' })).events.some(e => e.kind === 'replica-updated' && e.data?.recoveryPoints === 5), 'and one on the Replica')

  // A cycle in flight while the settings change ends as it would have.
  const cycle = runCycle(primary, 'vm1')
  const during = await primary.replicationUpdate('vm1', { appConsistentEvery: '1h', bandwidth: 'none' })
  t.equal(during.settings.appConsistentEvery, HOUR)
  t.equal((await cycle).outcome, 'ok', 'the cycle was not disturbed')
  t.equal(primary.relationships.get('vm1')!.settings.bandwidth, null, 'the cycle\'s end kept the new settings')

  const kept = primary.relationships.get('vm1')!.settings
  await t.rejects(primary.replicationUpdate('vm1', { frequency: '30s', bandwidth: 'fast' }), { code: 'APP_SETTING_INVALID' })
  await t.rejects(primary.replicationUpdate('vm1', { recoveryPoints: '-1' }), { code: 'APP_SETTING_INVALID' })
  await t.rejects(primary.replicationUpdate('vm1', {}), { code: 'APP_USAGE' })
  t.same(primary.relationships.get('vm1')!.settings, kept, 'a refused change changes nothing')
  t.equal(primary.scheduler.get('vm1')!.frequencyMs, 20 * 60_000, 'nor the schedule')
  await t.rejects(replica.replicationUpdate('vm1', { frequency: '5m' }), { code: 'APP_RELATIONSHIP_NOT_FOUND' }, 'the Replica side does not change settings')
  await t.rejects(primary.replicationUpdate('nope', { frequency: '5m' }), { code: 'APP_RELATIONSHIP_NOT_FOUND' })
  const events = (await primary.listEvents({ name: 'vm1' })).events.filter(e => e.kind === 'replication-settings').length
  await primary.replicationUpdate('vm1', { frequency: '20m' })
  t.equal((await primary.listEvents({ name: 'vm1' })).events.filter(e => e.kind === 'replication-settings').length, events, 'the same value again writes nothing')

  await primary.stop()
  primary = await startBox(p, primaryDir)
  const [status] = await primary.replicationStatus('vm1')
  t.match(status!.settings, { frequency: 20 * 60_000, bandwidth: null, recoveryPoints: 5, appConsistentEvery: HOUR }, 'kept across a restart')
  const schedule = primary.scheduler.get('vm1')!
  t.equal(schedule.frequencyMs, 20 * 60_000, 'scheduled on the new frequency')
  await primary.replicationUpdate('vm1', { frequency: '40m' })
  t.equal(schedule.nextDue, primary.relationships.get('vm1')!.lastPointAt! + 40 * 60_000, 'after a restart a new frequency counts from the newest point')
})
