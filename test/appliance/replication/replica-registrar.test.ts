/**
 * The Replica's persisted registrar: the RelationshipRegistrar compliance
 * suite over a real relationships file and event log, then what only a
 * persisted one shows: records survive a reopen, carry the VM's
 * description, its events are logged, and its policy refuses settings
 * this box does not take.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { EventLog } from '../../../appliance/events/index.ts'
import { ReplicaRegistrar } from '../../../appliance/replication/replica-registrar.ts'
import { RelationshipTable } from '../../../appliance/relationships/index.ts'
import { registrarSuite } from '../../helpers/registrar-suite.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { sampleDescription } from '../../p2p/fixtures/relationship.ts'

const A = '12D3KooWPrimaryA'
const signal = new AbortController().signal

async function parts (t: Test, dir?: string): Promise<{ dir: string, table: RelationshipTable, events: EventLog, registrar: ReplicaRegistrar }> {
  dir ??= await tempDir(t)
  const table = await RelationshipTable.open(join(dir, 'relationships.json'))
  const events = await EventLog.open(join(dir, 'events'))
  t.teardown(async () => { await events.close() })
  const registrar = new ReplicaRegistrar({ relationships: table, events, now: Date.now, hasLocalVm: name => name === 'local-vm' })
  return { dir, table, events, registrar }
}

t.test('compliance suite', async t => {
  registrarSuite(t, async t => (await parts(t)).registrar)
})

t.test('an offer is a replica record with the VM and settings, durable across a reopen', async t => {
  const { dir, registrar, events } = await parts(t)
  await registrar.offer(A, sampleDescription({ term: 3 }), signal)
  const table = await RelationshipTable.open(join(dir, 'relationships.json'))
  const rel = table.get('web-1')!
  t.match(rel, { id: 'web-1', vm: 'web', role: 'replica', peer: A, term: 3, state: 'waiting-initial-replication' })
  t.same(rel.settings, { frequency: 300_000, recoveryPoints: 24, appConsistentEvery: 4 * 3_600_000, bandwidth: 10_000_000, initial: 'now' })
  t.same(rel.protectedVm, sampleDescription().vm)
  const kinds = (await events.read({ relationship: 'web-1' })).events.map(e => e.kind)
  t.same(kinds, ['replica-added', 'state'])
})

t.test('suspended and resumed by the primary; a repeated update writes no event', async t => {
  const { registrar, table, events } = await parts(t)
  await registrar.offer(A, sampleDescription(), signal)
  await registrar.update(A, sampleDescription({ suspended: true }), signal)
  t.equal(table.get('web-1')!.state, 'suspended')
  const before = (await events.read()).events.length
  await registrar.update(A, sampleDescription({ suspended: true }), signal)
  t.equal((await events.read()).events.length, before, 'nothing changed, nothing logged')
  await registrar.update(A, sampleDescription(), signal)
  t.equal(table.get('web-1')!.state, 'waiting-initial-replication', 'resumed to what it owes')
})

t.test('remove forgets the record and logs where the points are kept', async t => {
  const { registrar, table, events } = await parts(t)
  await registrar.offer(A, sampleDescription(), signal)
  await registrar.remove(A, { relationship: 'web-1', term: 1 }, signal)
  t.equal(table.get('web-1'), undefined)
  const last = (await events.read()).events.at(-1)!
  t.match(last, { kind: 'replica-removed', relationship: 'web-1', vm: 'web', data: { peer: A } })
})

t.test('this box\'s policy: settings out of its ranges, term 0, a local VM of the same name', async t => {
  const { registrar, table } = await parts(t)
  const s = sampleDescription().settings
  const code = async (p: Promise<void>): Promise<unknown> => await p.then(() => 'accepted', (err: { code?: string }) => err.code)
  t.equal(await code(registrar.offer(A, sampleDescription({ settings: { ...s, frequency: 10 } }), signal)), 'P2P_RELATIONSHIP_REFUSED', 'a 10 ms frequency')
  t.equal(await code(registrar.offer(A, sampleDescription({ settings: { ...s, bandwidth: 5 } }), signal)), 'P2P_RELATIONSHIP_REFUSED', '5 B/s')
  t.equal(await code(registrar.offer(A, sampleDescription({ term: 0 }), signal)), 'P2P_RELATIONSHIP_REFUSED', 'term 0')
  t.equal(await code(registrar.offer(A, sampleDescription({ vm: { ...sampleDescription().vm, name: 'local-vm' } }), signal)), 'P2P_RELATIONSHIP_REFUSED', 'a VM of this box')
  t.same(table.list(), [], 'nothing recorded')
  t.equal(await code(registrar.offer(A, sampleDescription({ settings: { ...s, initial: { mode: 'seed' } } }), signal)), 'accepted', 'a seed')
  t.equal(table.get('web-1')!.settings.initial, 'existing', 'a seed is a copy already here')
})

t.test('an aborted signal changes nothing', async t => {
  const { registrar, table } = await parts(t)
  const c = new AbortController()
  c.abort(new Error('stop'))
  await t.rejects(registrar.offer(A, sampleDescription(), c.signal))
  t.same(table.list(), [])
})

t.test('concurrent offers of one id from two peers: exactly one holds it', async t => {
  const { registrar, table } = await parts(t)
  const B = '12D3KooWPrimaryB'
  const outcomes = await Promise.all([A, B].map(async p => await registrar.offer(p, sampleDescription(), signal).then(() => 'accepted', (err: { code?: string }) => err.code)))
  t.same(outcomes.sort(), ['P2P_RELATIONSHIP_REFUSED', 'accepted'])
  t.equal(table.list().length, 1)
})

t.test('a committed point: the first ends the initial replication, later ones are noted; another peer\'s store changes nothing', async t => {
  const { registrar, table, events } = await parts(t)
  await registrar.offer(A, sampleDescription(), signal)
  await registrar.pointCommitted('12D3KooWPrimaryB', 'web-1', { id: 1, time: 1000, consistency: 'crash' })
  t.equal(table.get('web-1')!.lastPointAt, undefined, 'not that peer\'s relationship')
  await registrar.pointCommitted(A, 'web-1', { id: 1, time: 1000, consistency: 'crash' })
  t.match(table.get('web-1'), { state: 'replicating', lastPointAt: 1000, initialDoneAt: Number })
  await registrar.pointCommitted(A, 'web-1', { id: 2, time: 2000, consistency: 'app' })
  t.match(table.get('web-1'), { state: 'replicating', lastPointAt: 2000 })
  const kinds = (await events.read({ relationship: 'web-1' })).events.map(e => e.kind)
  t.same(kinds, ['replica-added', 'state', 'point-received', 'state', 'point-received'])
})

t.test('failed over here: the old primary\'s offer, update and removal are refused with P2P_FAILED_OVER and change nothing; a cancel takes it back', async t => {
  const { registrar, table, events } = await parts(t)
  const code = async (p: Promise<void>): Promise<unknown> => await p.then(() => 'accepted', (err: { code?: string }) => err.code)
  await registrar.offer(A, sampleDescription({ term: 2 }), signal)
  await registrar.pointCommitted(A, 'web-1', { id: 1, time: 1000, consistency: 'crash' })
  t.equal(await code(registrar.update(A, sampleDescription({ term: 1 }), signal)), 'P2P_STALE_TERM', 'a lower term than the record\'s')

  const over = await registrar.apply('web-1', { kind: 'failover' })
  t.match(over, { state: 'failed-over-waiting-completion', term: 3 })
  const before = table.get('web-1')
  const logged = (await events.read()).events.length
  for (const term of [2, 3, 4]) {
    t.equal(await code(registrar.update(A, sampleDescription({ term, suspended: true }), signal)), 'P2P_FAILED_OVER', `an update at term ${term}`)
    t.equal(await code(registrar.offer(A, sampleDescription({ term }), signal)), 'P2P_FAILED_OVER', `an offer at term ${term}`)
    t.equal(await code(registrar.remove(A, { relationship: 'web-1', term }, signal)), 'P2P_FAILED_OVER', `a removal at term ${term}: the record the VM runs under stays`)
  }
  t.equal(await code(registrar.offer('12D3KooWPrimaryB', sampleDescription({ term: 9 }), signal)), 'P2P_RELATIONSHIP_REFUSED', 'another primary still cannot take the id')
  t.same(table.get('web-1'), before, 'the record is unchanged')
  t.equal((await events.read()).events.length, logged, 'and nothing was logged')
  await t.rejects(registrar.apply('web-1', { kind: 'failover' }), { code: 'APP_INVALID_STATE' }, 'no second failover')
  await t.rejects(registrar.apply('nope', { kind: 'failover' }), { code: 'APP_RELATIONSHIP_NOT_FOUND' })

  t.match(await registrar.apply('web-1', { kind: 'cancel' }), { state: 'replicating', term: 2 }, 'cancel gives the term back')
  t.equal(await code(registrar.update(A, sampleDescription({ term: 2 }), signal)), 'accepted', 'the primary is taken again')
  const kinds = (await events.read({ relationship: 'web-1' })).events.filter(e => e.kind === 'state').map(e => e.data?.to)
  t.same(kinds, ['waiting-initial-replication', 'replicating', 'failed-over-waiting-completion', 'replicating'], 'every input is a state event')
})
