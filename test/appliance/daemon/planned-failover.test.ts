/**
 * Planned failover in-process (docs/failover.md "Planned failover"): two
 * Appliances on loopback.
 *
 * - A manual-driver VM the Replica cannot boot (no kernel named): the
 *   primary's last changes are sent, the Replica's raw file is byte for
 *   byte the primary's final disk, replication runs the other way with no
 *   full copy (no salvage copy: nothing was written after the final
 *   point), and a cycle after a change sends only the changed blocks.
 * - A manual-driver VM the busybox guest boots: the Replica starts it on
 *   the final point (which is byte for byte the primary's final disk),
 *   makes its disks local, reverses; after the guest's write the old
 *   primary's newest point is the new primary's disk, and the cycle sent
 *   only the blocks that differ.
 * - A running qemu-driver VM the guest boots: refused when it does not shut
 *   down in its window (it runs on), forced off with `force`; the point
 *   the Replica's VM starts from is byte for byte the primary's final
 *   disk, and the old primary keeps no salvage copy.
 * - Refusals: a relationship this box is the Replica of, a window out of
 *   range, nothing prepared to cancel; the Replica refusing the handover
 *   leaves the primary prepared (cancel there: replicating again; run
 *   again: it goes on at the handover).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { runCli } from '../../helpers/cli-in-process.ts'
import { fileHash, scatteredPatches, sparseFile, tempDir, touchedBlocks, writePatches } from '../../helpers/fixtures.ts'
import { ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { addGuestVm, addManualVm, enableReplication, pairedDaemons, runCycle } from '../../helpers/paired-daemons.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { processExists, waitForSerial } from '../drivers/qemu/vm-helpers.ts'
import type { Appliance } from '../../../appliance/daemon/index.ts'
import type { JobInfo } from '../../../appliance/service/index.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])

const run = promisify(execFile)
const MiB = 1024 * 1024
const DISK_BYTES = 16 * MiB
const BS = 64 * 1024

/** The Replica's job of the planned failover (it runs on after the primary's handover), once it ended. */
async function replicaJob (replica: Appliance, vm: string): Promise<JobInfo> {
  const job = replica.jobRegistry.list().find(j => j.kind === 'failover' && j.vm === vm)
  if (job === undefined) throw new Error('no failover job on the Replica')
  return await replica.jobRegistry.wait(job.id)
}

async function differingBlocks (a: string, b: string): Promise<number> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)])
  if (x.length !== y.length) throw new Error(`${a} and ${b} differ in size`)
  let n = 0
  const h = (buf: Buffer, off: number): string => createHash('sha256').update(buf.subarray(off, off + BS)).digest('hex')
  for (let off = 0; off < x.length; off += BS) if (h(x, off) !== h(y, off)) n++
  return n
}

