/**
 * Unplanned failover end to end, driven only through the CLI: two `tandem
 * start` processes on loopback; the primary protects a manual-driver VM
 * whose disk the busybox test guest boots (it writes one block once up,
 * then sleeps), and is killed (-9).
 *
 * - `failover unplanned --dry-run` says what would happen and what could be
 *   lost, and does nothing; an older point without `--yes` is refused;
 * - unplanned failover to the older point, then cancel;
 * - unplanned failover to the latest, then `complete` with a bandwidth cap,
 *   and the Replica's daemon killed (-9) in the middle of the copy: the
 *   VM outlives it, the restarted daemon serves its point again and the
 *   copy goes on; the final disk stands alone and equals the point plus
 *   what the guest wrote; only that point is kept;
 * - the old primary comes back: refused by the term check, it says why.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import type { BoxReplicationStatus } from '../../../appliance/cli/replication.ts'
import type { EventsResult, FailoverCancelResult, JobInfo, PointsResult, VmInfo } from '../../../appliance/service/index.ts'
import { cycleEnd, cycleOk, eventLine, lineCount } from '../../helpers/event-log-wait.ts'
import { scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { pairedDaemons, start, startDaemon, tandemAt, tandemJsonAt } from '../../helpers/tandem-cli.ts'
import { waitForSerial } from '../drivers/qemu/vm-helpers.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])
const run = promisify(execFile)
const json = tandemJsonAt

const MiB = 2 ** 20
const DISK_BYTES = 24 * MiB
/** Bound for what the test waits on (a copy under a cap, a TCG boot): readiness, not a measured time. */
const WAIT_MS = 120_000

/** Whether the process runs (a QEMU whose daemon was killed may be a zombie of init for a while: an empty command line). */
async function runs (pid: number): Promise<boolean> {
  return (await readFile(`/proc/${pid}/cmdline`).catch(() => Buffer.alloc(0))).length > 0
}

/** Bytes allocated to the overlay file: they grow as the copy writes the point's data into it. */
async function allocated (overlay: string): Promise<number> {
  return (await stat(overlay)).blocks * 512
}

