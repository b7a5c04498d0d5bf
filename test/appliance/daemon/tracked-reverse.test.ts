/**
 * The reverse's first cycle reads only the blocks that can differ
 * (docs/failover.md "Delta failback"), in-process: two Appliances on
 * loopback, a manual-driver VM whose disk the busybox test guest boots on
 * the Replica after an unplanned failover to the latest point (F).
 *
 * - The failover VM's disks are tracked from F before the guest runs; the
 *   new primary writes through its running VM (QMP `qemu-io`), the old
 *   primary's disk diverges offline. The reverse's first cycle is tracked,
 *   reads exactly the blocks changed since F on either side (the blocks
 *   computed here from the files' own hashes), sends exactly the blocks
 *   that differ, and the old primary's newest point is the new primary's
 *   disk byte for byte.
 * - Tracking in doubt: the failover VM's QEMU is killed (-9: its bitmap is
 *   left inconsistent) and its disk edited offline before the VM runs again.
 *   The first cycle compares every block by hash, says why, and is exact.
 */
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { copyFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Appliance } from '../../../appliance/daemon/index.ts'
import { diskDeviceId, type QemuVmDriver } from '../../../appliance/drivers/qemu/index.ts'
import { differingBlockIndices } from '../../helpers/block-diff.ts'
import { fileHash, scatteredPatches, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { addGuestVm, enableReplication, restartablePair, runCycle, startBox, type Box } from '../../helpers/paired-daemons.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { processExists, waitForSerial } from '../drivers/qemu/vm-helpers.ts'

requireTools(t, ['qemu-img', 'qemu-io', ...TEST_GUEST_TOOLS])
const run = promisify(execFile)

const MiB = 1024 * 1024
const DISK_BYTES = 32 * MiB
const BS = 64 * 1024

/** The blocks where two files differ. */
const differing = async (a: string, b: string): Promise<Set<number>> => await differingBlockIndices(a, b, BS)

interface FailedOver {
  root: string
  p: Box
  replica: Appliance
  primaryDir: string
  replicaDir: string
  /** The old primary's disk file, and a copy of it as the failover point F. */
  disk: string
  shared: string
}

/** Replication of `tiny`, the primary stopped, failover to the latest point on the Replica (its guest wrote once), completed. */
async function failedOver (t: Test): Promise<FailedOver> {
  const guest = await ensureTestGuest()
  const root = await tempDir(t)
  const { p, r, primaryDir, replicaDir } = await restartablePair(t, root, 'tiny')
  const primary = p.app!
  const replica = r.app!
  const disk = join(root, 'tiny.raw')
  await addGuestVm(primary, 'tiny', disk, DISK_BYTES, guest, 3)
  t.equal((await enableReplication(primary, 'tiny', { to: 'box-r', frequency: '1h', recoveryPoints: '0' })).outcome, 'ok')
  await writePatches(disk, scatteredPatches(4, DISK_BYTES, 6, MiB))
  t.equal((await runCycle(primary, 'tiny')).outcome, 'ok')
  const shared = join(root, 'shared.raw')
  await copyFile(disk, shared)
  await primary.stop()
  p.app = undefined

  const failed = await replica.jobRegistry.wait((await replica.failoverUnplanned('tiny')).id)
  t.equal(failed.state, 'ok', failed.error?.message ?? 'failed over')
  const state = JSON.parse(await readFile(join(replicaDir, 'vms', 'tiny', 'disk0.tracking.json'), 'utf8'))
  t.match(state, { bitmap: 'tandem-0', baseRoot: /^[0-9a-f]{64}$/, pending: null }, 'the failover VM\'s disk is tracked from its point')
  await waitForGuestWrite(replicaDir)
  const done = await replica.jobRegistry.wait((await replica.failoverComplete('tiny', { yes: true })).id)
  t.equal(done.state, 'ok', done.error?.message ?? 'completed')
  return { root, p, replica, primaryDir, replicaDir, disk, shared }
}

async function waitForGuestWrite (replicaDir: string): Promise<void> {
  const pid = Number(await readFile(join(replicaDir, 'vms', 'tiny', 'qemu.pid'), 'utf8'))
  await waitForSerial(join(replicaDir, 'vms', 'tiny', 'serial.log'), /^TANDEM-GUEST-WRITES 1$/, () => processExists(pid))
}

/**
 * The old primary's disk diverges offline (kept as `beforeDemotion`), it
 * restarts and is refused, then `replication reverse` on the new primary.
 * Resolves with the first cycle's end event data, the new primary's disk as
 * a raw file, and the blocks that differ.
 */
async function reverse (t: Test, f: FailedOver): Promise<{ data: Record<string, unknown>, newDisk: string, beforeDemotion: string, oldPrimary: Appliance }> {
  await writePatches(f.disk, scatteredPatches(7, DISK_BYTES, 5, 200_000))
  const beforeDemotion = join(f.root, 'before-demotion.raw')
  await copyFile(f.disk, beforeDemotion)
  const oldPrimary = await startBox(f.p, f.primaryDir)
  t.not((await runCycle(oldPrimary, 'tiny')).outcome, 'ok', 'the old primary is refused')

  const job = await f.replica.jobRegistry.wait((await f.replica.replicationReverse('tiny')).id)
  t.match(job, { kind: 'replication-reverse', state: 'ok', reverse: { firstCycle: { outcome: 'ok' } } }, job.error?.message ?? 'reversed')
  const first = job.reverse!.firstCycle!
  const newDisk = join(f.root, 'new-primary.raw')
  await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', join(f.replicaDir, 'vms', 'tiny', 'disk0.qcow2'), newDisk])
  const differ = await differing(beforeDemotion, newDisk)
  t.ok(differ.size > 0, `${differ.size} blocks differ`)
  t.equal(first.bytesChanged, differ.size * BS, 'the first cycle sent exactly the blocks that differ')
  t.ok(first.bytesSent <= 1.1 * differ.size * BS, `bytes sent ${first.bytesSent} <= 1.1 x ${differ.size * BS}`)

  const points = (await oldPrimary.points('tiny')).points
  const newestFile = join(f.root, 'newest.raw')
  await oldPrimary.replica.materializePoint('tiny', points.at(-1)!.id, [{ disk: 'disk0', out: newestFile }])
  t.equal(await fileHash(newestFile), await fileHash(newDisk), 'the old primary\'s newest point is the new primary\'s disk')

  const cycles = (await f.replica.events.read({ relationship: 'tiny' })).events.filter(e => e.kind === 'cycle' && e.phase === 'end' && e.outcome === 'ok')
  t.equal(cycles.length, 1, 'one cycle of the new primary')
  return { data: cycles[0]!.data as Record<string, unknown>, newDisk, beforeDemotion, oldPrimary }
}

t.test('the new primary writes through its running VM: the first reverse cycle reads only the blocks changed since the failover point, on either side', async t => {
  const f = await failedOver(t)
  // The new primary's writes, through the running VM's block layer, so its dirty bitmap records them.
  const qmp = (f.replica.drivers.qemu as QemuVmDriver).driver.qmp('tiny')
  const device = `/machine/peripheral/${diskDeviceId(0)}/virtio-backend`
  // the flush puts QEMU's qcow2 metadata in the file, so the test's read of the file beside QEMU sees the writes
  for (const command of ['write -P 0x5a 0 4096', `write -P 0x5a ${5 * MiB + 100} ${3 * BS}`, `write -P 0x5a ${20 * MiB} ${BS}`, 'flush']) {
    const said = await qmp.execute<string>('human-monitor-command', { 'command-line': `qemu-io -d ${device} "${command}"` })
    t.notMatch(said, /error|conflict|not/i, `${command} through the running VM`)
  }
  const { data, newDisk, beforeDemotion } = await reverse(t, f)
  const dNew = await differing(f.shared, newDisk)
  const dOld = await differing(f.shared, beforeDemotion)
  const union = new Set([...dNew, ...dOld])
  t.ok(dNew.size >= 5 && dOld.size > 0, `${dNew.size} blocks changed here since the failover point, ${dOld.size} on the old primary`)
  t.match(data, { tracked: true }, 'read from change tracking since the failover point')
  t.equal(data.bytesRead, union.size * BS, `read only the ${union.size} blocks changed since the failover point on either side, of ${DISK_BYTES / BS}`)
})

t.test('tracking in doubt (QEMU killed, the disk edited offline): the first reverse cycle compares every block and is exact', async t => {
  const f = await failedOver(t)
  const vmDir = join(f.replicaDir, 'vms', 'tiny')
  const pid = Number(await readFile(join(vmDir, 'qemu.pid'), 'utf8'))
  process.kill(pid, 'SIGKILL')
  while (processExists(pid)) await new Promise(resolve => setTimeout(resolve, 50))
  // Its bitmap is left in use (inconsistent); the disk written offline meanwhile.
  await run('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x77 ${9 * MiB} ${2 * BS}`, join(vmDir, 'disk0.qcow2')])
  await f.replica.vmStart('tiny').catch(async (err: { code?: string }) => {
    // the daemon may have started it again on its own after the crash
    if (err.code !== 'APP_VM_ALREADY_RUNNING') throw err
  })
  const { data, newDisk } = await reverse(t, f)
  t.match(data, { tracked: false, untrackedReason: /inconsistent/ }, 'compared by hash, and says why')
  const written = await differing(f.shared, newDisk)
  t.ok(written.has(9 * MiB / BS) && written.has(9 * MiB / BS + 1), 'the offline edit is in the new primary\'s disk (and in the old primary\'s newest point, above)')
})
