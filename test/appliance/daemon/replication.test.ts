/**
 * The primary's replication in-process: two Appliances on loopback, paired
 * through the service, a manual-driver VM in the primary's inventory.
 * Enable offers the relationship to the Replica and schedules it; cycles
 * (started with runNow, waited for through onCycle: no sleeps) make points
 * on the Replica that restore byte-exact to the disk as it was at each
 * cycle; suspend stops cycles and resume restarts them; a Replica that is
 * down makes cycles fail as network failures that the scheduler retries on
 * its own, and they succeed once it is back; status and measure match the
 * cycles that happened, with the pending bytes the VM's driver counts.
 * Scan threads start only with a cycle (never on the Replica), and the
 * result buffers a cycle kept are freed when it ends.
 *
 * The Replica is a whole daemon too: its ReplicaSide records the offers
 * (appliance/replication/replica-registrar.ts).
 */
import t, { type Test } from 'tap'
import { PassThrough } from 'node:stream'
import { watch } from 'node:fs'
import { join } from 'node:path'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import { readEventLog, type CycleRecord } from '../../../appliance/events/index.ts'
import { materializePoint } from '../../../core/restore.ts'
import { RecoveryPointStore } from '../../../core/store/index.ts'
import { fileHash, freePort, scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'

const BS = 65536
const DISK_BYTES = 32 * BS

async function startBox (t: Test, dir: string): Promise<Appliance> {
  const app = await Appliance.start({ dataDir: dir, log: new PassThrough().resume() })
  t.teardown(async () => { await app.stop() })
  return app
}

/** Resolves with the next `n` cycle records of the primary. */
function nextCycles (app: Appliance, n: number): Promise<CycleRecord[]> {
  const got: CycleRecord[] = []
  return new Promise(resolve => {
    const off = app.replication.onCycle((_id, record) => {
      got.push(record)
      if (got.length === n) { off(); resolve(got) }
    })
  })
}

t.test('enable, cycles, suspend/resume, a Replica down and back, status and measure', async t => {
  const root = await tempDir(t)
  const primaryDir = join(root, 'primary')
  const replicaDir = join(root, 'replica')
  const replicaPort = await freePort()
  await initDataDir(primaryDir, { name: 'primary-box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  await initDataDir(replicaDir, { name: 'replica-box', listen: [`/ip4/127.0.0.1/tcp/${replicaPort}`] })
  const primary = await startBox(t, primaryDir)
  let replica = await startBox(t, replicaDir)

  const open = await replica.pairOpen()
  await primary.pairJoin({ pin: open.pin!, addr: open.addresses[0]! })

  const disk = join(root, 'disk0.img')
  await sparseFile(disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(1, DISK_BYTES, 20, 3 * BS))
  await primary.inventory.add({
    driver: 'manual',
    definition: { name: 'vm1', vcpus: 1, memoryMiB: 256, disks: [{ name: 'disk0', path: disk, format: 'raw', node: 'disk0' }], nics: [], guestAgent: false },
    addedAt: Date.now()
  })

  await t.rejects(primary.replicationEnable('nope', { to: 'replica-box' }), { code: 'APP_VM_NOT_FOUND' })
  await t.rejects(primary.replicationEnable('vm1', { to: 'someone-else' }), { code: 'APP_PEER_NOT_FOUND' })
  await t.rejects(primary.replicationEnable('vm1', { to: 'replica-box', frequency: '10' }), { code: 'APP_SETTING_INVALID' })
  t.same(primary.relationships.list(), [], 'refused enables keep nothing')

  /** Snapshot time of each point → the disk's hash when its cycle ran. */
  const expected = new Map<number, string>()
  const oks: CycleRecord[] = []
  const failures: CycleRecord[] = []
  primary.replication.onCycle((_id, r) => { (r.outcome === 'ok' ? oks : failures).push(r) })

  // Enable: the Replica records the offer; the first cycle (initial replication) runs at once.
  t.equal(primary.replication.scanPool.threadCount, 0, 'no scan thread before a cycle needs one')
  let hash = await fileHash(disk)
  const first = nextCycles(primary, 1)
  const enabled = await primary.replicationEnable('vm1', { to: 'replica-box', frequency: '1h' })
  t.equal(enabled.state, 'waiting-initial-replication')
  t.equal(replica.relationships.get('vm1')?.peer, primary.node.peerId.toString(), 'the Replica holds the relationship')
  t.same(replica.relationships.get('vm1')?.protectedVm?.disks, [{ name: 'disk0', size: DISK_BYTES, format: 'raw' }])
  const [initial] = await first
  t.equal(initial!.outcome, 'ok')
  expected.set(initial!.start, hash)
  t.equal(primary.replication.scanPool.spareCount, 0, 'the last cycle to end frees the kept result buffers')
  t.equal(replica.replication.scanPool.threadCount, 0, 'a box that only receives never starts scan threads')
  await t.rejects(primary.replicationEnable('vm1', { to: 'replica-box' }), { code: 'APP_RELATIONSHIP_EXISTS' })

  let [status] = await primary.replicationStatus('vm1')
  t.equal(status!.state, 'replicating', 'initial replication done')
  t.equal(status!.lastPointTime, new Date(initial!.start).toISOString())
  t.same(await replica.replicationStatus(), [], 'the Replica lists no primary relationship: the one it holds is replicaStatus\'s')
  await t.rejects(replica.replicationStatus('vm1'), { code: 'APP_RELATIONSHIP_NOT_FOUND' }, 'nor by name')
  await t.rejects(replica.replicationMeasure('vm1'), { code: 'APP_RELATIONSHIP_NOT_FOUND' }, 'nor measures it: the cycle records are the primary\'s')
  t.match(await replica.replicaStatus(), [{ vm: 'vm1', role: 'replica', state: 'replicating', health: 'normal', healthRule: 'ok' }], 'with its health from its own record')

  // Change the disk between cycles: each cycle's point holds the disk as it was.
  for (let i = 0; i < 2; i++) {
    await writePatches(disk, scatteredPatches(10 + i, DISK_BYTES, 5, BS))
    hash = await fileHash(disk)
    const next = nextCycles(primary, 1)
    primary.scheduler.get('vm1')!.runNow()
    const [r] = await next
    t.equal(r!.outcome, 'ok')
    expected.set(r!.start, hash)
  }

  // Suspend: no cycle starts, even asked for; resume: cycles start again.
  const suspended = await primary.replicationSuspend('vm1')
  t.equal(suspended.state, 'suspended')
  t.equal(suspended.nextCycleAt, null)
  t.equal(replica.relationships.get('vm1')?.state, 'suspended', 'the Replica was told')
  await t.rejects(primary.replicationSuspend('vm1'), { code: 'APP_INVALID_STATE' })
  const before = oks.length
  primary.scheduler.get('vm1')!.runNow()
  t.equal(primary.scheduler.get('vm1')!.suspended, true)
  await writePatches(disk, scatteredPatches(20, DISK_BYTES, 5, BS))
  hash = await fileHash(disk)
  t.equal(oks.length, before, 'no cycle while suspended')
  const resumedCycle = nextCycles(primary, 1)
  t.equal((await primary.replicationResume('vm1')).state, 'replicating')
  const [afterResume] = await resumedCycle
  t.equal(afterResume!.outcome, 'ok', 'resume starts a cycle')
  expected.set(afterResume!.start, hash)

  // The Replica goes down: the cycle fails on the network, and the scheduler retries on its own once it is back.
  await replica.stop()
  await writePatches(disk, scatteredPatches(30, DISK_BYTES, 5, BS))
  hash = await fileHash(disk)
  const down = nextCycles(primary, 1)
  primary.scheduler.get('vm1')!.runNow()
  const [failed] = await down
  t.equal(failed!.outcome, 'failed')
  t.equal(failed!.failure, 'network', 'an unreachable Replica is a network failure')
  const back = nextCycles(primary, 1)
  replica = await startBox(t, replicaDir)
  const [retried] = await back
  t.equal(retried!.outcome, 'ok', 'the retry succeeds once the Replica is back')
  expected.set(retried!.start, hash)

  // status and measure match what happened.
  ;[status] = await primary.replicationStatus()
  t.equal(status!.state, 'replicating')
  t.equal(status!.health, 'normal')
  t.equal(status!.lastPointTime, new Date(retried!.start).toISOString())
  const m = await primary.replicationMeasure('vm1')
  t.equal(m.successCount, oks.length)
  t.equal(m.networkFailureCount, failures.filter(f => f.failure === 'network').length)
  t.equal(m.replicationFailureCount, 0)
  t.equal(m.maxSizeBytes, Math.max(...oks.map(c => c.bytesSent)))
  t.equal(m.lastReplicationTime, new Date(Math.max(...oks.map(c => c.end))).toISOString())
  const { events } = await primary.events.read({ relationship: 'vm1' })
  t.same(events.filter(e => e.kind === 'state').map(e => e.data?.to), ['waiting-initial-replication', 'replicating', 'suspended', 'replicating'], 'every transition is an event')

  // Every retained point restores byte-exact to the disk at its cycle.
  await replica.stop()
  const store = await RecoveryPointStore.open(join(replicaDir, 'store', primary.node.peerId.toString(), 'vm1'))
  try {
    const points = await store.listPoints()
    t.ok(points.length >= 1)
    for (const p of points) {
      t.ok(expected.has(p.time), `point ${p.id} is one of the cycles`)
      const out = join(root, `restored-${p.id}.img`)
      await materializePoint(store, p.id, 'disk0', out)
      t.equal(await fileHash(out), expected.get(p.time), `point ${p.id} restores byte-exact`)
    }
  } finally {
    await store.close()
  }

  // The Replica loses its record of the relationship: its next session is refused, the
  // primary offers the relationship again, and the next cycle goes through.
  replica = await startBox(t, replicaDir)
  await replica.relationships.remove('vm1')
  const refused = nextCycles(primary, 1)
  primary.scheduler.get('vm1')!.runNow()
  const [unknown] = await refused
  t.equal(unknown!.code, 'P2P_RELATIONSHIP_UNKNOWN', 'a Replica admits only relationships it holds')
  t.equal(replica.relationships.get('vm1')?.peer, primary.node.peerId.toString(), 'the primary offered it again')
  const again = nextCycles(primary, 1)
  primary.scheduler.get('vm1')!.runNow()
  t.equal((await again)[0]!.outcome, 'ok', 'and the next cycle goes through')

  // Remove: the relationship is gone here; the Replica forgets it.
  const removed = await primary.replicationRemove('vm1')
  t.same(removed, { relationship: 'vm1', vm: 'vm1', removed: true, replicaTold: true })
  t.equal(replica.relationships.get('vm1'), undefined, 'the Replica forgot the relationship')
  t.same(await primary.replicationStatus(), [])
  await t.rejects(primary.replicationStatus('vm1'), { code: 'APP_RELATIONSHIP_NOT_FOUND' })
})

t.test('a Replica that refuses the offer: the enable fails and nothing is kept', async t => {
  const root = await tempDir(t)
  await initDataDir(join(root, 'p'), { name: 'p', listen: ['/ip4/127.0.0.1/tcp/0'] })
  await initDataDir(join(root, 'r'), { name: 'r', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const primary = await startBox(t, join(root, 'p'))
  const replica = await startBox(t, join(root, 'r'))
  // The Replica has a VM of that name of its own: it refuses to protect another under that name.
  const own = join(root, 'own.img')
  await sparseFile(own, BS)
  await replica.inventory.add({ driver: 'manual', definition: { name: 'vm1', vcpus: 1, memoryMiB: 256, disks: [{ name: 'disk0', path: own, format: 'raw', node: 'disk0' }], nics: [], guestAgent: false }, addedAt: Date.now() })
  const open = await replica.pairOpen()
  await primary.pairJoin({ pin: open.pin!, addr: open.addresses[0]! })
  const disk = join(root, 'd.img')
  await sparseFile(disk, 4 * BS)
  await primary.inventory.add({ driver: 'manual', definition: { name: 'vm1', vcpus: 1, memoryMiB: 256, disks: [{ name: 'disk0', path: disk, format: 'raw', node: 'disk0' }], nics: [], guestAgent: false }, addedAt: Date.now() })
  await t.rejects(primary.replicationEnable('vm1', { to: 'r' }), { code: 'P2P_RELATIONSHIP_REFUSED' })
  t.same(primary.relationships.list(), [])
  t.equal(primary.scheduler.get('vm1'), undefined)
  t.same((await primary.events.read()).events.filter(e => e.kind === 'state'), [])
})

t.test('a primary stopped mid-cycle goes on after restart; every retained point verifies', async t => {
  const root = await tempDir(t)
  const pDir = join(root, 'p')
  const rDir = join(root, 'r')
  await initDataDir(pDir, { name: 'p', listen: ['/ip4/127.0.0.1/tcp/0'] })
  await initDataDir(rDir, { name: 'r', listen: ['/ip4/127.0.0.1/tcp/0'] })
  let primary = await startBox(t, pDir)
  const replica = await startBox(t, rDir)
  const open = await replica.pairOpen()
  await primary.pairJoin({ pin: open.pin!, addr: open.addresses[0]! })
  const size = 64 * 1024 * 1024
  const disk = join(root, 'd.img')
  await sparseFile(disk, size)
  await writePatches(disk, scatteredPatches(2, size, 8, BS))
  await primary.inventory.add({ driver: 'manual', definition: { name: 'vm1', vcpus: 1, memoryMiB: 256, disks: [{ name: 'disk0', path: disk, format: 'raw', node: 'disk0' }], nics: [], guestAgent: false }, addedAt: Date.now() })
  const expected = new Map<number, string>()
  let hash = await fileHash(disk)
  const first = nextCycles(primary, 1)
  await primary.replicationEnable('vm1', { to: 'r', frequency: '1h' })
  const [initial] = await first
  t.equal(initial!.outcome, 'ok')
  expected.set(initial!.start, hash)

  // A large change, and the daemon stops as soon as the cycle is in flight (its record is on disk).
  await writePatches(disk, scatteredPatches(3, size, 64, 8 * BS))
  hash = await fileHash(disk)
  const stateDir = join(pDir, 'primary', 'vm1')
  const inFlight = new Promise<void>(resolve => {
    const w = watch(stateDir, (_e, f) => { if (f === 'inflight.json') { w.close(); resolve() } })
  })
  primary.scheduler.get('vm1')!.runNow()
  await inFlight
  await primary.stop()
  const { events } = await readEventLog(join(pDir, 'events'), { relationship: 'vm1' })
  t.ok(events.some(e => e.kind === 'cycle' && e.phase === 'end' && e.outcome === 'interrupted'), 'the cycle cut short is closed as interrupted')

  // Restarted, the relationship picks up where it stood: the cycle runs again at once and commits.
  primary = await startBox(t, pDir)
  const [again] = await nextCycles(primary, 1)
  t.equal(again!.outcome, 'ok')
  expected.set(again!.start, hash)
  const [status] = await primary.replicationStatus('vm1')
  t.equal(status!.state, 'replicating')
  t.equal(status!.nextCycleAt !== null, true, 'scheduled again')

  await replica.stop()
  const store = await RecoveryPointStore.open(join(rDir, 'store', primary.node.peerId.toString(), 'vm1'))
  try {
    for (const p of await store.listPoints()) {
      const out = join(root, `restored-${p.id}.img`)
      await materializePoint(store, p.id, 'disk0', out)
      t.equal(await fileHash(out), expected.get(p.time), `point ${p.id} restores byte-exact`)
    }
  } finally {
    await store.close()
  }
})

t.test('app-consistent asked of a manual VM, resync, tracking lost, initial at a time', async t => {
  const root = await tempDir(t)
  await initDataDir(join(root, 'p'), { name: 'p', listen: ['/ip4/127.0.0.1/tcp/0'] })
  await initDataDir(join(root, 'r'), { name: 'r', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const primary = await startBox(t, join(root, 'p'))
  const replica = await startBox(t, join(root, 'r'))
  const open = await replica.pairOpen()
  await primary.pairJoin({ pin: open.pin!, addr: open.addresses[0]! })
  for (const name of ['vm1', 'vm2']) {
    const disk = join(root, `${name}.img`)
    await sparseFile(disk, 8 * BS)
    await writePatches(disk, scatteredPatches(name.length, 8 * BS, 4, BS))
    await primary.inventory.add({ driver: 'manual', definition: { name, vcpus: 1, memoryMiB: 256, disks: [{ name: 'disk0', path: disk, format: 'raw', node: 'disk0' }], nics: [], guestAgent: false }, addedAt: Date.now() })
  }
  const states = async (): Promise<unknown[]> => (await primary.events.read({ relationship: 'vm1' })).events.filter(e => e.kind === 'state').map(e => e.data?.to)

  // The manual driver cannot quiesce a guest: the point is crash-consistent and measure counts the failure.
  const first = nextCycles(primary, 1)
  await primary.replicationEnable('vm1', { to: 'r', frequency: '1h', appConsistentEvery: '1m', initial: 'existing' })
  const [initial] = await first
  t.match(initial, { outcome: 'ok', appConsistentRequested: true, appConsistentSucceeded: false, consistency: 'crash' })
  t.equal((await primary.replicationMeasure('vm1')).appConsistentFailureCount, 1)

  // resync: a cycle at once, diffing against the Replica's manifests, back to replicating.
  const resyncCycle = nextCycles(primary, 1)
  t.equal((await primary.replicationResync('vm1')).state, 'resynchronizing')
  const [resynced] = await resyncCycle
  t.equal(resynced!.outcome, 'ok')
  t.equal(resynced!.appConsistentRequested, false, 'the app-consistent interval counts from the last attempt: not asked again within the minute')
  t.equal((await primary.replicationStatus('vm1'))[0]!.state, 'replicating')

  // Pending bytes come from the VM's driver, once per relationship and request: the manual driver cannot tell them.
  const driver = primary.drivers.manual
  t.equal((await primary.replicationStatus('vm1'))[0]!.dataAtRisk.bytes, null, 'the manual driver has no change tracking: unknown')
  t.equal((await primary.replicationMeasure('vm1')).pendingSizeBytes, null, 'in measure too')
  const pendingBytes = driver.pendingBytes.bind(driver)
  const asked: string[] = []
  driver.pendingBytes = async vm => { asked.push(vm.name); return 3 * BS }
  t.equal((await primary.replicationStatus('vm1'))[0]!.dataAtRisk.bytes, 3 * BS, 'status shows what the driver counts')
  t.equal((await primary.replicationMeasure('vm1')).pendingSizeBytes, 3 * BS, 'and so does measure')
  t.same(asked, ['vm1', 'vm1'], 'one question per request')
  driver.pendingBytes = pendingBytes

  // The driver reports the disk written while nothing tracked it: resynchronization required, then resynchronizing.
  const checkOfflineEdits = driver.checkOfflineEdits.bind(driver)
  driver.checkOfflineEdits = async () => { driver.checkOfflineEdits = checkOfflineEdits; return [{ disk: 'disk0', reason: 'written while the VM was stopped' }] }
  const lost = nextCycles(primary, 1)
  primary.scheduler.get('vm1')!.runNow()
  t.equal((await lost)[0]!.outcome, 'ok')
  t.same(await states(), [
    'waiting-initial-replication', 'replicating',
    'resynchronizing', 'replicating',
    'resynchronization-required', 'resynchronizing', 'replicating'
  ], 'every transition is an event')
  await t.rejects(primary.replicationResume('vm1'), { code: 'APP_INVALID_STATE' }, 'resume while replicating is refused')

  // Initial replication at a time: scheduled for then, nothing runs before.
  const at = new Date(Date.now() + 3_600_000)
  at.setMilliseconds(0)
  const later = await primary.replicationEnable('vm2', { to: 'r', initial: `at:${at.toISOString()}` })
  t.equal(later.state, 'waiting-initial-replication')
  t.equal(later.settings.initial, `at:${at.toISOString()}`)
  t.equal(later.nextCycleAt, at.toISOString())
  t.equal(later.health, 'warning', 'initial replication not finished')
})
