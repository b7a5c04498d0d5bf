/**
 * Failover of a qemu-driver VM end to end, driven only through the CLI: two
 * `tandem start` processes on loopback; the primary runs the busybox test
 * guest (direct kernel boot, TCG) on a raw disk it writes all along, and
 * replicates it every 2 s (live cycles: point-in-time views, dirty bitmaps).
 *
 * - test failover of an older point while cycles keep committing: the point
 *   is served exactly (equal to the point restored offline), the test VM's
 *   disk is that point wherever its guest did not write, and `stop-test`
 *   leaves no QEMU, run directory, NBD socket or VM behind;
 * - planned failover: refused (APP_VM_STOP_TIMEOUT) without --force, the VM
 *   runs on; with --force the Replica's VM runs from its own disks, started
 *   from a point byte for byte the primary's final disk; replication runs
 *   the other way; the old primary's daemon restarted (the new primary
 *   dials it again), a live reverse cycle is tracked and sends exactly the
 *   blocks that differ between the two points it joins; with the new
 *   primary's VM stopped, the old primary's newest point is its disk, byte
 *   for byte;
 * - kill -9 of the new primary's daemon; on the old primary (now the
 *   Replica) unplanned failover to the older point: its VM runs, its disk is
 *   that point wherever the guest did not write; cancel; then failover to
 *   the latest and complete.
 *
 * Reference images of points are restored with the offline `tandem restore`
 * while the daemon owning that store is stopped (a store has one writer).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { copyFile, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { BoxReplicationStatus } from '../../../appliance/cli/replication.ts'
import type { EventsResult, FailoverCancelResult, JobInfo, PointInfo, PointsResult, StatusInfo, TestFailoverInfo, VmInfo } from '../../../appliance/service/index.ts'
import { cycleBegin, cycleEnd, cycleOk, eventLine, lineCount, type LoggedEvent } from '../../helpers/event-log-wait.ts'
import { fileHash, scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { pairedDaemons, startDaemon, tandem, tandemAt, tandemJsonAt } from '../../helpers/tandem-cli.ts'
import { waitForSerial } from '../drivers/qemu/vm-helpers.ts'
import { differingBlockIndices } from '../../helpers/block-diff.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])
const run = promisify(execFile)
const json = tandemJsonAt

const MiB = 2 ** 20
const DISK_BYTES = 16 * MiB
/** The store's block size: the unit of a cycle's `bytesChanged`. */
const BS = 65536
/** The guest writes a few pages every 200 ms and says so every 4 writes: a few hundred KiB per 2 s cycle. */
const APPEND = 'console=ttyS0 panic=-1 tandem.every=4 tandem.delay=200000'
const GUEST_WROTE = /^TANDEM-GUEST-WRITES \d+$/

/** Whether the process runs (a QEMU whose daemon was killed may be a zombie of init for a while: an empty command line). */
async function runs (pid: number): Promise<boolean> {
  return (await readFile(`/proc/${pid}/cmdline`).catch(() => Buffer.alloc(0))).length > 0
}

/** The indexes of the BS blocks whose content differs between two raw images of one size. */
const differingBlocks = async (a: string, b: string): Promise<number[]> => [...await differingBlockIndices(a, b, BS)].sort((x, y) => x - y)

/**
 * The blocks where a running VM's overlay (read with -U while its guest
 * writes) differs from the raw image `point`, outside the clusters the
 * guest wrote (allocated in the overlay itself, `qemu-img map` depth 0,
 * mapped after the read so it covers every write the read saw): empty when
 * the VM's disk is that point wherever the guest did not write.
 */
async function differencesOutsideWrites (overlay: string, point: string, scratch: string): Promise<number[]> {
  await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', overlay, scratch])
  const map = JSON.parse((await run('qemu-img', ['map', '-U', '--output=json', overlay])).stdout) as Array<{ start: number, length: number, depth: number }>
  const written = map.filter(e => e.depth === 0)
  const wrote = (block: number): boolean => written.some(e => e.start < (block + 1) * BS && block * BS < e.start + e.length)
  return (await differingBlocks(scratch, point)).filter(b => !wrote(b))
}

/** `tandem restore` (offline: the store's daemon is stopped) of point `id` of `store` into `out`. */
async function restore (store: string, id: number, out: string): Promise<void> {
  const r = await tandem(['restore', '--store', store, '--point', String(id), '--out', out])
  if (r.status !== 0) throw new Error(`tandem restore ${store} ${id}: ${r.stderr}`)
}

