/**
 * Change tracking on a running disk, with qemu-storage-daemon standing in
 * for the VM: each recovery point materializes to exactly the disk as it was
 * at the point's transaction (writes keep coming while it is read); a
 * tracked cycle reads only the dirty blocks; a failed cycle, an interrupted
 * one (appliance restart) and a QEMU killed with -9 lose no change (the
 * last falls back to hash comparison, and says why).
 */
import t, { type Test } from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { materializePoint } from '../../../../../core/restore.ts'
import { replicateOnce, type CycleReport } from '../../../../../core/replicate.ts'
import { diskRoot } from '../../../../../core/manifest.ts'
import type { RecoveryPointStore } from '../../../../../core/store/index.ts'
import { QmpClient } from '../../../../../appliance/drivers/qemu/qmp/qmp-client.ts'
import { LiveDisk, type FreezeAgent, type LiveDiskInit, type LivePoint } from '../../../../../appliance/drivers/qemu/tracking/live-disk.ts'
import { LivePointSource } from '../../../../../appliance/drivers/qemu/tracking/live-source.ts'
import { loadTrackingState } from '../../../../../appliance/drivers/qemu/tracking/tracking-state.ts'
import { GuestAgentClient } from '../../../../../appliance/drivers/qemu/qmp/guest-agent-client.ts'
import { fakeAgent, type FakeAgent, type FreezeMode } from '../../../../helpers/fake-guest-agent.ts'
import { tempDir } from '../../../../helpers/fixtures.ts'
import { openStore, scanPool } from '../../../../helpers/engine.ts'
import { startStorageDaemon, type StorageDaemon } from '../../../../helpers/storage-daemon.ts'
import type { ScanPool } from '../../../../../core/scan/index.ts'
import { requireTools } from '../../../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-storage-daemon'])

const run = promisify(execFile)
const MiB = 2 ** 20
const BS = 65536
const SIZE = 64 * MiB

interface Rig {
  dir: string
  disk: string
  qsd: StorageDaemon
  qmp: QmpClient
  live: LiveDisk
  store: RecoveryPointStore
  pool: ScanPool
  init: LiveDiskInit
}

async function rig (t: Test): Promise<Rig> {
  const dir = await tempDir(t)
  const disk = join(dir, 'disk.qcow2')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, String(SIZE)])
  await run('qemu-io', ['-f', 'qcow2', disk, '-c', 'write -P 0x11 0 4M', '-c', 'write -P 0x12 40M 2M'])
  const qsd = await startStorageDaemon({ dir, disk, format: 'qcow2' })
  const qmp = await QmpClient.connect(qsd.qmpSocket)
  const init: LiveDiskInit = { qmp, node: qsd.node, stateFile: join(dir, 'tracking.json'), workDir: dir, nbdSocket: qsd.nbdSocket, granularity: BS, freezeTimeoutMs: 500, thawTimeoutMs: 500 }
  const live = await LiveDisk.open(init)
  const r: Rig = { dir, disk, qsd, qmp, live, store: await openStore(t, join(dir, 'store')), pool: scanPool(t), init }
  t.teardown(async () => { await r.qmp.close(); await r.qsd.kill() })
  return r
}

/** Reopens QEMU on the same disk (after a stop or a kill) and the tracker on the same state file. */
async function restartQemu (r: Rig, how: 'stop' | 'kill'): Promise<void> {
  await r.qmp.close()
  await (how === 'stop' ? r.qsd.stop() : r.qsd.kill())
  r.qsd = await startStorageDaemon({ dir: r.dir, disk: r.disk, format: 'qcow2', tag: `qsd-${Date.now()}` })
  r.qmp = await QmpClient.connect(r.qsd.qmpSocket)
  r.init = { ...r.init, qmp: r.qmp, nbdSocket: r.qsd.nbdSocket }
  r.live = await LiveDisk.open(r.init)
}

interface CycleResult { point: LivePoint, report: CycleReport, bytesRead: number }

/**
 * One cycle: take a point, let `during` write (after the point: must not be
 * in it), copy the point's export as the reference, replicate, complete,
 * then check the materialized recovery point against the reference.
 */
