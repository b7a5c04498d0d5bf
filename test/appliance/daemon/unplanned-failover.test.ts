/**
 * Unplanned failover in-process: two Appliances on loopback, the primary
 * protecting a manual-driver VM whose disk the busybox test guest boots
 * (its kernel and initrd reach the Replica in the relationship's
 * description). The guest writes one block after it is up, then sleeps
 * (tandem.every=1, a delay of 1000 s), so its disk can be compared.
 *
 * - With the primary stopped: a dry run and the confirmations change
 *   nothing; an unplanned failover to an OLDER point runs the VM, whose
 *   backing serves exactly that point and whose disk is that point but for
 *   the guest's own write; the term is raised.
 * - A daemon restart finds the VM running and serves its point again.
 * - Cancel: the VM and its overlays are gone, the term is back, the list
 *   of points is the same and every point verifies.
 * - Failover to the latest and complete: the disk stands alone (no
 *   backing) and equals the point plus what the guest wrote, the serving is
 *   closed, the other points are dropped, `vm list` shows the VM, the
 *   state is failed-over. The old primary comes back and is refused.
 * - A VM this box cannot run (manual, no kernel): raw files byte for byte
 *   the point, listed by `vm list`; cancel removes them; complete keeps them.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { copyFile, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { promisify } from 'node:util'
import { verifyPoint } from '../../../core/verify.ts'
import { Appliance } from '../../../appliance/daemon/index.ts'
import { failoverPlanSummary } from '../../../appliance/service/plan-summary.ts'
import { readEventLog, type CycleRecord } from '../../../appliance/events/index.ts'
import { fileHash, freePort, scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { enableReplication, initPairedDirs, pair, runCycle } from '../../helpers/paired-daemons.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { processExists, waitForSerial } from '../drivers/qemu/vm-helpers.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])
const run = promisify(execFile)

const MiB = 1024 * 1024
const DISK_BYTES = 16 * MiB

interface Box { app: Appliance | undefined }

/** Starts a daemon on `dir`; `box.app` is stopped at teardown, whichever it is then. */
async function startBox (box: Box, dir: string): Promise<Appliance> {
  const app = await Appliance.start({ dataDir: dir, log: new PassThrough().resume() })
  box.app = app
  return app
}

const cycle = runCycle
const enable = async (primary: Appliance, vm: string): Promise<CycleRecord> => await enableReplication(primary, vm, { to: 'box-r', frequency: '1h', recoveryPoints: '5' })

const exists = async (path: string): Promise<boolean> => await stat(path).then(() => true, () => false)

/** The byte ranges of `overlay` that the overlay itself holds (the guest's writes), from `qemu-img map`. */
async function ownRanges (overlay: string): Promise<Array<{ start: number, length: number }>> {
  const map = JSON.parse((await run('qemu-img', ['map', '-U', '--output=json', overlay])).stdout) as Array<{ start: number, length: number, depth: number, data: boolean }>
  return map.filter(e => e.depth === 0 && e.data)
}

/** Offsets (in 64 KiB blocks) where two files of the same size differ. */
async function differingBlocks (a: string, b: string): Promise<number[]> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)])
  const out: number[] = []
  for (let off = 0; off < x.length; off += 65536) if (!x.subarray(off, off + 65536).equals(y.subarray(off, off + 65536))) out.push(off)
  return out
}

