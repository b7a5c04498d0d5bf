/**
 * Tracking that starts at a known point (tracking/track-from-point.ts), with
 * qemu-storage-daemon standing in for the VM: the bitmap added offline
 * records every write from QEMU's first on, and the first point is tracked
 * relative to the given root, its dirty extents exactly the writes. (The
 * trust rules after a restart or a kill -9 are LiveDisk's, tested in
 * live-disk.test.ts; end to end in test/appliance/daemon/tracked-reverse.test.ts.)
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { QmpClient } from '../../../../../appliance/drivers/qemu/qmp/qmp-client.ts'
import { LiveDisk } from '../../../../../appliance/drivers/qemu/tracking/live-disk.ts'
import { LivePointSource } from '../../../../../appliance/drivers/qemu/tracking/live-source.ts'
import { POINT_BITMAP, trackFromPoint } from '../../../../../appliance/drivers/qemu/tracking/track-from-point.ts'
import { tempDir } from '../../../../helpers/fixtures.ts'
import { startStorageDaemon } from '../../../../helpers/storage-daemon.ts'
import { requireTools } from '../../../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-storage-daemon'])

const run = promisify(execFile)
const MiB = 2 ** 20
const BS = 65536
const SIZE = 16 * MiB
const ROOT = 'ab'.repeat(32)

t.test('a disk tracked from a point: its first point is tracked relative to that root, its extents the writes since', async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'disk.qcow2')
  const stateFile = join(dir, 'tracking.json')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, String(SIZE)])
  await run('qemu-io', ['-f', 'qcow2', disk, '-c', 'write -P 0x11 0 4M'])
  await trackFromPoint({ image: disk, stateFile, size: SIZE, root: ROOT }, BS)
  t.match(JSON.parse(await readFile(stateFile, 'utf8')), { bitmap: POINT_BITMAP, baseRoot: ROOT, generation: 0, pending: null })

  const qsd = await startStorageDaemon({ dir, disk, format: 'qcow2' })
  const qmp = await QmpClient.connect(qsd.qmpSocket)
  t.teardown(async () => { await qmp.close(); await qsd.kill().catch(() => {}) })
  const live = await LiveDisk.open({ qmp, node: qsd.node, stateFile, workDir: dir, nbdSocket: qsd.nbdSocket, granularity: BS })
  await qsd.write(3 * BS + 10, 100, 0x22)
  await qsd.write(100 * BS, 2 * BS, 0x33)
  const point = await live.takePoint()
  t.same(point.tracking, { baseRoot: ROOT, context: `qemu:dirty-bitmap:${POINT_BITMAP}` }, point.untrackedReason ?? 'tracked relative to the point\'s root')
  const view = await new LivePointSource(point).open()
  t.same(await view.changedSince!(ROOT), [{ offset: 3 * BS, length: BS }, { offset: 100 * BS, length: 2 * BS }], 'exactly the blocks written since')
  t.match(await view.changedSince!('cd'.repeat(32)), { untracked: /another point/ }, 'and nothing relative to another root')
  await view.close()
  await point.complete({ ok: false })
})
