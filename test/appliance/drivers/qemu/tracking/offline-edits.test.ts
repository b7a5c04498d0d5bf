/**
 * A raw disk with a qcow2 sidecar, edited while no QEMU had it open (a tool
 * that bypasses the sidecar, so the dirty bitmap never saw the write): the
 * check before QEMU starts distrusts tracking, the next cycle compares every
 * block by hash, finds the edit and is exact; without an edit, a clean
 * restart keeps tracking.
 */
import t from 'tap'
import { open, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { diskRoot } from '../../../../../core/manifest.ts'
import { materializePoint } from '../../../../../core/restore.ts'
import { replicateOnce } from '../../../../../core/replicate.ts'
import { QmpClient } from '../../../../../appliance/drivers/qemu/qmp/qmp-client.ts'
import { LiveDisk } from '../../../../../appliance/drivers/qemu/tracking/live-disk.ts'
import { LivePointSource } from '../../../../../appliance/drivers/qemu/tracking/live-source.ts'
import { checkOfflineEdits } from '../../../../../appliance/drivers/qemu/tracking/offline-edits.ts'
import { ensureRawSidecar } from '../../../../../appliance/drivers/qemu/tracking/raw-sidecar.ts'
import { loadTrackingState } from '../../../../../appliance/drivers/qemu/tracking/tracking-state.ts'
import { tempDir } from '../../../../helpers/fixtures.ts'
import { openStore, scanPool } from '../../../../helpers/engine.ts'
import { startStorageDaemon, type StorageDaemon } from '../../../../helpers/storage-daemon.ts'
import { requireTools } from '../../../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-storage-daemon'])

const MiB = 2 ** 20
const BS = 65536

t.test('an offline edit of a raw disk is caught before QEMU starts; the next cycle hashes everything and is exact', async t => {
  const dir = await tempDir(t)
  const raw = join(dir, 'disk.raw')
  const sidecar = join(dir, 'disk.meta.qcow2')
  await writeFile(raw, Buffer.alloc(16 * MiB, 0x10))
  await ensureRawSidecar(raw, sidecar)
  const stateFile = join(dir, 'tracking.json')
  const store = await openStore(t, join(dir, 'store'))
  const pool = scanPool(t)
  let qsd: StorageDaemon | undefined
  let qmp: QmpClient | undefined
  t.teardown(async () => { await qmp?.close(); await qsd?.kill() })

  let n = 0
  const start = async (): Promise<LiveDisk> => {
    qsd = await startStorageDaemon({ dir, disk: sidecar, format: 'qcow2', tag: `qsd-${++n}` })
    qmp = await QmpClient.connect(qsd.qmpSocket)
    return await LiveDisk.open({ qmp, node: qsd.node, stateFile, workDir: dir, nbdSocket: qsd.nbdSocket, granularity: BS })
  }
  const stop = async (): Promise<void> => { await qmp!.close(); await qsd!.stop() }
  const cycle = async (live: LiveDisk): Promise<{ tracked: boolean, reason?: string, bytesRead: number }> => {
    const point = await live.takePoint()
    const source = new LivePointSource(point)
    const report = await replicateOnce(store, { pool, disks: [{ name: 'disk0', source }] })
    await point.complete({ ok: true, root: diskRoot(await store.manifest(report.point.id, 'disk0')) })
    const out = join(dir, `point-${report.point.id}.img`)
    await materializePoint(store, report.point.id, 'disk0', out)
    t.ok((await readFile(out)).equals(await readFile(raw)), `point ${report.point.id} is exact`)
    return { tracked: report.disks[0]!.tracked, reason: report.disks[0]!.untrackedReason, bytesRead: source.bytesRead }
  }

  let live = await start()
  await cycle(live)
  await qsd!.write(MiB, BS, 0x21)
  t.equal((await cycle(live)).tracked, true, 'tracked while QEMU runs')
  await stop()

  t.equal(await checkOfflineEdits({ raw, sidecar }, stateFile), undefined, 'a clean stop and no edit: nothing to distrust')
  live = await start()
  await qsd!.write(2 * MiB, BS, 0x22)
  const kept = await cycle(live)
  t.equal(kept.tracked, true, 'tracking survives a clean restart')
  t.equal(kept.bytesRead, BS)
  await stop()

  // The offline edit: a plain write into the raw file, past the sidecar and its bitmap.
  const h = await open(raw, 'r+')
  await h.write(Buffer.alloc(BS, 0x33), 0, BS, 9 * MiB)
  await h.close()
  const reason = await checkOfflineEdits({ raw, sidecar }, stateFile)
  t.match(reason, /edited offline/, 'caught before QEMU starts')
  t.equal((await loadTrackingState(stateFile))?.distrust, reason, 'recorded in the tracking state')

  live = await start()
  const resync = await cycle(live)
  t.equal(resync.tracked, false, 'the next cycle does not trust the bitmap')
  t.match(resync.reason, /edited offline/, 'and its report says why')
  t.equal(resync.bytesRead, 16 * MiB, 'every block compared by hash (the edit is found: the point is exact)')
  t.equal((await loadTrackingState(stateFile))?.distrust, undefined, 'the distrust ends with that point')
  await qsd!.write(3 * MiB, BS, 0x23)
  t.equal((await cycle(live)).tracked, true, 'tracked again after')
})
