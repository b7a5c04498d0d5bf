/**
 * Delta failback in-process (docs/failover.md "Reverse replication",
 * "Salvage", "Delta failback"): two Appliances on loopback, the primary
 * protecting a manual-driver VM whose disk the busybox test guest boots.
 *
 * The primary stops; the Replica fails over to the latest point and
 * completes (its VM writes one block). The old primary's disk is changed
 * offline (divergent writes), it restarts and is refused by the term
 * check. `replication reverse` on the new primary: the old primary keeps
 * its disk as a salvage copy (listed, byte for byte its disk before the
 * demotion, restorable, deleted only with --yes), becomes the Replica,
 * and its newest point is the new primary's disk; the first cycle sends at
 * most 1.1x the blocks that differ between the two disks (computed here
 * from the disks' block hashes).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { copyFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { differingBlockIndices } from '../../helpers/block-diff.ts'
import { fileHash, scatteredPatches, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { addGuestVm, enableReplication, restartablePair, runCycle, startBox } from '../../helpers/paired-daemons.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { processExists, waitForSerial } from '../drivers/qemu/vm-helpers.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])
const run = promisify(execFile)

const MiB = 1024 * 1024
const DISK_BYTES = 16 * MiB
const BS = 64 * 1024

/** How many blocks of two files of the same size differ. */
const differingBlocks = async (a: string, b: string): Promise<number> => (await differingBlockIndices(a, b, BS)).size