t.test('planned failover of a VM the Replica cannot boot: byte for byte, then replication the other way', async t => {
  const root = await tempDir(t)
  const { primary, replica } = await pairedDaemons(t, root)
  const disk = join(root, 'files.raw')
  await addManualVm(primary, 'files', disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(1, DISK_BYTES, 10, MiB))
  t.equal((await enableReplication(primary, 'files', { to: 'box-r', frequency: '1h', recoveryPoints: '0' })).outcome, 'ok')
  // the last changes, not replicated yet: the planned failover sends them
  await writePatches(disk, scatteredPatches(2, DISK_BYTES, 4, 300_000))
  const final = join(root, 'final.raw')
  await copyFile(disk, final)

  await t.rejects(replica.failoverPlanned('files'), { code: 'APP_RELATIONSHIP_NOT_FOUND' }, 'a planned failover starts on the primary')
  await t.rejects(primary.failoverPlanned('files', { timeoutMs: 10 }), { code: 'APP_USAGE' })
  await t.rejects(primary.failoverCancel('files'), { code: 'APP_INVALID_STATE' }, 'nothing prepared to cancel')
  const plan = await primary.failoverPlannedPlan('files')
  t.match(plan, { action: 'planned', relationship: 'files', replica: 'box-r', state: 'replicating', term: 1, termAfter: 2, driver: 'manual', shutdown: 'manual', resumes: false })
  t.match(primary.relationships.get('files'), { state: 'replicating', term: 1 }, 'the dry run changed nothing')

  // The Replica refuses the handover (a VM of that name in its inventory): the primary stays prepared and says what to run.
  await addManualVm(replica, 'files', join(root, 'squatter.raw'), MiB)
  const refused = await primary.jobRegistry.wait((await primary.failoverPlanned('files')).id)
  t.match(refused, { state: 'failed', error: { code: 'P2P_FAILOVER_REFUSED' } })
  t.match(primary.relationships.get('files'), { state: 'prepared-for-planned-failover', term: 1, reason: /tandem failover cancel files/ })
  t.match(replica.relationships.get('files'), { role: 'replica', state: 'replicating', term: 1 }, 'nothing changed on the Replica')
  await t.rejects(primary.replicationUpdate('files', { bandwidth: '10M' }), { code: 'APP_INVALID_STATE' }, 'no change of settings while prepared')
  t.match(await primary.failoverPlannedPlan('files'), { resumes: true })
  // `failover cancel --dry-run` on the primary says what its cancel would do, and does nothing; on the Replica there is nothing to cancel
  const dry = await runCli(['failover', 'cancel', 'files', '--dry-run', '--data', root], primary)
  t.equal(dry.status, 0, dry.err)
  t.match(dry.out, /give up the planned failover of files to box-r \(prepared-for-planned-failover\) and replicate again from this box at term 1/)
  t.match(dry.out, /leave files to you: a manual VM runs in its own hypervisor/)
  t.match(dry.out, /its term 2 wins/)
  t.match(primary.relationships.get('files'), { state: 'prepared-for-planned-failover', term: 1 }, 'the dry run changed nothing')
  const dryThere = await runCli(['failover', 'cancel', 'files', '--dry-run', '--data', root], replica)
  t.match(dryThere, { status: 1, err: /^error APP_INVALID_STATE:/ }, 'no failover to cancel on the Replica')
  t.match(await primary.failoverCancel('files'), { relationship: 'files', kind: 'planned', point: null, term: 1, cancelled: true, vmStarted: false })
  t.match(primary.relationships.get('files'), { state: 'replicating', term: 1 }, 'cancel on the primary: replicating again')
  const again = await primary.jobRegistry.wait((await primary.failoverPlanned('files')).id)
  t.match(again, { state: 'failed', error: { code: 'P2P_FAILOVER_REFUSED' } })
  await replica.inventory.remove('files')

  // Run again, it goes on at the handover: the last changes are on the Replica already.
  const job = await primary.jobRegistry.wait((await primary.failoverPlanned('files')).id)
  t.equal(job.planned?.timings.shutdownMs, null, 'resumed at the handover')
  t.match(job, { kind: 'failover-planned', state: 'ok', planned: { relationship: 'files', replica: 'box-r', term: 2, point: { root: /^[0-9a-f]{64}$/ } } }, job.error?.message ?? 'handed over')
  t.ok(job.planned!.timings.handoverMs !== null, 'the handover timed')
  const onReplica = await replicaJob(replica, 'files')
  t.match(onReplica, { state: 'ok', failover: { kind: 'files', planned: true } }, onReplica.error?.message ?? 'the Replica failed over, completed and reversed')

  // Byte for byte: the Replica's disk of the VM is the primary's final disk.
  const vm = (await replica.vmList()).find(v => v.name === 'files')
  t.match(vm, { driver: 'manual', relationship: { role: 'primary' } })
  const replicaDisk = vm!.disks[0]!.path
  t.equal(await fileHash(replicaDisk), await fileHash(final), 'the Replica\'s disk equals the primary\'s final disk')
  t.match(replica.relationships.get('files'), { role: 'primary', term: 2, state: 'replicating' })
  t.match(primary.relationships.get('files'), { role: 'replica', term: 2, state: 'replicating' })
  t.equal(primary.inventory.get('files'), undefined, 'the old primary\'s VM left its inventory')
  t.same(await primary.salvageList(), [], 'nothing was written after the final point: no salvage copy')
  const oldPrimaryStates = (await primary.listEvents({ name: 'files', last: 200 })).events.filter(e => e.kind === 'state')
  t.notOk(oldPrimaryStates.some(e => e.data?.input === 'term-lost' || e.data?.to === 'error'), 'the Replica\'s notice of the failover this box asked for put it in no error')

  // The first reverse cycle sent no block (both boxes hold the same disk); a change sends only its blocks.
  const reverseEnd = (await replica.listEvents({ name: 'files', last: 200 })).events.filter(e => e.kind === 'cycle' && e.phase === 'end')
  t.match(reverseEnd.at(-1), { outcome: 'ok', data: { bytesChanged: 0 } }, 'the reverse cycle sent no block')
  const change = scatteredPatches(3, DISK_BYTES, 3, 100_000)
  await writePatches(replicaDisk, change)
  const cycle = await runCycle(replica, 'files')
  t.equal(cycle.outcome, 'ok')
  t.equal(cycle.bytesChanged, touchedBlocks(change, BS).size * BS, 'only the changed blocks')
  const newest = (await primary.points('files')).points.at(-1)!
  const out = join(root, 'newest.raw')
  await primary.replica.materializePoint('files', newest.id, [{ disk: 'disk0', out }])
  t.equal(await fileHash(out), await fileHash(replicaDisk), 'the old primary\'s newest point is the new primary\'s disk')
})

