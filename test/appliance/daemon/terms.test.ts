/**
 * The returning primary, in-process: two Appliances on loopback, a
 * manual-driver VM on the primary (no VM runs). The Replica fails over
 * while the primary is down (it cannot be told); the restarted primary's
 * next cycle is refused by the term check, and its relationship stops in
 * `error` with P2P_FAILED_OVER and a reason that says what to run, its
 * schedule gone (no retries), Critical in `replication status`; restarted
 * again it stays there and starts nothing. The Replica cancels: the
 * operator resumes the primary and its cycles are taken again. A failover
 * while the primary is up: it is told at once (`failed-over`), and a VM
 * still running there is said so. A Replica whose record holds a newer
 * term: the primary's cycle is refused with P2P_STALE_TERM, and it stops
 * the same way.
 */
import t from 'tap'
import { join } from 'node:path'
import type { Appliance } from '../../../appliance/daemon/index.ts'
import type { CycleRecord, LogEvent } from '../../../appliance/events/index.ts'
import { sendFailedOver, sendUpdate } from '../../../p2p/relationship/index.ts'
import { freePort, scatteredPatches, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { addManualVm, pairedDaemons, startDaemon } from '../../helpers/paired-daemons.ts'

const BS = 65536
const DISK_BYTES = 32 * BS

/** Resolves with the primary's next cycle record. */
async function nextCycle (app: Appliance): Promise<CycleRecord> {
  return await new Promise(resolve => {
    const off = app.replication.onCycle((_id, record) => { off(); resolve(record) })
  })
}

const kinds = (events: LogEvent[]): string[] => events.map(e => e.kind)

t.test('a failover while the primary is down: refused when it returns, stopped with the reason, stays stopped; a cancel lets it resume', async t => {
  const root = await tempDir(t)
  const boxes = await pairedDaemons(t, root, `/ip4/127.0.0.1/tcp/${await freePort()}`)
  const { replica, primaryDir: pDir } = boxes
  let primary = boxes.primary
  const disk = join(root, 'disk0.img')
  await addManualVm(primary, 'vm1', disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(1, DISK_BYTES, 8, BS))
  const first = nextCycle(primary)
  await primary.replicationEnable('vm1', { to: 'box-r', frequency: '1h' })
  t.equal((await first).outcome, 'ok', 'initial replication')
  const peer = primary.node.peerId.toString()
  const points = async (): Promise<string[]> => (await replica.points('vm1')).points.map(p => `${p.id}:${p.root}`)
  const held = await points()

  // The primary is gone; the Replica fails over and cannot tell it.
  await primary.stop()
  const recorded = await replica.replica.failedOver('vm1')
  t.match(recorded.relationship, { state: 'failed-over-waiting-completion', term: 2 })
  t.not(await recorded.primaryTold, 'accepted', 'the primary could not be told')
  t.match(await replica.replicaStatus(), [{ vm: 'vm1', state: 'failed-over-waiting-completion', term: 2 }])

  // It comes back: its next cycle is refused by the term check.
  primary = await startDaemon(t, pDir)
  t.ok(primary.scheduler.get('vm1') !== undefined, 'it does not know yet: its schedule runs')
  await writePatches(disk, scatteredPatches(2, DISK_BYTES, 8, BS))
  const refused = nextCycle(primary)
  primary.scheduler.get('vm1')!.runNow()
  const cycle = await refused
  t.match(cycle, { outcome: 'failed', code: 'P2P_FAILED_OVER' }, 'refused: the Replica failed over')
  const rel = primary.relationships.get('vm1')!
  t.match(rel, { state: 'error', code: 'P2P_FAILED_OVER', term: 1 }, 'the relationship stops in error with the code; its term stays')
  t.match(rel.reason, /^the Replica \(box-r\) failed over this VM: it refused this box's term 1 on .*: this box is no longer its primary; run `tandem replication reverse vm1` there/)
  t.equal(primary.scheduler.get('vm1'), undefined, 'its schedule is gone: no retries')
  const [status] = await primary.replicationStatus('vm1')
  t.match(status, { state: 'error', health: 'critical', healthRule: 'error', code: 'P2P_FAILED_OVER', nextCycleAt: null, running: false })
  t.ok(status!.reason.includes(rel.reason), 'status gives the reason')
  const stateEvents = (await primary.events.read({ relationship: 'vm1' })).events.filter(e => e.kind === 'state')
  t.match(stateEvents.at(-1), { code: 'P2P_FAILED_OVER', reason: rel.reason, data: { to: 'error', input: 'term-lost' } }, 'the event log records it')
  t.same(await points(), held, 'nothing reached the Replica\'s store')
  await t.rejects(primary.replicationSuspend('vm1'), { code: 'APP_INVALID_STATE' }, 'suspend is refused: there is nothing to suspend')
  await t.rejects(primary.replicationResync('vm1'), { code: 'APP_INVALID_STATE' })

  // Restarted again, it stays there and starts nothing: no schedule, no cycle, no VM started.
  const logged = (await primary.events.read()).events.length
  await primary.stop()
  primary = await startDaemon(t, pDir)
  t.match(primary.relationships.get('vm1'), { state: 'error', code: 'P2P_FAILED_OVER' })
  t.equal(primary.scheduler.get('vm1'), undefined, 'not scheduled after a restart')
  t.match(await primary.replicationStatus('vm1'), [{ health: 'critical', nextCycleAt: null }])
  const since = (await primary.events.read()).events.slice(logged)
  t.notOk(since.some(e => e.kind === 'cycle' || e.kind === 'vm-start'), `nothing ran since the restart (${kinds(since).join(', ')})`)

  // The Replica cancels its failover (the term goes back); the operator resumes the primary, and its cycles are taken again.
  t.match(await replica.replica.failoverCancelled('vm1'), { state: 'replicating', term: 1 })
  t.match(await primary.replicationResume('vm1'), { state: 'replicating', code: null })
  const again = nextCycle(primary)
  primary.scheduler.get('vm1')!.runNow()
  t.equal((await again).outcome, 'ok', 'the primary replicates again')
  t.not((await points()).at(-1), held.at(-1), 'a new point on the Replica')

  // This time the primary is up: told at once. A VM still running here is left running, and said so.
  const status0 = primary.drivers.manual.status.bind(primary.drivers.manual)
  primary.drivers.manual.status = async vm => ({ ...(await status0(vm)), state: 'running' })
  const told = await replica.replica.failedOver('vm1')
  t.equal(await told.primaryTold, 'accepted', 'the primary answered the notice')
  const noticed = primary.relationships.get('vm1')!
  t.match(noticed, { state: 'error', code: 'P2P_FAILED_OVER' })
  t.match(noticed.reason, new RegExp(`^the Replica \\(box-r\\) failed over this VM at term 2 on ${new Date(told.relationship.changedAt).toISOString().replace(/\./g, '\\.')}: `))
  t.equal(primary.scheduler.get('vm1'), undefined, 'its schedule is gone')
  const primaryEvents = (await primary.events.read({ relationship: 'vm1' })).events
  t.match(primaryEvents.filter(e => e.kind === 'stale-primary-vm'), [{ vm: 'vm1', code: 'P2P_FAILED_OVER' }], 'the VM still running is said so')
  t.match((await replica.listEvents({ name: 'vm1' })).events.filter(e => e.kind === 'failover-notice').at(-1), { data: { outcome: 'accepted', term: 2 }, reason: /^the primary \(box-p\) was told/ }, 'the primary, named, was told')
  // the term lost, the primary looks at keeping its disks in the background (a running VM: it says it does not, in an event): let it end
  await primary.demotion.settled()
  primary.drivers.manual.status = status0

  // The same notice again changes nothing; an old one is refused.
  const count = (await primary.events.read()).events.length
  await sendFailedOver(replica.node, primary.node.peerId, { relationship: 'vm1', term: 2, at: told.relationship.changedAt })
  await primary.demotion.settled()
  t.same(kinds((await primary.events.read()).events.slice(count)), [], 'a repeated notice writes nothing')
  await t.rejects(sendFailedOver(replica.node, primary.node.peerId, { relationship: 'vm1', term: 1, at: 0 }), { code: 'P2P_STALE_TERM' }, 'a notice of an older term')
  await t.rejects(sendFailedOver(primary.node, replica.node.peerId, { relationship: 'vm1', term: 3, at: 0 }), { code: 'P2P_RELATIONSHIP_UNKNOWN' }, 'the Replica is no primary of it')
  t.equal(peer, primary.node.peerId.toString())
})

t.test('a Replica that holds a newer term: the primary\'s cycle is refused with P2P_STALE_TERM, and it stops the same way', async t => {
  const root = await tempDir(t)
  const { primary, replica } = await pairedDaemons(t, root)
  await addManualVm(primary, 'vm1', join(root, 'disk0.img'), DISK_BYTES)
  const first = nextCycle(primary)
  await primary.replicationEnable('vm1', { to: 'box-r', frequency: '1h' })
  t.equal((await first).outcome, 'ok')

  // A buggy sender from the same box raises the Replica's record to term 5 behind the daemon's back.
  const shape = replica.relationships.get('vm1')!.protectedVm!
  await sendUpdate(primary.node, replica.node.peerId, {
    relationship: 'vm1',
    term: 5,
    suspended: false,
    vm: shape,
    settings: { frequency: 3_600_000, recoveryPoints: 24, appConsistentEvery: null, bandwidth: null, initial: { mode: 'now' } }
  })
  t.equal(replica.relationships.get('vm1')?.term, 5)

  const refused = nextCycle(primary)
  primary.scheduler.get('vm1')!.runNow()
  t.match(await refused, { outcome: 'failed', code: 'P2P_STALE_TERM' })
  const rel = primary.relationships.get('vm1')!
  t.match(rel, { state: 'error', code: 'P2P_STALE_TERM', term: 1 })
  t.match(rel.reason, /^the Replica \(box-r\) holds a newer term than this box's 1 \(refused on .*\), so it failed over this VM: /)
  t.equal(primary.scheduler.get('vm1'), undefined)
  t.match(await primary.replicationStatus('vm1'), [{ health: 'critical', code: 'P2P_STALE_TERM' }])

  // The operator resumes anyway: the update it sends is refused, and it stops again at once.
  const resumed = await primary.replicationResume('vm1')
  t.match(resumed, { state: 'error', code: 'P2P_STALE_TERM', nextCycleAt: null }, 'the Replica refused the update: stopped again')
  t.equal(primary.scheduler.get('vm1'), undefined)
})