t.test('unplanned failover, the old primary refused, reverse: salvage copy, the old primary the Replica, only differing blocks sent', async t => {
  const guest = await ensureTestGuest()
  const root = await tempDir(t)
  const { p, r, primaryDir, replicaDir } = await restartablePair(t, root, 'tiny')
  let primary = p.app!
  const replica = r.app!

  const disk = join(root, 'tiny.raw')
  await addGuestVm(primary, 'tiny', disk, DISK_BYTES, guest, 1)
  t.equal((await enableReplication(primary, 'tiny', { to: 'box-r', frequency: '1h', recoveryPoints: '0' })).outcome, 'ok')
  await writePatches(disk, scatteredPatches(2, DISK_BYTES, 6, MiB))
  t.equal((await runCycle(primary, 'tiny')).outcome, 'ok')

  // The primary is gone: failover to the latest point, the VM writes, complete.
  await primary.stop()
  p.app = undefined
  const failed = await replica.jobRegistry.wait((await replica.failoverUnplanned('tiny')).id)
  t.equal(failed.state, 'ok', failed.error?.message ?? 'failed over')
  const serial = join(replicaDir, 'vms', 'tiny', 'serial.log')
  const pid = Number(await readFile(join(replicaDir, 'vms', 'tiny', 'qemu.pid'), 'utf8'))
  await waitForSerial(serial, /^TANDEM-GUEST-WRITES 1$/, () => processExists(pid))
  const done = await replica.jobRegistry.wait((await replica.failoverComplete('tiny', { yes: true })).id)
  t.equal(done.state, 'ok', done.error?.message ?? 'completed')
  await t.rejects(replica.replicationReverse('nope'), { code: 'APP_RELATIONSHIP_NOT_FOUND' })

  // The old primary's disk diverges offline; it comes back and is refused.
  await writePatches(disk, scatteredPatches(7, DISK_BYTES, 5, 200_000))
  const beforeDemotion = join(root, 'before-demotion.raw')
  await copyFile(disk, beforeDemotion)
  primary = await startBox(p, primaryDir)
  t.not((await runCycle(primary, 'tiny')).outcome, 'ok', 'its cycle is refused')
  t.match(primary.relationships.get('tiny'), { role: 'primary', state: 'error', code: /^P2P_(FAILED_OVER|STALE_TERM)$/, reason: /replication reverse/ }, 'it stops and says what to run')
  await t.rejects(primary.replicationReverse('tiny'), { code: 'APP_INVALID_STATE' }, 'reverse runs on the box that failed over')

  // A dry run changes nothing.
  const plan = await replica.replicationReversePlan('tiny')
  t.match(plan, { relationship: 'tiny', vm: 'tiny', replica: 'box-p', state: 'failed-over', term: 2, base: { root: /^[0-9a-f]{64}$/ }, force: false })
  t.match(replica.relationships.get('tiny'), { role: 'replica', state: 'failed-over' })

  // Reverse.
  const job = await replica.jobRegistry.wait((await replica.replicationReverse('tiny')).id)
  t.match(job, { kind: 'replication-reverse', state: 'ok', reverse: { relationship: 'tiny', term: 2, firstCycle: { outcome: 'ok' } } }, job.error?.message ?? 'reversed')
  const first = job.reverse!.firstCycle!
  t.match(replica.relationships.get('tiny'), { role: 'primary', term: 2, state: 'replicating' })
  t.match(primary.relationships.get('tiny'), { role: 'replica', term: 2, state: 'replicating' })
  t.equal(primary.inventory.get('tiny'), undefined, 'the old primary\'s VM left its inventory')
  t.equal(await fileHash(disk), await fileHash(beforeDemotion), 'its disk file is untouched')

  // The new primary's disk now (its guest sleeps after its one write) against the old primary's.
  const newDisk = join(root, 'new-primary.raw')
  await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', join(replicaDir, 'vms', 'tiny', 'disk0.qcow2'), newDisk])
  const differing = await differingBlocks(beforeDemotion, newDisk)
  t.ok(differing > 0, `${differing} blocks differ`)
  t.equal(first.bytesChanged, differing * BS, 'the first cycle sent exactly the blocks that differ')
  t.ok(first.bytesSent <= 1.1 * differing * BS, `bytes sent ${first.bytesSent} <= 1.1 x ${differing * BS}`)

  // The old primary's newest point is the new primary's disk.
  const points = (await primary.points('tiny')).points
  const newest = points.at(-1)!
  const newestFile = join(root, 'newest.raw')
  await primary.replica.materializePoint('tiny', newest.id, [{ disk: 'disk0', out: newestFile }])
  t.equal(await fileHash(newestFile), await fileHash(newDisk), 'the Replica\'s newest point is the new primary\'s disk')

  // The salvage copy: listed, byte for byte the disk before the demotion, deleted only with --yes.
  const list = await primary.salvageList()
  t.equal(list.length, 1)
  const copy = list[0]!
  t.match(copy, { relationship: 'tiny', vm: 'tiny', state: 'kept', point: Number, since: String, disks: [{ name: 'disk0', size: DISK_BYTES, source: disk }] })
  t.ok(points.some(x => x.id === copy.point), 'its point is in the store')
  t.same(await primary.salvageList('other'), [])
  const out = join(root, 'salvage.raw')
  const restored = await primary.jobRegistry.wait((await primary.salvageRestore(copy.id, { out })).id)
  t.match(restored, { kind: 'salvage-restore', state: 'ok', salvageRestore: { id: copy.id, disk: 'disk0', path: out, bytes: DISK_BYTES } }, restored.error?.message ?? 'restored')
  t.equal(await fileHash(out), await fileHash(beforeDemotion), 'the salvage copy is the old primary\'s disk before the demotion')
  const again = await primary.jobRegistry.wait((await primary.salvageRestore(copy.id, { out })).id)
  t.match(again, { state: 'failed', error: { code: 'CORE_OUTPUT_EXISTS' } }, 'no file replaced without force')
  await t.rejects(primary.salvageRestore(copy.id, { out: 'relative.raw' }), { code: 'APP_USAGE' })
  await t.rejects(primary.salvageRestore('tiny-20000101T000000Z', { out }), { code: 'APP_SALVAGE_NOT_FOUND' })
  await t.rejects(primary.salvageDelete(copy.id), { code: 'APP_CONFIRMATION_REQUIRED' }, 'deleting needs --yes')
  t.equal((await primary.salvageList()).length, 1, 'still there')

  // Another cycle of the new primary keeps the salvage point (pinned) until it is deleted.
  t.equal((await runCycle(replica, 'tiny')).outcome, 'ok')
  t.ok((await primary.points('tiny')).points.some(x => x.id === copy.point), 'the salvage point outlives retention')
  t.match(await primary.salvageDelete(copy.id, { yes: true }), { id: copy.id, deleted: true })
  t.same(await primary.salvageList(), [])
})