t.test('planned failover of a VM the guest boots: the Replica runs it from its own disks, replication reverses', async t => {
  const guest = await ensureTestGuest()
  const root = await tempDir(t)
  const { primary, replica } = await pairedDaemons(t, root)
  t.teardown(async () => { await replica.vmStop('tiny', { force: true, timeoutMs: 1000 }).catch(() => undefined) })
  const disk = join(root, 'tiny.raw')
  await addGuestVm(primary, 'tiny', disk, DISK_BYTES, guest, 4)
  t.equal((await enableReplication(primary, 'tiny', { to: 'box-r', frequency: '1h', recoveryPoints: '0' })).outcome, 'ok')
  await writePatches(disk, scatteredPatches(5, DISK_BYTES, 4, 300_000))
  const final = join(root, 'final.raw')
  await copyFile(disk, final)

  const job = await primary.jobRegistry.wait((await primary.failoverPlanned('tiny')).id)
  t.equal(job.state, 'ok', job.error?.message ?? 'handed over')
  const onReplica = await replicaJob(replica, 'tiny')
  t.match(onReplica, { state: 'ok', failover: { kind: 'vm', planned: true } }, onReplica.error?.message ?? 'the Replica failed over, completed and reversed')
  const overlay = join(replica.layout.vmRuns, 'tiny', 'disk0.qcow2')
  const info = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', overlay])).stdout) as Record<string, unknown>
  t.equal(info['backing-filename'], undefined, 'the Replica\'s VM runs from its own disk')
  t.match(replica.relationships.get('tiny'), { role: 'primary', term: 2, state: 'replicating' })
  t.match(primary.relationships.get('tiny'), { role: 'replica', term: 2 })

  // The point the VM started from is the primary's final disk, byte for byte.
  const first = (await primary.points('tiny')).points[0]!
  const base = join(root, 'base.raw')
  await primary.replica.materializePoint('tiny', first.id, [{ disk: 'disk0', out: base }])
  t.equal(await fileHash(base), await fileHash(final), 'the final point, kept as the reversed relationship\'s base, is the primary\'s final disk')

  // After the guest's write, a cycle sends only the blocks that differ, and the old primary's newest point is the VM's disk.
  const pid = Number(await readFile(join(replica.layout.vmRuns, 'tiny', 'qemu.pid'), 'utf8'))
  await waitForSerial(join(replica.layout.vmRuns, 'tiny', 'serial.log'), /^TANDEM-GUEST-WRITES 1$/, () => processExists(pid))
  const before = join(root, 'before.raw')
  const newest0 = (await primary.points('tiny')).points.at(-1)!
  await primary.replica.materializePoint('tiny', newest0.id, [{ disk: 'disk0', out: before }])
  const cycle = await runCycle(replica, 'tiny')
  t.equal(cycle.outcome, 'ok')
  const now = join(root, 'now.raw')
  await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', overlay, now])
  t.equal(cycle.bytesChanged, (await differingBlocks(before, now)) * BS, 'only the blocks that differ')
  const newest = (await primary.points('tiny')).points.at(-1)!
  const out = join(root, 'newest.raw')
  await primary.replica.materializePoint('tiny', newest.id, [{ disk: 'disk0', out }])
  t.equal(await fileHash(out), await fileHash(now), 'the old primary\'s newest point is the new primary\'s disk')
})

