/**
 * Planned failover and delta failback end to end, driven only through the
 * CLI: two `tandem start` processes on loopback.
 *
 * - planned failover of a manual-driver VM the Replica cannot boot: the
 *   dry run in words, then the Replica's disk is byte for byte the
 *   primary's final disk, replication runs the other way, and a change on
 *   the new primary sends only its blocks;
 * - kill -9 of the primary, unplanned failover of a VM the busybox guest
 *   boots, complete; the old primary's disk changed offline; it restarts
 *   and is refused; `replication reverse`: the salvage copy is listed and
 *   restores byte for byte the old primary's disk, deleting it needs
 *   --yes, the old primary is the Replica, and the bytes sent are at most
 *   1.1x the blocks that differ between the two disks.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { BoxReplicationStatus } from '../../../appliance/cli/replication.ts'
import type { EventsResult, JobInfo, SalvageInfo, VmInfo } from '../../../appliance/service/index.ts'
import { cycleEnd, cycleOk, eventLine, lineCount } from '../../helpers/event-log-wait.ts'
import { fileHash, scatteredPatches, sparseFile, tempDir, touchedBlocks, writePatches } from '../../helpers/fixtures.ts'
import { ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { addManualVm, pairedDaemons, startDaemon, tandemAt, tandemJsonAt } from '../../helpers/tandem-cli.ts'
import { waitForSerial } from '../drivers/qemu/vm-helpers.ts'
import { differingBlockIndices } from '../../helpers/block-diff.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])

const run = promisify(execFile)
const json = tandemJsonAt
const MiB = 2 ** 20
const DISK_BYTES = 16 * MiB
const BS = 65536

const differingBlocks = async (a: string, b: string): Promise<number> => (await differingBlockIndices(a, b, BS)).size

const failoverEnd = (e: Record<string, unknown>): boolean => e.kind === 'failover' && e.phase === 'end'

t.test('planned failover through the CLI: byte for byte, then only changed blocks the other way', async t => {
  const root = await tempDir(t)
  const disk = join(root, 'files.raw')
  await sparseFile(disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(21, DISK_BYTES, 10, MiB))
  const { p, r } = await pairedDaemons(t, root)
  await addManualVm(p, 'files', disk)
  await json(p, ['replication', 'enable', 'files', '--to', 'box-r', '--frequency', '1h', '--recovery-points', '0'])
  await eventLine(p, cycleOk, 0)
  await writePatches(disk, scatteredPatches(22, DISK_BYTES, 4, 300_000))
  const final = join(root, 'final.raw')
  await copyFile(disk, final)

  const dry = await tandemAt(p, ['failover', 'planned', 'files', '--dry-run'])
  t.equal(dry.status, 0, dry.stderr)
  t.match(dry.stdout, /dry run: nothing was done/)
  t.match(dry.stdout, /lose nothing/)
  const wrongSide = await tandemAt(r, ['failover', 'planned', 'files'])
  t.same([wrongSide.status, wrongSide.code], [1, 'APP_RELATIONSHIP_NOT_FOUND'], 'a planned failover starts on the primary')

  const rMark = await lineCount(r)
  const job = await json<JobInfo>(p, ['failover', 'planned', 'files'])
  t.match(job, { kind: 'failover-planned', state: 'ok', planned: { replica: 'box-r', term: 2 } })
  await eventLine(r, failoverEnd, rMark)
  const vm = (await json<VmInfo[]>(r, ['vm', 'list'])).find(v => v.name === 'files')
  t.match(vm, { driver: 'manual', relationship: { role: 'primary' } })
  const replicaDisk = vm!.disks[0]!.path
  t.equal(await fileHash(replicaDisk), await fileHash(final), 'the Replica\'s disk is the primary\'s final disk, byte for byte')
  t.match((await json<BoxReplicationStatus>(r, ['replication', 'status', 'files'])).primary[0], { role: 'primary', term: 2, state: 'replicating' })
  t.match((await json<BoxReplicationStatus>(p, ['replication', 'status', 'files'])).replica[0], { term: 2, state: 'replicating' })
  t.same(await json<SalvageInfo[]>(p, ['salvage', 'list']), [], 'nothing to salvage')

  // A change on the new primary: its next cycle sends only the changed blocks.
  const change = scatteredPatches(23, DISK_BYTES, 3, 100_000)
  await writePatches(replicaDisk, change)
  const mark = await lineCount(r)
  await json(r, ['replication', 'resync', 'files'])
  await eventLine(r, cycleOk, mark)
  const cycles = (await json<EventsResult>(r, ['events', 'files'])).events.filter(e => e.kind === 'cycle' && e.phase === 'end')
  t.match(cycles.at(-1), { outcome: 'ok', data: { bytesChanged: touchedBlocks(change, BS).size * BS } }, 'only the changed blocks')
})

t.test('unplanned failover, the old primary refused, reverse through the CLI: salvage copy, bytes sent <= 1.1x the differing blocks', async t => {
  const guest = await ensureTestGuest()
  const root = await tempDir(t)
  const disk = join(root, 'tiny.raw')
  await sparseFile(disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(31, DISK_BYTES, 12, MiB))
  const { p, r, daemons } = await pairedDaemons(t, root)
  t.teardown(async () => { await tandemAt(r, ['vm', 'stop', 'tiny', '--force', '--timeout', '1s']).catch(() => undefined) })
  await json(p, ['vm', 'add', 'tiny', '--disk', disk, '--driver', 'manual', '--memory', '128', '--kernel', guest.kernel, '--initrd', guest.initrd, '--append', 'console=ttyS0 panic=-1 tandem.every=1 tandem.delay=1000000000'])
  await json(p, ['replication', 'enable', 'tiny', '--to', 'box-r', '--frequency', '1h', '--recovery-points', '0'])
  await eventLine(p, cycleOk, 0)

  await daemons.p.stop('SIGKILL')
  t.match(await json<JobInfo>(r, ['failover', 'unplanned', 'tiny']), { state: 'ok' })
  const vmDir = join(r, 'vms', 'tiny')
  await waitForSerial(join(vmDir, 'serial.log'), /^TANDEM-GUEST-WRITES 1$/, () => true)
  t.match(await json<JobInfo>(r, ['failover', 'complete', 'tiny', '--yes']), { state: 'ok' })

  // The old primary's disk diverges while it is away; it comes back and is refused.
  await writePatches(disk, scatteredPatches(32, DISK_BYTES, 5, 200_000))
  const beforeDemotion = join(root, 'before-demotion.raw')
  await copyFile(disk, beforeDemotion)
  daemons.p = await startDaemon(p)
  const pMark = await lineCount(p)
  await tandemAt(p, ['replication', 'resync', 'tiny'])
  await eventLine(p, cycleEnd, pMark)
  t.match((await json<BoxReplicationStatus>(p, ['replication', 'status', 'tiny'])).primary[0], { state: 'error', code: /^P2P_(FAILED_OVER|STALE_TERM)$/, stateReason: /replication reverse/ }, 'refused, and it says what to run')

  const dry = await tandemAt(r, ['replication', 'reverse', 'tiny', '--dry-run'])
  t.equal(dry.status, 0, dry.stderr)
  t.match(dry.stdout, /will be set aside as a salvage copy/)
  const job = await json<JobInfo>(r, ['replication', 'reverse', 'tiny'])
  t.match(job, { kind: 'replication-reverse', state: 'ok', reverse: { replica: 'box-p', term: 2, firstCycle: { outcome: 'ok' } } })
  const first = job.reverse!.firstCycle!
  const newDisk = join(root, 'new-primary.raw')
  await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', join(vmDir, 'disk0.qcow2'), newDisk])
  const differing = await differingBlocks(beforeDemotion, newDisk)
  t.equal(first.bytesChanged, differing * BS, 'the blocks sent are the blocks that differ')
  t.ok(first.bytesSent <= 1.1 * differing * BS, `bytes sent ${first.bytesSent} <= 1.1 x ${differing * BS}`)
  t.match((await json<BoxReplicationStatus>(p, ['replication', 'status', 'tiny'])).replica[0], { term: 2, state: 'replicating' }, 'the old primary is the Replica')

  const [copy, ...more] = await json<SalvageInfo[]>(p, ['salvage', 'list', 'tiny'])
  t.same(more, [])
  t.match(copy, { vm: 'tiny', state: 'kept', disks: [{ name: 'disk0', size: DISK_BYTES, source: disk }] })
  const out = join(root, 'salvage.raw')
  t.match(await json<JobInfo>(p, ['salvage', 'restore', copy!.id, '--out', out]), { kind: 'salvage-restore', state: 'ok' })
  t.equal(await fileHash(out), await fileHash(beforeDemotion), 'the salvage copy is the old primary\'s divergent disk, byte for byte')
  const noYes = await tandemAt(p, ['salvage', 'delete', copy!.id])
  t.same([noYes.status, noYes.code], [1, 'APP_CONFIRMATION_REQUIRED'])
  t.match(await json(p, ['salvage', 'delete', copy!.id, '--yes']), { id: copy!.id, deleted: true })
})