t.test('kill -9 of the primary, unplanned failover, cancel, complete with a kill -9 of the Replica mid-copy, the old primary refused', async t => {
  const guest = await ensureTestGuest()
  const root = await tempDir(t)
  const disk = join(root, 'tiny.raw')
  await sparseFile(disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(11, DISK_BYTES, 20, MiB))
  const { p, r, daemons } = await pairedDaemons(t, root)
  const pids: number[] = []
  t.teardown(async () => {
    await tandemAt(r, ['vm', 'stop', 'tiny', '--force', '--timeout', '1s']).catch(() => undefined)
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} }
  })

  await json(p, ['vm', 'add', 'tiny', '--disk', disk, '--driver', 'manual', '--memory', '128', '--kernel', guest.kernel, '--initrd', guest.initrd, '--append', 'console=ttyS0 panic=-1 tandem.every=1 tandem.delay=1000000000'])
  await json(p, ['replication', 'enable', 'tiny', '--to', 'box-r', '--frequency', '1h'])
  const first = await eventLine(p, cycleOk, 0)
  await writePatches(disk, scatteredPatches(12, DISK_BYTES, 6, MiB))
  await json(p, ['replication', 'resync', 'tiny'])
  await eventLine(p, cycleOk, first)
  const [older, latest] = (await json<PointsResult>(r, ['points', 'tiny'])).points
  t.ok(older !== undefined && latest !== undefined, 'two points on the Replica')

  // The primary is gone.
  await daemons.p.stop('SIGKILL')

  // A dry run: in words, nothing done. Without --yes an older point is refused.
  const dry = await tandemAt(r, ['failover', 'unplanned', 'tiny', '--point', String(older!.id), '--dry-run'])
  t.equal(dry.status, 0, dry.stderr)
  t.match(dry.stdout, /dry run: nothing was done/)
  t.match(dry.stdout, /raise the term of tiny from 1 to 2/)
  t.match(dry.stdout, /the 1 newer point will be dropped if you complete/)
  t.match((await json<BoxReplicationStatus>(r, ['replication', 'status', 'tiny'])).replica[0], { state: 'replicating', term: 1, failover: null }, 'the dry run changed nothing')
  const noYes = await tandemAt(r, ['failover', 'unplanned', 'tiny', '--point', String(older!.id)])
  t.same([noYes.status, noYes.code], [1, 'APP_CONFIRMATION_REQUIRED'])

  // Failover to the older point, then cancel.
  const toOlder = await json<JobInfo>(r, ['failover', 'unplanned', 'tiny', '--point', String(older!.id), '--yes'])
  t.match(toOlder, { kind: 'failover', state: 'ok', failover: { kind: 'vm', point: { id: older!.id }, term: 2, vmState: 'running' } })
  const vmDir = join(r, 'vms', 'tiny')
  const pid1 = Number(await readFile(join(vmDir, 'qemu.pid'), 'utf8'))
  pids.push(pid1)
  t.match(await json<VmInfo[]>(r, ['vm', 'list']), [{ name: 'tiny', driver: 'qemu', state: 'running' }])
  const cancelled = await json<FailoverCancelResult>(r, ['failover', 'cancel', 'tiny'])
  t.match(cancelled, { point: older!.id, term: 1, cancelled: true })
  t.notOk(await runs(pid1), 'the VM stopped')
  t.same((await json<PointsResult>(r, ['points', 'tiny'])).points.map(x => x.id), [older!.id, latest!.id], 'no point changed')

  // Failover to the latest; the guest writes once.
  const toLatest = await json<JobInfo>(r, ['failover', 'unplanned', 'tiny'])
  t.match(toLatest, { state: 'ok', failover: { point: { id: latest!.id } } })
  const overlay = join(vmDir, 'disk0.qcow2')
  const pid2 = Number(await readFile(join(vmDir, 'qemu.pid'), 'utf8'))
  pids.push(pid2)
  await waitForSerial(join(vmDir, 'serial.log'), /^TANDEM-GUEST-WRITES 1$/, () => true)
  const reference = join(root, 'reference.raw')
  await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', overlay, reference])
  const before = await allocated(overlay)

  // complete under a cap (about 12 s for the disk: zeros count too); the Replica's daemon killed in the middle of the copy.
  const completing = start(['failover', 'complete', 'tiny', '--yes', '--bandwidth', '2M', '--data', r])
  for (const until = Date.now() + WAIT_MS; await allocated(overlay) < before + 2 * MiB;) {
    if (Date.now() > until) throw new Error('the copy did not start')
    await sleep(50)
  }
  await daemons.r.stop('SIGKILL')
  await completing.done
  t.ok(await runs(pid2), 'the VM outlived its daemon')
  t.match((await run('qemu-img', ['info', '-U', '--output=json', overlay])).stdout, /backing-filename/, 'killed in the middle of the copy: the disk still has its backing')

  // The restarted daemon serves the point again and follows the copy (QEMU went on with it) to its end.
  const mark = await lineCount(r)
  daemons.r = await startDaemon(r)
  const follow = await tandemAt(r, ['failover', 'complete', 'tiny', '--yes', '--json'])
  t.ok(follow.status === 0 || follow.code === 'APP_INVALID_STATE', `complete follows the resumed copy, or finds it done (${follow.stderr})`)
  await eventLine(r, e => e.kind === 'failover-complete' && e.phase === 'end', mark)
  const ended = (await json<EventsResult>(r, ['events', 'tiny'])).events.filter(e => e.kind === 'failover-complete' && e.phase === 'end').at(-1)
  t.match(ended, { outcome: 'ok', data: { point: latest!.id } }, 'the resumed copy completed the failover')
  t.ok(await runs(pid2), 'the same VM ran through it all')
  t.notMatch((await run('qemu-img', ['info', '-U', '--output=json', overlay])).stdout, /backing-filename/, 'the disk stands alone')
  const compare = await run('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'raw', overlay, reference]).then(() => 0, (err: { code?: number }) => err.code ?? -1)
  t.equal(compare, 0, 'the final disk is the point plus what the guest wrote')
  t.same((await json<PointsResult>(r, ['points', 'tiny'])).points.map(x => x.id), [latest!.id], 'only the failover point is kept')
  t.match((await json<BoxReplicationStatus>(r, ['replication', 'status', 'tiny'])).replica[0], { state: 'failed-over', term: 2, failover: null })
  t.match(await json<VmInfo[]>(r, ['vm', 'list']), [{ name: 'tiny', driver: 'qemu', state: 'running', pid: pid2, disks: [{ path: overlay }] }])
  const events = (await json<EventsResult>(r, ['events', 'tiny'])).events
  t.ok(events.some(e => e.kind === 'failover-resume' && /found running/.test(e.reason)), 'the restart found the VM running and said so')

  // The old primary comes back: refused, it says why.
  daemons.p = await startDaemon(p)
  const pMark = await lineCount(p)
  await tandemAt(p, ['replication', 'resync', 'tiny'])
  await eventLine(p, cycleEnd, pMark)
  const status = (await json<BoxReplicationStatus>(p, ['replication', 'status', 'tiny'])).primary[0]
  t.match(status, { state: 'error', code: /^P2P_(FAILED_OVER|STALE_TERM)$/, stateReason: /failed over/ }, 'refused by the term check')
  t.same((await json<PointsResult>(r, ['points', 'tiny'])).points.map(x => x.id), [latest!.id], 'nothing of it reached the Replica')
})