t.test('planned failover of a running qemu VM: forced off after its window, the Replica starts from exactly its final disk', async t => {
  const guest = await ensureTestGuest()
  const root = await tempDir(t)
  const { primary, replica } = await pairedDaemons(t, root)
  t.teardown(async () => {
    await primary.vmStop('qvm', { force: true, timeoutMs: 1000 }).catch(() => undefined)
    await replica.vmStop('qvm', { force: true, timeoutMs: 1000 }).catch(() => undefined)
  })
  const disk = join(root, 'qvm.raw')
  await sparseFile(disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(6, DISK_BYTES, 8, MiB))
  await primary.vmAdd({ name: 'qvm', disks: [disk], driver: 'qemu', memoryMiB: 128, boot: { kernel: guest.kernel, initrd: guest.initrd, append: 'console=ttyS0 panic=-1 tandem.every=1 tandem.delay=1000000000' } })
  await primary.vmStart('qvm')
  const pPid = Number(await readFile(join(primary.layout.vmRuns, 'qvm', 'qemu.pid'), 'utf8'))
  await waitForSerial(join(primary.layout.vmRuns, 'qvm', 'serial.log'), /^TANDEM-GUEST-WRITES 1$/, () => processExists(pPid))
  t.equal((await enableReplication(primary, 'qvm', { to: 'box-r', frequency: '1h', recoveryPoints: '0' })).outcome, 'ok')
  t.match(await primary.failoverPlannedPlan('qvm', { timeoutMs: 1000 }), { driver: 'qemu', vmState: 'running', shutdown: 'shutdown', shutdownWindowMs: 1000, force: false })

  // The test guest does not answer ACPI: without --force the planned failover is refused and the VM runs on.
  const refused = await primary.jobRegistry.wait((await primary.failoverPlanned('qvm', { timeoutMs: 1000 })).id)
  t.match(refused, { state: 'failed', error: { code: 'APP_VM_STOP_TIMEOUT' } })
  t.ok(processExists(pPid), 'the VM runs on')
  t.match(primary.relationships.get('qvm'), { state: 'replicating', term: 1 }, 'nothing changed')

  const job = await primary.jobRegistry.wait((await primary.failoverPlanned('qvm', { timeoutMs: 1000, force: true })).id)
  t.equal(job.state, 'ok', job.error?.message ?? 'handed over')
  t.notOk(processExists(pPid), 'the primary\'s VM is off')
  const final = join(root, 'final.raw')
  await copyFile(disk, final)
  const onReplica = await replicaJob(replica, 'qvm')
  t.match(onReplica, { state: 'ok', failover: { kind: 'vm', planned: true } }, onReplica.error?.message ?? 'the Replica failed over, completed and reversed')
  t.match((await replica.vmList()).find(v => v.name === 'qvm'), { driver: 'qemu', state: 'running', relationship: { role: 'primary' } })

  // The point the Replica's VM started from (kept in its store of the old primary) is the primary's final disk, byte for byte.
  const pPeer = primary.node.peerId.toString()
  const kept = (await replica.points(`${pPeer}/qvm`)).points
  t.equal(kept.length, 1, 'the failover point is kept')
  const base = join(root, 'base.raw')
  await replica.replica.materializePoint(`${pPeer}/qvm`, kept[0]!.id, [{ disk: 'disk0', out: base }])
  t.equal(await fileHash(base), await fileHash(final), 'the Replica\'s VM started from the primary\'s final disk')
  t.same(await primary.salvageList(), [], 'the old primary wrote nothing after it: no salvage copy')
  t.match(primary.relationships.get('qvm'), { role: 'replica', term: 2 })
})
