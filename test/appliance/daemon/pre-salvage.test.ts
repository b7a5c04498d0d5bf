/**
 * The old primary keeps its disks as soon as it learns it lost its term
 * (docs/failover.md "Salvage", "Delta failback"), in-process: two
 * Appliances on loopback, a manual-driver VM (no VM runs) failed over on
 * the Replica while the primary is down.
 *
 * - Restarted and refused, the old primary prepares: its salvage list
 *   shows the copy `prepared`, its point byte for byte its disk;
 *   `replication reverse` takes that point as the salvage copy (no second
 *   copy: the same point, the event says so) and its first cycle sends at
 *   most 1.1x the blocks that differ.
 * - A reverse that comes while the preparation runs waits for it (the
 *   store's lock handed over) and takes its point.
 * - A disk written after the preparation is copied again at the reverse:
 *   the salvage copy is the disk as it was then, byte for byte.
 * - A VM that runs (a process holds its disk) is not prepared, said so; at
 *   the next daemon start, no longer running, it is; `replication remove`
 *   drops it (record, point and store).
 * - The Replica cancels its failover; `replication resume` on the old
 *   primary drops the preparation.
 */
import t, { type Test } from 'tap'
import { copyFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Appliance } from '../../../appliance/daemon/index.ts'
import { fileHash, scatteredPatches, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { addManualVm, enableReplication, restartablePair, runCycle, startBox, type Box } from '../../helpers/paired-daemons.ts'
import { startStorageDaemon } from '../../helpers/storage-daemon.ts'
import { requireTools } from '../../helpers/tools.ts'
import { differingBlockIndices } from '../../helpers/block-diff.ts'

requireTools(t, ['qemu-img', 'qemu-storage-daemon'])

const BS = 64 * 1024
const DISK_BYTES = 64 * BS

/** How many blocks of two files of the same size differ (the test's own hashing). */
const differingBlocks = async (a: string, b: string): Promise<number> => (await differingBlockIndices(a, b, BS)).size

const exists = async (path: string): Promise<boolean> => await stat(path).then(() => true, () => false)

/**
 * A VM `vm` replicated once, then failed over on the Replica while the
 * primary is down (completed when `complete`), the primary's disk written
 * offline; the primary is not started again here.
 */
async function failedOverWhileDown (t: Test, vm: string, options: { complete: boolean }): Promise<{ p: Box, r: Box, primaryDir: string, replicaDir: string, disk: string, replica: Appliance, replicaPeer: string }> {
  const root = await tempDir(t)
  const pair = await restartablePair(t, root, vm)
  const primary = pair.p.app!
  const replica = pair.r.app!
  const disk = join(root, `${vm}.raw`)
  await addManualVm(primary, vm, disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(1, DISK_BYTES, 8, BS))
  t.equal((await enableReplication(primary, vm, { to: 'box-r', frequency: '1h', recoveryPoints: '0' })).outcome, 'ok', 'initial replication')
  await primary.stop()
  pair.p.app = undefined
  if (options.complete) {
    const failed = await replica.jobRegistry.wait((await replica.failoverUnplanned(vm)).id)
    t.equal(failed.state, 'ok', failed.error?.message ?? 'failed over')
    const done = await replica.jobRegistry.wait((await replica.failoverComplete(vm, { yes: true })).id)
    t.equal(done.state, 'ok', done.error?.message ?? 'completed')
  } else {
    await replica.replica.failedOver(vm)
  }
  await writePatches(disk, scatteredPatches(7, DISK_BYTES, 5, 20_000))
  return { ...pair, disk, replica, replicaPeer: replica.node.peerId.toString() }
}

/** Starts the old primary again, runs its cycle (refused) and waits for what the refusal started. */
async function refused (t: Test, p: Box, primaryDir: string, vm: string): Promise<Appliance> {
  const primary = await startBox(p, primaryDir)
  t.not((await runCycle(primary, vm)).outcome, 'ok', 'its cycle is refused')
  t.match(primary.relationships.get(vm), { role: 'primary', state: 'error', code: /^P2P_(FAILED_OVER|STALE_TERM)$/ })
  await primary.demotion.settled()
  return primary
}

async function salvageEvents (app: Appliance, vm: string): Promise<Array<{ reason: string, outcome?: string, data?: Record<string, unknown> }>> {
  return (await app.events.read()).events.filter(e => e.kind === 'salvage' && e.vm === vm) as Array<{ reason: string, outcome?: string, data?: Record<string, unknown> }>
}

t.test('refused, the old primary keeps its disks at once; the reverse takes that point as the salvage copy and sends only the differing blocks', async t => {
  const { p, primaryDir, replicaDir, disk, replica, replicaPeer } = await failedOverWhileDown(t, 'web', { complete: true })
  // The new primary writes too.
  const newDisk = join(replicaDir, 'failover', 'web', 'disk0.raw')
  await writePatches(newDisk, scatteredPatches(9, DISK_BYTES, 3, 30_000))
  const primary = await refused(t, p, primaryDir, 'web')

  const list = await primary.salvageList('web')
  t.match(list, [{ relationship: 'web', vm: 'web', peer: replicaPeer, state: 'prepared', prepared: true, point: Number, since: null, disks: [{ name: 'disk0', size: DISK_BYTES, source: disk }] }], 'the preparation is listed')
  const prepared = list[0]!
  const kept = join(primaryDir, '..', 'prepared.raw')
  await primary.replica.materializePoint(`${replicaPeer}/web`, prepared.point!, [{ disk: 'disk0', out: kept }])
  t.equal(await fileHash(kept), await fileHash(disk), 'its point is the disk, byte for byte')
  t.match((await salvageEvents(primary, 'web')).filter(e => e.outcome !== undefined), [{ outcome: 'ok', data: { prepared: true, point: prepared.point } }], 'one copy, said so')
  const beforeReverse = join(primaryDir, '..', 'before-reverse.raw')
  await copyFile(disk, beforeReverse)

  const job = await replica.jobRegistry.wait((await replica.replicationReverse('web')).id)
  t.match(job, { kind: 'replication-reverse', state: 'ok', reverse: { firstCycle: { outcome: 'ok' } } }, job.error?.message ?? 'reversed')
  await primary.demotion.settled()
  const salvage = await primary.salvageList('web')
  t.match(salvage, [{ state: 'kept', point: prepared.point, since: String }], 'the prepared point is the salvage copy; the preparation is gone')
  t.not(salvage[0]!.id, prepared.id)
  const events = (await salvageEvents(primary, 'web')).filter(e => e.outcome !== undefined)
  t.equal(events.filter(e => e.outcome === 'ok').length, 2, 'no second copy')
  t.match(events.at(-1), { outcome: 'ok', data: { point: prepared.point, salvage: true, prepared: prepared.id, reused: true } })
  const points = (await primary.points('web')).points.map(x => x.id)
  t.equal(points.length, 2, 'the store: the prepared point and the new primary\'s first')
  t.ok(points.includes(prepared.point!))

  const first = job.reverse!.firstCycle!
  const differing = await differingBlocks(beforeReverse, newDisk)
  t.ok(differing > 0, `${differing} blocks differ`)
  t.equal(first.bytesChanged, differing * BS, 'the first cycle sent exactly the blocks that differ')
  t.ok(first.bytesSent <= 1.1 * differing * BS, `bytes sent ${first.bytesSent} <= 1.1 x ${differing * BS}`)
})

t.test('a reverse that comes while the preparation runs waits for it and takes its point', async t => {
  const { p, primaryDir, replica } = await failedOverWhileDown(t, 'crm', { complete: true })
  const primary = await startBox(p, primaryDir)
  // Fault injection: the preparation's first look at its store waits for the test.
  let open!: () => void
  const gate = new Promise<void>(resolve => { open = resolve })
  let reached!: () => void
  const waiting = new Promise<void>(resolve => { reached = resolve })
  const sink = primary.replica.sink
  const holdExclusive = sink.holdExclusive.bind(sink)
  sink.holdExclusive = async (...args) => {
    sink.holdExclusive = holdExclusive
    const held = await holdExclusive(...args)
    const listPoints = held.store.listPoints.bind(held.store)
    held.store.listPoints = async () => { held.store.listPoints = listPoints; reached(); await gate; return await listPoints() }
    return held
  }
  const demotion = primary.demotion
  const reverse = demotion.reverse.bind(demotion)
  let reversed!: () => void
  const answered = new Promise<void>(resolve => { reversed = resolve })
  demotion.reverse = async (...args) => { await reverse(...args); reversed() }

  t.not((await runCycle(primary, 'crm')).outcome, 'ok', 'its cycle is refused')
  await waiting
  t.match(await primary.salvageList('crm'), [{ state: 'saving' }], 'the preparation runs')
  const job = replica.replicationReverse('crm').then(async started => await replica.jobRegistry.wait(started.id))
  await answered
  t.match(primary.relationships.get('crm'), { role: 'replica' }, 'the reverse is answered while the preparation runs')
  open()
  const done = await job
  t.match(done, { state: 'ok', reverse: { firstCycle: { outcome: 'ok' } } }, done.error?.message ?? 'reversed')
  await primary.demotion.settled()
  const ends = (await salvageEvents(primary, 'crm')).filter(e => e.outcome !== undefined)
  t.match(ends, [{ outcome: 'ok', data: { prepared: true } }, { outcome: 'ok', data: { salvage: true, reused: true } }], 'one copy, taken by the reverse')
  t.match(await primary.salvageList('crm'), [{ state: 'kept', point: ends[0]!.data!.point }])
})

t.test('a disk written after the preparation is copied again at the reverse', async t => {
  const { p, primaryDir, disk, replica } = await failedOverWhileDown(t, 'db', { complete: true })
  const primary = await refused(t, p, primaryDir, 'db')
  const [prepared] = await primary.salvageList('db')
  t.match(prepared, { state: 'prepared', point: Number })
  await writePatches(disk, scatteredPatches(11, DISK_BYTES, 2, 5000))
  const atReverse = join(primaryDir, '..', 'at-reverse.raw')
  await copyFile(disk, atReverse)

  const job = await replica.jobRegistry.wait((await replica.replicationReverse('db')).id)
  t.equal(job.state, 'ok', job.error?.message ?? 'reversed')
  await primary.demotion.settled()
  const salvage = await primary.salvageList('db')
  t.equal(salvage.length, 1, 'the preparation is gone')
  t.match(salvage[0], { state: 'kept', point: Number })
  t.not(salvage[0]!.point, prepared!.point, 'a new copy')
  t.match((await salvageEvents(primary, 'db')).at(-1), { outcome: 'ok', data: { salvage: true, prepared: prepared!.id, reused: false } })
  const out = join(primaryDir, '..', 'salvage.raw')
  const restored = await primary.jobRegistry.wait((await primary.salvageRestore(salvage[0]!.id, { out })).id)
  t.equal(restored.state, 'ok', restored.error?.message ?? 'restored')
  t.equal(await fileHash(out), await fileHash(atReverse), 'the salvage copy is the disk at the reverse, byte for byte')
})

t.test('a VM that runs is not prepared; at the next start it is; remove drops it', async t => {
  const root = await tempDir(t)
  const { p, r, primaryDir } = await restartablePair(t, root, 'app')
  let primary = p.app!
  const replica = r.app!
  const disk = join(root, 'app.raw')
  await addManualVm(primary, 'app', disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(1, DISK_BYTES, 8, BS))
  t.equal((await enableReplication(primary, 'app', { to: 'box-r', frequency: '1h', recoveryPoints: '0' })).outcome, 'ok', 'initial replication')
  // The VM runs on (a process holds its disk) when the Replica fails over and tells this box at once.
  const qsd = await startStorageDaemon({ dir: root, disk, format: 'raw' })
  t.teardown(qsd.kill)
  t.equal(await (await replica.replica.failedOver('app')).primaryTold, 'accepted', 'told at once')
  t.match(primary.relationships.get('app'), { role: 'primary', state: 'error', code: 'P2P_FAILED_OVER' })
  await primary.demotion.settled()
  t.same(await primary.salvageList('app'), [], 'no copy while a process holds its disk')
  t.match(await salvageEvents(primary, 'app'), [{ reason: /not kept now.*replication reverse app/ }], 'said so')
  await qsd.stop()

  await primary.stop()
  primary = await startBox(p, primaryDir)
  await primary.demotion.settled()
  const [prepared] = await primary.salvageList('app')
  t.match(prepared, { state: 'prepared', point: Number }, 'prepared at the start')
  const store = join(primaryDir, 'store', replica.node.peerId.toString(), 'app')
  t.ok(await exists(store))

  t.match(await primary.replicationRemove('app'), { removed: true })
  t.same(await primary.salvageList(), [], 'its record is gone')
  t.notOk(await exists(store), 'and its store, which held nothing else')
})

t.test('the Replica cancels its failover: resume on the old primary drops the preparation', async t => {
  const { p, primaryDir, replica, replicaPeer } = await failedOverWhileDown(t, 'mail', { complete: false })
  const primary = await refused(t, p, primaryDir, 'mail')
  t.match(await primary.salvageList('mail'), [{ state: 'prepared' }])
  await replica.replica.failoverCancelled('mail')
  const resumed = await primary.replicationResume('mail')
  t.match(resumed, { state: 'replicating' })
  t.same(await primary.salvageList(), [], 'the preparation is gone')
  t.notOk(await exists(join(primaryDir, 'store', replicaPeer, 'mail')), 'and its store')
  t.equal((await runCycle(primary, 'mail')).outcome, 'ok', 'its cycles are taken again')
})