async function cycle (t: Test, r: Rig, n: number, options: { during?: () => Promise<void>, agent?: FreezeAgent } = {}): Promise<CycleResult> {
  const point = await r.live.takePoint({ agent: options.agent })
  await options.during?.()
  const reference = join(r.dir, `point-${n}.ref`)
  await r.qsd.copyExport(point.exportName, reference)
  const source = new LivePointSource(point)
  let report: CycleReport
  try {
    report = await replicateOnce(r.store, { pool: r.pool, disks: [{ name: 'disk0', source }], consistency: point.consistency })
  } catch (err) {
    await point.complete({ ok: false })
    throw err
  }
  const manifest = await r.store.manifest(report.point.id, 'disk0')
  await point.complete({ ok: true, root: diskRoot(manifest) })
  const out = join(r.dir, `point-${n}.img`)
  await materializePoint(r.store, report.point.id, 'disk0', out)
  t.ok((await readFile(out)).equals(await readFile(reference)), `point ${n} materializes to the disk as it was at its transaction`)
  return { point, report, bytesRead: source.bytesRead }
}

t.test('tracked cycles read only the dirty blocks and every point is exact', async t => {
  const r = await rig(t)
  const first = await cycle(t, r, 1, { during: async () => { await r.qsd.write(8 * MiB, BS, 0x21) } })
  t.equal(first.point.tracking, undefined, 'the first cycle is not tracked')
  t.match(first.point.untrackedReason, /first cycle/)
  t.equal(first.report.disks[0]!.tracked, false)
  t.match(first.report.disks[0]!.untrackedReason, /first/, 'the cycle\'s report says why')
  t.equal(first.bytesRead, SIZE, 'the first cycle reads the whole disk')

  // Changes after point 1: the write made during cycle 1, and these.
  await r.qsd.write(1 * MiB + 100, 3000, 0x22) // inside one block
  await r.qsd.write(10 * MiB - 10, 20, 0x23) // across two blocks
  await r.qsd.write(63 * MiB, MiB, 0x24) // 16 blocks at the end
  const second = await cycle(t, r, 2, { during: async () => { await r.qsd.write(20 * MiB, BS, 0x25) } })
  t.ok(second.point.tracking !== undefined, 'the second cycle is tracked')
  t.equal(second.report.disks[0]!.tracked, true)
  const dirtyBlocks = 1 + 1 + 2 + 16
  t.equal(second.bytesRead, dirtyBlocks * BS, 'read only the dirty blocks')
  t.equal(second.report.disks[0]!.changedBlocks, dirtyBlocks, 'all of which changed')

  const third = await cycle(t, r, 3)
  t.equal(third.bytesRead, BS, 'the third reads the one block written during the second')
  const state = await loadTrackingState(r.init.stateFile)
  t.equal(state?.pending, null, 'nothing pending')
  t.equal(state?.baseRoot, diskRoot(await r.store.manifest(third.report.point.id, 'disk0')))
})

t.test('a failed cycle loses no change', async t => {
  const r = await rig(t)
  await cycle(t, r, 1)
  await r.qsd.write(2 * MiB, BS, 0x31)
  const failed = await r.live.takePoint()
  await r.qsd.write(30 * MiB, 2 * BS, 0x32)
  await failed.complete({ ok: false })
  await r.qsd.write(50 * MiB, BS, 0x33)
  const next = await cycle(t, r, 2)
  t.ok(next.point.tracking !== undefined, 'still tracked after the failure')
  t.equal(next.bytesRead, 4 * BS, 'the failed cycle\'s changes and the later ones are read')
})

t.test('a point interrupted by an appliance restart is undone on open, nothing lost', async t => {
  const r = await rig(t)
  await cycle(t, r, 1)
  await r.qsd.write(3 * MiB, BS, 0x41)
  await r.live.takePoint() // the appliance "dies" here: the point is never completed
  await r.qsd.write(33 * MiB, BS, 0x42)
  r.live = await LiveDisk.open(r.init) // restart: the tracker finds the pending point
  t.equal((await loadTrackingState(r.init.stateFile))?.pending, null, 'the interrupted point was cleaned up')
  const nodes = await r.qmp.execute<Array<{ 'node-name': string }>>('query-named-block-nodes', { flat: true })
  t.notOk(nodes.some(n => n['node-name'].startsWith('tandem-fleece')), 'its temporary node is gone')
  const next = await cycle(t, r, 2)
  t.ok(next.point.tracking !== undefined)
  t.equal(next.bytesRead, 2 * BS, 'both writes are read')
})