t.test('unplanned failover to an older point, a restart, cancel, failover to the latest, complete; the old primary refused', async t => {
  const guest = await ensureTestGuest()
  const root = await tempDir(t)
  const { primaryDir, replicaDir } = await initPairedDirs(root, `/ip4/127.0.0.1/tcp/${await freePort()}`)
  const p: Box = { app: undefined }
  const r: Box = { app: undefined }
  t.teardown(async () => {
    await r.app?.vmStop('tiny', { force: true, timeoutMs: 1000 }).catch(() => undefined)
    await r.app?.stop()
    await p.app?.stop()
  })
  let primary = await startBox(p, primaryDir)
  let replica = await startBox(r, replicaDir)
  await pair(primary, replica)

  const disk = join(root, 'tiny.raw')
  await sparseFile(disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(1, DISK_BYTES, 12, MiB))
  await primary.inventory.add({
    driver: 'manual',
    definition: {
      name: 'tiny', vcpus: 1, memoryMiB: 128, disks: [{ name: 'disk0', path: disk, format: 'raw', node: 'disk0' }], nics: [], guestAgent: false,
      boot: { kernel: guest.kernel, initrd: guest.initrd, append: 'console=ttyS0 panic=-1 tandem.every=1 tandem.delay=1000000000' }
    },
    addedAt: Date.now()
  })

  // Points A, B, C (the disk copied at each); retention keeps the first of the hour (A) and the latest (C).
  t.equal((await enable(primary, 'tiny')).outcome, 'ok')
  await copyFile(disk, join(root, 'A.raw'))
  for (const seed of [2, 3]) {
    await writePatches(disk, scatteredPatches(seed, DISK_BYTES, 6, MiB))
    t.equal((await cycle(primary, 'tiny')).outcome, 'ok')
  }
  const points = (await replica.points('tiny')).points
  t.equal(points.length, 2, 'A and the latest on the Replica')
  const [pA, pC] = points
  const rel = replica.relationships.get('tiny')!
  t.equal(rel.term, 1)

  // The primary is gone.
  await primary.stop()
  p.app = undefined

  // Refusals and a dry run change nothing.
  await t.rejects(replica.failoverUnplanned('tiny', { point: pA!.id }), { code: 'APP_CONFIRMATION_REQUIRED' }, 'an older point needs --yes')
  await t.rejects(replica.failoverUnplanned('nope'), { code: 'APP_RELATIONSHIP_NOT_FOUND' })
  await t.rejects(replica.failoverUnplanned('tiny', { point: 999 }), { code: 'APP_POINT_NOT_FOUND' })
  await t.rejects(replica.failoverComplete('tiny', { yes: true }), { code: 'APP_INVALID_STATE' }, 'nothing to complete')
  await t.rejects(replica.failoverCancel('tiny'), { code: 'APP_INVALID_STATE' }, 'nothing to cancel')
  const plan = await replica.failoverPlan('tiny', { action: 'unplanned', point: pA!.id })
  t.match(plan, { action: 'unplanned', kind: 'vm', point: { id: pA!.id }, latest: false, newerPoints: 1, dropAtComplete: 1, term: 1, termAfter: 2, boot: 'kernel', needsYes: true })
  t.same(plan.disks.map(d => d.path), [join(replicaDir, 'vms', 'tiny', 'disk0.qcow2')])
  t.same(plan.summary, failoverPlanSummary(plan), 'the plan carries its words, as the CLI prints them and the web page shows them')
  t.match(plan.summary.join('\n'), /the 1 newer point will be dropped if you complete/)
  t.match(replica.relationships.get('tiny'), { state: 'replicating', term: 1 }, 'the dry run changed nothing')
  t.same(await readdir(join(replicaDir, 'failover')), [])
  t.notOk((await replica.vmList()).some(v => v.name === 'tiny'))

  // Unplanned failover to A.
  const job = await replica.jobRegistry.wait((await replica.failoverUnplanned('tiny', { point: pA!.id, yes: true })).id)
  t.match(job, { kind: 'failover', state: 'ok', failover: { kind: 'vm', phase: 'running', point: { id: pA!.id }, term: 2, vmState: 'running' } }, job.error?.message ?? 'the failover job')
  const f = job.failover!
  t.ok(f.timings.termMs !== null && f.timings.serveMs !== null && f.timings.overlayMs !== null && f.timings.startMs !== null, 'each step timed')
  t.match(replica.relationships.get('tiny'), { state: 'failed-over-waiting-completion', term: 2 })
  t.match((await replica.replicaStatus())[0], { state: 'failed-over-waiting-completion', term: 2, failover: { point: { id: pA!.id }, phase: 'running' } })
  const vm = (await replica.vmList()).find(v => v.name === 'tiny')
  t.match(vm, { driver: 'qemu', state: 'running', disks: [{ path: join(replicaDir, 'vms', 'tiny', 'disk0.qcow2') }], relationship: { role: 'replica', state: 'failed-over-waiting-completion' } })
  await t.rejects(replica.failoverUnplanned('tiny', { yes: true }), { code: 'APP_INVALID_STATE' }, 'one failover at a time')

  // The VM's disk: the overlay over the served point A, which reads as the disk at A.
  const overlay = join(replicaDir, 'vms', 'tiny', 'disk0.qcow2')
  const info = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', overlay])).stdout) as { 'backing-filename': string }
  t.match(info['backing-filename'], /"reconnect-delay":300/, 'its backing reconnects')
  const socket = join(replicaDir, 'exports', 'failover-tiny.sock')
  const served = join(root, 'served-a.raw')
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', `nbd+unix:///disk0?socket=${socket}`, served])
  t.equal(await fileHash(served), await fileHash(join(root, 'A.raw')), 'the served point is the disk at A')
  const serial = join(replicaDir, 'vms', 'tiny', 'serial.log')
  const qemuPid = Number(await readFile(join(replicaDir, 'vms', 'tiny', 'qemu.pid'), 'utf8'))
  await waitForSerial(serial, /^TANDEM-GUEST-WRITES 1$/, () => processExists(qemuPid))
  const chainA = join(root, 'chain-a.raw')
  await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', overlay, chainA])
  const own = await ownRanges(overlay)
  const diff = await differingBlocks(chainA, join(root, 'A.raw'))
  t.ok(diff.every(off => own.some(r => off + 65536 > r.start && off < r.start + r.length)), 'the VM\'s disk is point A but where the guest wrote')

  // A daemon restart: the VM runs on, its point is served again.
  await replica.stop()
  t.ok(processExists(qemuPid), 'the VM outlived its daemon')
  replica = await startBox(r, replicaDir)
  t.match((await replica.vmList()).find(v => v.name === 'tiny'), { state: 'running', pid: qemuPid }, 'found again')
  t.ok(await exists(socket), 'its point is served again')
  const resumed = (await readEventLog(join(replicaDir, 'events'), { relationship: 'tiny' })).events.filter(e => e.kind === 'failover-resume')
  t.match(resumed.at(-1), { reason: /found running/ })

  // Stopped by the operator, it stays stopped across a restart (its point served, so vm start works).
  await replica.vmStop('tiny', { force: true, timeoutMs: 1000 })
  await replica.stop()
  replica = await startBox(r, replicaDir)
  t.match((await replica.vmList()).find(v => v.name === 'tiny'), { state: 'stopped' }, 'a restart does not start a VM the operator stopped')
  t.ok(await exists(socket), 'its point is served again')
  const kept = (await readEventLog(join(replicaDir, 'events'), { relationship: 'tiny' })).events.filter(e => e.kind === 'failover-resume')
  t.match(kept.at(-1), { reason: /stopped on purpose/ })
  t.match(await replica.vmStart('tiny'), { state: 'running' }, 'vm start starts it on its overlays')
  t.notOk(await exists(join(replicaDir, 'vms', 'tiny', 'stopped')), 'the start cleared the mark')

  // Cancel: nothing left, the term back, the points as they were and whole.
  const cancelPlan = await replica.failoverPlan('tiny', { action: 'cancel' })
  t.match(cancelPlan, { action: 'cancel', term: 2, termAfter: 1, point: { id: pA!.id } })
  t.match(await replica.failoverCancel('tiny'), { relationship: 'tiny', point: pA!.id, term: 1, kind: 'vm', cancelled: true })
  t.notOk(processExists(qemuPid), 'the VM stopped')
  t.notOk(await exists(join(replicaDir, 'vms', 'tiny')), 'its overlays and run files are gone')
  t.notOk((await replica.vmList()).some(v => v.name === 'tiny'), 'out of the inventory')
  t.same(await readdir(join(replicaDir, 'exports')), [], 'no serving left')
  t.same(await readdir(join(replicaDir, 'failover')), [], 'no record left')
  t.match(replica.relationships.get('tiny'), { state: 'replicating', term: 1 })
  t.same((await replica.points('tiny')).points.map(x => x.id), points.map(x => x.id), 'the same points')
  const reports = await replica.replica.sink.readStore(rel.peer, 'tiny', async store => await Promise.all(points.map(async x => await verifyPoint(store, x.id, { record: false }))))
  t.ok(reports?.every(x => x.ok), 'every point verifies')

  // Failover to the latest (no --yes needed), then complete.
  const latest = await replica.jobRegistry.wait((await replica.failoverUnplanned('tiny')).id)
  t.match(latest, { state: 'ok', failover: { point: { id: pC!.id }, term: 2 } }, latest.error?.message ?? 'failed over to the latest')
  const pid2 = Number(await readFile(join(replicaDir, 'vms', 'tiny', 'qemu.pid'), 'utf8'))
  await waitForSerial(serial, /^TANDEM-GUEST-WRITES 1$/, () => processExists(pid2))
  const reference = join(root, 'reference.raw')
  await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', overlay, reference])
  await t.rejects(replica.failoverComplete('tiny'), { code: 'APP_CONFIRMATION_REQUIRED' }, 'complete needs --yes')
  t.match(await replica.failoverPlan('tiny', { action: 'complete' }), { action: 'complete', point: { id: pC!.id }, dropAtComplete: 1, needsYes: true })
  const done = await replica.jobRegistry.wait((await replica.failoverComplete('tiny', { yes: true })).id)
  t.match(done, { kind: 'failover-complete', state: 'ok', failover: { point: { id: pC!.id } } }, done.error?.message ?? 'completed')
  const after = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', overlay])).stdout) as Record<string, unknown>
  t.equal(after['backing-filename'], undefined, 'the disk stands alone')
  const compare = await run('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'raw', overlay, reference]).then(() => 0, (err: { code?: number }) => err.code ?? -1)
  t.equal(compare, 0, 'the disk is the point plus what the guest wrote')
  t.same(await readdir(join(replicaDir, 'exports')), [], 'the serving is closed')
  t.same((await replica.points('tiny')).points.map(x => x.id), [pC!.id], 'only the failover point is kept')
  t.match(replica.relationships.get('tiny'), { state: 'failed-over', term: 2 })
  t.match((await replica.vmList()).find(v => v.name === 'tiny'), { driver: 'qemu', state: 'running', pid: pid2, relationship: { state: 'failed-over' } })
  t.equal((await replica.replicaStatus())[0]!.failover, null)
  t.same(await readdir(join(replicaDir, 'failover')), [], 'no record left')
  const jobEvents = (await readEventLog(join(replicaDir, 'events'), { relationship: 'tiny' })).events.filter(e => e.kind === 'failover' && e.phase === 'end')
  t.match(jobEvents[0], { outcome: 'ok', data: { point: pA!.id, term: 2, termMs: Number, serveMs: Number, overlayMs: Number, startMs: Number } })

  // The old primary comes back: refused by the term check.
  primary = await startBox(p, primaryDir)
  const refused = await cycle(primary, 'tiny')
  t.not(refused.outcome, 'ok', 'its cycle is refused')
  t.match(primary.relationships.get('tiny'), { state: 'error', code: /^P2P_(FAILED_OVER|STALE_TERM)$/ }, 'it stops and says why')
  t.same((await replica.points('tiny')).points.map(x => x.id), [pC!.id], 'nothing reached the Replica')
})

t.test('a VM this box cannot run: raw files of the point, cancel, complete', async t => {
  const root = await tempDir(t)
  const { primaryDir, replicaDir } = await initPairedDirs(root)
  const p: Box = { app: undefined }
  const r: Box = { app: undefined }
  t.teardown(async () => { await r.app?.stop(); await p.app?.stop() })
  const primary = await startBox(p, primaryDir)
  const replica = await startBox(r, replicaDir)
  await pair(primary, replica)
  const disk = join(root, 'plain.raw')
  await sparseFile(disk, DISK_BYTES + 3000)
  await writePatches(disk, scatteredPatches(5, DISK_BYTES, 10, MiB))
  await primary.inventory.add({
    driver: 'manual',
    definition: { name: 'plain', vcpus: 2, memoryMiB: 256, disks: [{ name: 'disk0', path: disk, format: 'raw', node: 'disk0' }], nics: [], guestAgent: false },
    addedAt: Date.now()
  })
  t.equal((await enable(primary, 'plain')).outcome, 'ok')
  const hashA = await fileHash(disk)
  await writePatches(disk, scatteredPatches(6, DISK_BYTES, 4, MiB))
  t.equal((await cycle(primary, 'plain')).outcome, 'ok')
  const [pA, pB] = (await replica.points('plain')).points
  await primary.stop()
  p.app = undefined

  const plan = await replica.failoverPlan('plain', { action: 'unplanned', point: pA!.id })
  t.match(plan, { kind: 'files', vcpus: null, note: /does not know how plain boots/, disks: [{ name: 'disk0', path: join(replicaDir, 'failover', 'plain', 'disk0.raw'), size: DISK_BYTES + 3000 }], newerPoints: 1 })
  const job = await replica.jobRegistry.wait((await replica.failoverUnplanned('plain', { point: pA!.id, yes: true })).id)
  t.match(job, { kind: 'failover', state: 'ok', progress: { done: DISK_BYTES + 3000, total: DISK_BYTES + 3000 }, failover: { kind: 'files', vmState: null, point: { id: pA!.id } } }, job.error?.message ?? 'the failover job')
  const file = join(replicaDir, 'failover', 'plain', 'disk0.raw')
  t.equal(await fileHash(file), hashA, 'the raw file is byte for byte the point')
  t.match((await replica.vmList()).find(v => v.name === 'plain'), { driver: 'manual', state: 'unmanaged', disks: [{ name: 'disk0', path: file, size: DISK_BYTES + 3000 }] }, 'vm list reports it with its path')
  t.match(replica.relationships.get('plain'), { state: 'failed-over-waiting-completion', term: 2 })

  t.match(await replica.failoverCancel('plain'), { kind: 'files', term: 1 })
  t.notOk(await exists(file), 'cancel removes the files')
  t.notOk((await replica.vmList()).some(v => v.name === 'plain'))
  t.same((await replica.points('plain')).points.map(x => x.id), [pA!.id, pB!.id])

  const again = await replica.jobRegistry.wait((await replica.failoverUnplanned('plain', { point: pA!.id, yes: true })).id)
  t.equal(again.state, 'ok')
  const done = await replica.jobRegistry.wait((await replica.failoverComplete('plain', { yes: true })).id)
  t.match(done, { kind: 'failover-complete', state: 'ok' }, done.error?.message ?? 'completed')
  t.equal(await fileHash(file), hashA, 'the files stay as the VM\'s disks')
  t.same((await replica.points('plain')).points.map(x => x.id), [pA!.id], 'only the failover point is kept, the newer one dropped')
  t.match(replica.relationships.get('plain'), { state: 'failed-over', term: 2 })
  t.match((await replica.vmList()).find(v => v.name === 'plain'), { driver: 'manual', disks: [{ path: file }] })
})