/** The offline list of a store's points. */
async function storePoints (store: string): Promise<PointInfo[]> {
  const r = await tandem(['points', '--store', store, '--json'])
  if (r.status !== 0) throw new Error(`tandem points --store ${store}: ${r.stderr}`)
  return (JSON.parse(r.stdout) as { points: PointInfo[] }).points
}

const failoverEnd = (e: LoggedEvent): boolean => e.kind === 'failover' && e.phase === 'end'

t.test('a qemu VM through the CLI: test failover of an older point, planned failover, kill -9 of the new primary, unplanned failover, cancel, complete', async t => {
  const guest = await ensureTestGuest()
  const root = await tempDir(t)
  const disk = join(root, 'qvm.raw')
  await sparseFile(disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(41, DISK_BYTES, 8, MiB))
  const { p, r, daemons } = await pairedDaemons(t, root)
  const pids: number[] = []
  t.teardown(async () => {
    for (const dir of [p, r]) await tandemAt(dir, ['vm', 'stop', 'qvm', '--force', '--timeout', '1s']).catch(() => undefined)
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} }
  })
  const pPeer = (await json<StatusInfo>(p, ['status'])).peerId
  const rPeer = (await json<StatusInfo>(r, ['status'])).peerId

  // 1. The guest runs and writes; replication every 2 s; a few live points commit.
  await json(p, ['vm', 'add', 'qvm', '--driver', 'qemu', '--disk', disk, '--memory', '128', '--kernel', guest.kernel, '--initrd', guest.initrd, '--append', APPEND])
  const started = await json<VmInfo>(p, ['vm', 'start', 'qvm'])
  t.equal(started.state, 'running')
  const pVmPid = started.pid!
  pids.push(pVmPid)
  await json(p, ['replication', 'enable', 'qvm', '--to', 'box-r', '--frequency', '2s'])
  let seen = await eventLine(p, cycleOk, 0)
  for (let i = 0; i < 2; i++) seen = await eventLine(p, cycleOk, seen)
  const initial = await json<PointsResult>(r, ['points', 'qvm'])
  t.ok(initial.points.length >= 2, 'an older point and the latest on the Replica')
  const older = initial.points[0]!

  // The older point as a reference image: restored offline, the Replica's daemon stopped a moment.
  await daemons.r.stop()
  const olderRaw = join(root, 'older.raw')
  await restore(initial.store, older.id, olderRaw)
  daemons.r = await startDaemon(r)

  // 2. Test failover of the older point while cycles keep committing.
  const test = await json<TestFailoverInfo>(r, ['failover', 'test', 'qvm', '--point', String(older.id)])
  t.match(test, { testVm: 'qvm-test', state: 'running', point: { id: older.id, root: older.root } })
  const testDir = join(r, 'failover', 'qvm', 'test')
  const testPid = Number(await readFile(join(testDir, 'qemu.pid'), 'utf8'))
  pids.push(testPid)
  const latestBefore = (await json<PointsResult>(r, ['points', 'qvm'])).points.at(-1)!.id
  const mark = await lineCount(p)
  await eventLine(p, cycleOk, await eventLine(p, cycleOk, mark))
  const during = (await json<PointsResult>(r, ['points', 'qvm'])).points
  t.ok(during.at(-1)!.id > latestBefore, 'newer points committed while the test ran')
  t.match(during.find(x => x.id === older.id), { root: older.root }, 'the tested point is kept')
  const served = join(root, 'served.raw')
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', test.disks[0]!.uri, served])
  t.equal(await fileHash(served), await fileHash(olderRaw), 'the served disk is the older point, byte for byte')
  await waitForSerial(join(testDir, 'serial.log'), GUEST_WROTE, () => true)
  const testOverlay = join(testDir, (await readdir(testDir)).find(f => f.endsWith('.qcow2'))!)
  t.same(await differencesOutsideWrites(testOverlay, olderRaw, join(root, 'test-view.raw')), [], 'the test VM\'s disk is the point wherever its guest did not write')
  const stopped = await tandemAt(r, ['failover', 'stop-test', 'qvm'])
  t.equal(stopped.status, 0, stopped.stderr)
  t.notOk(await runs(testPid), 'no QEMU left')
  t.same(await readdir(join(r, 'failover')), [], 'no run directory, no overlay left')
  t.same(await readdir(join(r, 'exports')), [], 'no NBD socket left')
  t.same((await json<VmInfo[]>(r, ['vm', 'list'])).map(v => v.name), [], 'no VM on the Replica')

  // 3. Planned failover: the guest ignores ACPI, so refused without --force, and the VM runs on.
  const refused = await tandemAt(p, ['failover', 'planned', 'qvm', '--timeout', '1s'])
  t.same([refused.status, refused.code], [1, 'APP_VM_STOP_TIMEOUT'], refused.stderr)
  t.ok(await runs(pVmPid), 'the VM runs on')
  t.match((await json<BoxReplicationStatus>(p, ['replication', 'status', 'qvm'])).primary[0], { state: 'replicating', term: 1 }, 'nothing changed')

  const rMark = await lineCount(r)
  const job = await json<JobInfo>(p, ['failover', 'planned', 'qvm', '--timeout', '1s', '--force'])
  t.match(job, { kind: 'failover-planned', state: 'ok', planned: { replica: 'box-r', term: 2 } })
  t.notOk(await runs(pVmPid), 'the primary\'s VM is off')
  const final = join(root, 'final.raw')
  await copyFile(disk, final)
  await eventLine(r, failoverEnd, rMark)
  const rVm = (await json<VmInfo[]>(r, ['vm', 'list'])).find(v => v.name === 'qvm')
  t.match(rVm, { driver: 'qemu', state: 'running', relationship: { role: 'primary' } }, 'the Replica\'s VM runs')
  pids.push(rVm!.pid!)
  const rOverlay = rVm!.disks[0]!.path
  t.notMatch((await run('qemu-img', ['info', '-U', '--output=json', rOverlay])).stdout, /backing-filename/, 'from its own disks')
  const kept = await json<PointsResult>(r, ['points', `${pPeer}/qvm`])
  t.same(kept.points.map(x => x.root), [job.planned!.point.root], 'the final point is the one kept on the Replica')
  t.match((await json<BoxReplicationStatus>(r, ['replication', 'status', 'qvm'])).primary[0], { role: 'primary', term: 2, state: 'replicating' }, 'replication runs the other way')
  t.match((await json<BoxReplicationStatus>(p, ['replication', 'status', 'qvm'])).replica[0], { term: 2, state: 'replicating' }, 'the old primary is the Replica')

  // Reverse cycles, live: their dirty bitmaps name the blocks they read. The old primary's newest point
  // taken as a reference (its daemon stopped a moment, cycles suspended), then its daemon restarted: the
  // new primary dials it again (the link it had opened is gone) and what the next cycles send is
  // exactly the blocks that differ from that point.
  await eventLine(r, cycleOk, await lineCount(r))
  t.equal((await tandemAt(r, ['replication', 'suspend', 'qvm'])).status, 0)
  await daemons.p.stop()
  const reverseStore = join(p, 'store', rPeer, 'qvm')
  const before = (await storePoints(reverseStore)).at(-1)!
  const beforeRaw = join(root, 'reverse-before.raw')
  await restore(reverseStore, before.id, beforeRaw)
  daemons.p = await startDaemon(p)
  const resumed = await lineCount(r)
  t.equal((await tandemAt(r, ['replication', 'resume', 'qvm'])).status, 0)
  await eventLine(r, cycleOk, resumed)
  t.equal((await tandemAt(r, ['replication', 'suspend', 'qvm'])).status, 0)
  const live = (await json<EventsResult>(r, ['events', 'qvm', '--last', '1000'])).events
    .filter(e => cycleEnd(e as unknown as LoggedEvent) && e.outcome === 'ok')
    .map(e => e.data as { start: number, bytesChanged: number, tracked: boolean })
    .filter(c => c.start > Date.parse(before.time))
  t.ok(live.length >= 1 && live.every(c => c.tracked), 'live reverse cycles read only the blocks their dirty bitmaps named')
  await daemons.p.stop()
  const after = (await storePoints(reverseStore)).at(-1)!
  const afterRaw = join(root, 'reverse-after.raw')
  await restore(reverseStore, after.id, afterRaw)
  daemons.p = await startDaemon(p)
  t.equal(Date.parse(after.time), live.at(-1)!.start, 'the old primary\'s newest point is the last live cycle\'s')
  const differing = (await differingBlocks(beforeRaw, afterRaw)).length * BS
  const sent = live.reduce((n, c) => n + c.bytesChanged, 0)
  // One cycle in the common case; a second one that began before the suspend sends its own dirty blocks too (a block written in both counts twice).
  if (live.length === 1) t.equal(sent, differing, 'the live cycle sent exactly the blocks that differ between the two points')
  else t.ok(sent >= differing && differing > 0, `the ${live.length} live cycles sent the blocks that differ (${sent} >= ${differing})`)
  // The new primary's VM stopped, its disk final; the next cycle reads it offline.
  t.equal((await json<VmInfo>(r, ['vm', 'stop', 'qvm', '--force', '--timeout', '1s'])).state, 'stopped')
  const rFinal = join(root, 'new-primary-final.raw')
  await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', rOverlay, rFinal])
  const offline = await lineCount(r)
  t.equal((await tandemAt(r, ['replication', 'resume', 'qvm'])).status, 0)
  await eventLine(r, cycleOk, await eventLine(r, cycleBegin, offline))

  // 4. The new primary's daemon killed; the references read offline (the old primary's daemon stopped a moment).
  await daemons.r.stop('SIGKILL')
  await daemons.p.stop()
  const replicaPoints = await storePoints(reverseStore)
  const newest = replicaPoints.at(-1)!
  const newestRaw = join(root, 'reverse-newest.raw')
  await restore(reverseStore, newest.id, newestRaw)
  t.equal(await fileHash(newestRaw), await fileHash(rFinal), 'the old primary\'s newest point is the new primary\'s final disk, byte for byte')
  const startRaw = join(root, 'failover-point.raw')
  await restore(join(r, 'store', pPeer, 'qvm'), kept.points[0]!.id, startRaw)
  t.equal(await fileHash(startRaw), await fileHash(final), 'the Replica\'s VM started from the primary\'s final disk, byte for byte')
  const oldest = replicaPoints[0]!
  t.ok(oldest.id !== newest.id, 'an older point on the old primary')
  const oldestRaw = join(root, 'oldest.raw')
  await restore(reverseStore, oldest.id, oldestRaw)

  // Unplanned failover on the old primary to the older point, then cancel.
  daemons.p = await startDaemon(p)
  const toOlder = await json<JobInfo>(p, ['failover', 'unplanned', 'qvm', '--point', String(oldest.id), '--yes'])
  t.match(toOlder, { kind: 'failover', state: 'ok', failover: { kind: 'vm', point: { id: oldest.id }, vmState: 'running' } })
  const pVmDir = join(p, 'vms', 'qvm')
  const pid1 = Number(await readFile(join(pVmDir, 'qemu.pid'), 'utf8'))
  pids.push(pid1)
  await waitForSerial(join(pVmDir, 'serial.log'), GUEST_WROTE, () => true)
  t.same(await differencesOutsideWrites(toOlder.failover!.disks[0]!.path, oldestRaw, join(root, 'older-view.raw')), [], 'its disk is the older point wherever the guest did not write')
  t.match(await json<FailoverCancelResult>(p, ['failover', 'cancel', 'qvm']), { point: oldest.id, cancelled: true })
  t.notOk(await runs(pid1), 'the VM stopped')
  t.same((await json<PointsResult>(p, ['points', 'qvm'])).points.map(x => x.id), replicaPoints.map(x => x.id), 'no point changed')

  // Failover to the latest, complete.
  const toLatest = await json<JobInfo>(p, ['failover', 'unplanned', 'qvm', '--yes'])
  t.match(toLatest, { state: 'ok', failover: { point: { id: newest.id }, vmState: 'running' } })
  pids.push(Number(await readFile(join(pVmDir, 'qemu.pid'), 'utf8')))
  t.match(await json<JobInfo>(p, ['failover', 'complete', 'qvm', '--yes']), { state: 'ok' })
  t.notMatch((await run('qemu-img', ['info', '-U', '--output=json', toLatest.failover!.disks[0]!.path])).stdout, /backing-filename/, 'the disk stands alone')
  t.same((await json<PointsResult>(p, ['points', 'qvm'])).points.map(x => x.id), [newest.id], 'only the failover point is kept')
  t.match((await json<BoxReplicationStatus>(p, ['replication', 'status', 'qvm'])).replica[0], { state: 'failed-over', term: 3 })
  t.match(await json<VmInfo[]>(p, ['vm', 'list']), [{ name: 'qvm', driver: 'qemu', state: 'running' }])
})