t.test('after kill -9 of QEMU the bitmap is not trusted: the cycle compares hashes and is exact', async t => {
  const r = await rig(t)
  await cycle(t, r, 1)
  await restartQemu(r, 'stop') // a clean stop saves the persistent bitmap
  await r.qsd.write(5 * MiB, BS, 0x51)
  const tracked = await cycle(t, r, 2)
  t.ok(tracked.point.tracking !== undefined, 'the bitmap survived a clean restart')
  t.equal(tracked.bytesRead, BS)

  // Killed while the current bitmap exists only in QEMU's memory: it is gone.
  await r.qsd.write(6 * MiB, BS, 0x52)
  await restartQemu(r, 'kill')
  await r.qsd.write(7 * MiB, BS, 0x53)
  const lost = await cycle(t, r, 3)
  t.equal(lost.point.tracking, undefined, 'not tracked after the crash')
  t.match(lost.point.untrackedReason, /missing/, 'and says why')
  t.equal(lost.bytesRead, SIZE, 'every block compared by hash')
  t.equal(lost.report.disks[0]!.changedBlocks, 2, 'both changes found')

  // Killed while the current bitmap was loaded from the image: QEMU marks it inconsistent.
  await restartQemu(r, 'stop')
  await r.qsd.write(8 * MiB, BS, 0x54)
  await restartQemu(r, 'kill')
  const inconsistent = await cycle(t, r, 4)
  t.equal(inconsistent.point.tracking, undefined, 'not tracked after the crash')
  t.match(inconsistent.point.untrackedReason, /inconsistent/, 'and says why')
  t.match(inconsistent.report.disks[0]!.untrackedReason, /inconsistent/, 'in the cycle\'s report too')
  t.equal(inconsistent.bytesRead, SIZE, 'every block compared by hash')
  t.equal(inconsistent.report.disks[0]!.changedBlocks, 1, 'the change found')

  await r.qsd.write(9 * MiB, BS, 0x55)
  const after = await cycle(t, r, 5)
  t.ok(after.point.tracking !== undefined, 'tracking resumes with a new bitmap')
  t.equal(after.bytesRead, BS)
})

t.test('app-consistent only when the freeze really worked; the guest is always thawed', async t => {
  const r = await rig(t)
  // The guest agent client against a fake agent on a unix socket (test/helpers/fake-guest-agent.ts).
  const withAgent = async (mode: FreezeMode): Promise<{ fake: FakeAgent, agent: GuestAgentClient }> => {
    const fake = await fakeAgent(t, { freeze: mode })
    const agent = await GuestAgentClient.connect(fake.path)
    t.teardown(async () => { await agent.close() })
    return { fake, agent }
  }
  const commands = (fake: FakeAgent): string[] => fake.received.filter(c => c.startsWith('guest-fsfreeze'))

  const ok = await withAgent('ok')
  const good = await cycle(t, r, 1, { agent: ok.agent })
  t.equal(good.point.consistency, 'app', good.point.consistencyNote ?? 'app-consistent')
  t.equal(good.report.point.consistency, 'app', 'recorded in the recovery point')
  t.same(commands(ok.fake), ['guest-fsfreeze-freeze', 'guest-fsfreeze-thaw'])
  t.equal(ok.fake.frozen, false, 'thawed')

  const refusing = await withAgent('error')
  const failed = await cycle(t, r, 2, { agent: refusing.agent })
  t.equal(failed.point.consistency, 'crash', 'a failed freeze gives a crash-consistent point')
  t.equal(failed.report.point.consistency, 'crash')
  t.match(failed.point.consistencyNote, /APP_AGENT_ERROR/)
  t.same(commands(refusing.fake), ['guest-fsfreeze-freeze', 'guest-fsfreeze-thaw'], 'thawed anyway')

  const hanging = await withAgent('hang')
  const hung = await cycle(t, r, 3, { agent: hanging.agent })
  t.equal(hung.point.consistency, 'crash', 'a freeze that hangs gives a crash-consistent point')
  t.match(hung.point.consistencyNote, /APP_AGENT_TIMEOUT/)
  t.same(commands(hanging.fake), ['guest-fsfreeze-freeze', 'guest-fsfreeze-thaw'], 'thawed anyway')
  t.equal(hanging.fake.frozen, false, 'the guest, frozen late, is thawed')
})

t.test('a damaged tracking state is refused, not reset', async t => {
  const r = await rig(t)
  await cycle(t, r, 1)
  await writeFile(r.init.stateFile, '{"version":1,"bitmap":"x; rm -rf"}')
  await t.rejects(LiveDisk.open(r.init), { code: 'APP_STATE_CORRUPT' })
})
