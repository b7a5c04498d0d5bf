/**
 * Pending bytes of a running disk: the pure rule (which dirty bitmaps
 * count, and when tracking cannot vouch) from a table of literal states
 * and nodes; then against qemu-storage-daemon with real points: nothing
 * pending once a point's cycle completed ok, every byte written through
 * NBD counted, both bitmaps while a point is in flight, a failed cycle's
 * changes kept, and unknown after QEMU was killed (inconsistent bitmap).
 */
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { QmpClient } from '../../../../../appliance/drivers/qemu/qmp/qmp-client.ts'
import { LiveDisk, type LiveDiskInit, type NamedNode, type NodeBitmap } from '../../../../../appliance/drivers/qemu/tracking/live-disk.ts'
import { diskPendingBytes, pendingBytes } from '../../../../../appliance/drivers/qemu/tracking/pending-bytes.ts'
import type { TrackingState } from '../../../../../appliance/drivers/qemu/tracking/tracking-state.ts'
import { tempDir } from '../../../../helpers/fixtures.ts'
import { startStorageDaemon, type StorageDaemon } from '../../../../helpers/storage-daemon.ts'
import { requireTools } from '../../../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-storage-daemon'])

const MiB = 2 ** 20
const BS = 65536
const SIZE = 64 * MiB
const ROOT = 'ab'.repeat(32)

t.test('which bitmaps count, and when the count is unknown', async t => {
  const state = (extra: Partial<TrackingState> = {}): TrackingState => ({ version: 1, size: SIZE, bitmap: 'tandem-3', baseRoot: ROOT, generation: 3, pending: null, ...extra })
  const inFlight = (tracked = true): Partial<TrackingState> => ({ generation: 4, pending: { next: 'tandem-4', fleece: 'tandem-fleece-4', scratch: '/tmp/x.qcow2', tracked } })
  const bm = (name: string | undefined, count: number | undefined, extra: Partial<NodeBitmap> = {}): NodeBitmap => ({ ...(name === undefined ? {} : { name }), ...(count === undefined ? {} : { count }), recording: true, granularity: BS, ...extra })
  const node = (bitmaps: NodeBitmap[], size = SIZE): NamedNode => ({ 'node-name': 'disk0', image: { 'virtual-size': size }, 'dirty-bitmaps': bitmaps })
  const table: Array<[string, TrackingState | undefined, NamedNode | undefined, number | null]> = [
    ['nothing written since the point', state(), node([bm('tandem-3', 0)]), 0],
    ['the recording bitmap\'s dirty bytes', state(), node([bm('tandem-3', 3 * BS)]), 3 * BS],
    ['bitmaps that are not Tandem\'s do not count', state(), node([bm('tandem-3', BS), bm('backup-1', 5 * BS), bm(undefined, 7 * BS), bm('tandem-fleece-3', BS)]), BS],
    ['a point in flight: the disabled bitmap plus the recording one', state(inFlight()), node([bm('tandem-3', 2 * BS, { recording: false, busy: true }), bm('tandem-4', BS)]), 3 * BS],
    ['a point in flight before its transaction', state(inFlight()), node([bm('tandem-3', 2 * BS)]), 2 * BS],
    ['a point in flight whose old bitmap its complete already removed', state(inFlight()), node([bm('tandem-4', BS)]), BS],
    ['no tracking state yet', undefined, node([]), null],
    ['the disk\'s node is not there', state(), undefined, null],
    ['first cycle: no bitmap yet', state({ bitmap: null }), node([]), null],
    ['no cycle succeeded since tracking started', state({ baseRoot: null }), node([bm('tandem-3', BS)]), null],
    ['an offline edit', state({ distrust: 'the raw file is newer than its sidecar' }), node([bm('tandem-3', BS)]), null],
    ['an untracked point in flight', state(inFlight(false)), node([bm('tandem-4', BS)]), null],
    ['the disk was resized', state(), node([bm('tandem-3', BS)], 2 * SIZE), null],
    ['the bitmap is missing', state(), node([bm('tandem-2', BS)]), null],
    ['in flight, neither bitmap there', state(inFlight()), node([]), null],
    ['the bitmap is inconsistent', state(), node([bm('tandem-3', BS, { inconsistent: true })]), null],
    ['another Tandem bitmap is inconsistent', state(inFlight()), node([bm('tandem-3', BS, { recording: false }), bm('tandem-4', BS, { inconsistent: true })]), null],
    ['the bitmap is not recording', state(), node([bm('tandem-3', BS, { recording: false })]), null],
    ['a bitmap without a count', state(), node([bm('tandem-3', undefined)]), null]
  ]
  for (const [name, s, n, expected] of table) t.equal(diskPendingBytes(s, n), expected, name)
})

interface Rig { dir: string, disk: string, qsd: StorageDaemon, qmp: QmpClient, init: LiveDiskInit, live: LiveDisk }

async function rig (t: Test): Promise<Rig> {
  const dir = await tempDir(t)
  const disk = join(dir, 'disk.qcow2')
  await promisify(execFile)('qemu-img', ['create', '-q', '-f', 'qcow2', disk, String(SIZE)])
  const qsd = await startStorageDaemon({ dir, disk, format: 'qcow2' })
  const qmp = await QmpClient.connect(qsd.qmpSocket)
  const init: LiveDiskInit = { qmp, node: qsd.node, stateFile: join(dir, 'tracking.json'), workDir: dir, nbdSocket: qsd.nbdSocket, granularity: BS }
  const r: Rig = { dir, disk, qsd, qmp, init, live: await LiveDisk.open(init) }
  t.teardown(async () => { await r.qmp.close(); await r.qsd.kill() })
  return r
}

t.test('against a running QEMU', async t => {
  const r = await rig(t)
  const pending = async (): Promise<number | null> => await pendingBytes(r.qmp, [{ node: r.qsd.node, stateFile: r.init.stateFile }])
  t.equal(await pending(), null, 'before the first point: no tracking')

  const first = await r.live.takePoint()
  t.equal(await pending(), null, 'the first point is untracked: unknown while it is in flight')
  await first.complete({ ok: true, root: ROOT })
  t.equal(await pending(), 0, 'the point\'s cycle completed ok and nothing was written since: nothing pending')

  await r.qsd.write(8 * MiB, 4 * MiB, 0x21)
  t.equal(await pending(), 4 * MiB, 'a write of 4 MiB through NBD (whole blocks) is counted')
  await r.qsd.write(20 * MiB + 100, 3000, 0x22)
  t.equal(await pending(), 4 * MiB + BS, 'a small write counts its whole block')

  const second = await r.live.takePoint()
  await r.qsd.write(40 * MiB, MiB, 0x23)
  t.equal(await pending(), 5 * MiB + BS, 'while the point is in flight: its changes (disabled bitmap) and the later ones')
  await second.complete({ ok: true, root: ROOT })
  t.equal(await pending(), MiB, 'once its cycle completed ok, only the writes after the point')

  const failed = await r.live.takePoint()
  await r.qsd.write(50 * MiB, 2 * MiB, 0x24)
  await failed.complete({ ok: false })
  t.equal(await pending(), 3 * MiB, 'a failed cycle merges its changes into the next bitmap: none lost')

  t.equal(await pendingBytes(r.qmp, [{ node: r.qsd.node, stateFile: r.init.stateFile }, { node: 'no-such-node', stateFile: r.init.stateFile }]), null, 'a disk whose node is missing makes the VM\'s count unknown')

  // Killed with the bitmap loaded from the image (a clean stop saved it): QEMU marks it inconsistent.
  await r.qmp.close()
  await r.qsd.stop()
  r.qsd = await startStorageDaemon({ dir: r.dir, disk: r.disk, format: 'qcow2', tag: 'qsd-2' })
  r.qmp = await QmpClient.connect(r.qsd.qmpSocket)
  t.equal(await pending(), 3 * MiB, 'the persistent bitmap survived a clean restart')
  await r.qmp.close()
  await r.qsd.kill()
  r.qsd = await startStorageDaemon({ dir: r.dir, disk: r.disk, format: 'qcow2', tag: 'qsd-3' })
  r.qmp = await QmpClient.connect(r.qsd.qmpSocket)
  t.equal(await pending(), null, 'after kill -9 the bitmap is inconsistent: unknown (the next cycle compares every block)')

  await t.rejects(pendingBytes(r.qmp, [{ node: r.qsd.node, stateFile: r.init.stateFile }], AbortSignal.abort()), { code: 'CORE_ABORTED' })
})
