/**
 * Manual disks (VMs Tandem does not run) as a cycle's source: raw and qcow2
 * disks replicate exactly while nobody holds them; a disk in use is refused
 * with APP_DISK_IN_USE; a disk that a VM opens while it is being read fails
 * the cycle with CORE_SOURCE_CHANGED (cause APP_DISK_IN_USE), nothing committed.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { DiskSource } from '../../../../core/disk-view/index.ts'
import { materializePoint } from '../../../../core/restore.ts'
import { replicateOnce } from '../../../../core/replicate.ts'
import { ManualDiskSource } from '../../../../appliance/drivers/manual/manual-source.ts'
import { tempDir, writePatches, sparseFile } from '../../../helpers/fixtures.ts'
import { openStore, scanPool } from '../../../helpers/engine.ts'
import { startStorageDaemon, type StorageDaemon } from '../../../helpers/storage-daemon.ts'
import { requireTools } from '../../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-nbd', 'qemu-storage-daemon'])

const run = promisify(execFile)
const MiB = 2 ** 20

async function qcow2Disk (dir: string): Promise<{ disk: string, raw: string }> {
  const disk = join(dir, 'manual.qcow2')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, String(24 * MiB)])
  await run('qemu-io', ['-f', 'qcow2', disk, '-c', 'write -P 0x61 0 1M', '-c', 'write -P 0x62 7M 3M', '-c', 'write -P 0x63 23M 64k'])
  const raw = join(dir, 'manual.expected.raw')
  await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', disk, raw])
  return { disk, raw }
}

t.test('raw and qcow2 manual disks replicate exactly while nobody holds them', async t => {
  const dir = await tempDir(t)
  const pool = scanPool(t)
  const rawDisk = join(dir, 'manual.raw')
  await sparseFile(rawDisk, 20 * MiB + 512)
  await writePatches(rawDisk, [{ offset: 3, length: 2 * MiB, fill: 5 }, { offset: 20 * MiB, length: 512, fill: 6 }])
  const { disk: qcowDisk, raw: expected } = await qcow2Disk(dir)
  for (const [name, source, reference] of [['raw', new ManualDiskSource(rawDisk, 'raw'), rawDisk], ['qcow2', new ManualDiskSource(qcowDisk, 'qcow2'), expected]] as const) {
    const store = await openStore(t, join(dir, `store-${name}`))
    const report = await replicateOnce(store, { pool, disks: [{ name: 'disk0', source }] })
    const out = join(dir, `${name}.restored`)
    await materializePoint(store, report.point.id, 'disk0', out)
    t.ok((await readFile(out)).equals(await readFile(reference)), `the ${name} disk's point is exact`)
  }
})

t.test('a disk a QEMU holds is refused, and nothing is committed', async t => {
  const dir = await tempDir(t)
  const { disk } = await qcow2Disk(dir)
  const qsd = await startStorageDaemon({ dir, disk, format: 'qcow2' })
  t.teardown(qsd.kill)
  const store = await openStore(t, join(dir, 'store'))
  await t.rejects(replicateOnce(store, { pool: scanPool(t), disks: [{ name: 'disk0', source: new ManualDiskSource(disk, 'qcow2') }] }), { code: 'APP_DISK_IN_USE' })
  t.same(await store.listPoints(), [], 'no point')
})

t.test('a disk a VM opens while it is read fails the cycle with CORE_SOURCE_CHANGED; nothing is committed', async t => {
  const dir = await tempDir(t)
  const { disk } = await qcow2Disk(dir)
  let qsd: StorageDaemon | undefined
  t.teardown(async () => { await qsd?.kill() })
  // Fault injection: right after Tandem opened the disk, a VM starts on it.
  const manual = new ManualDiskSource(disk, 'qcow2', { intervalMs: 50 })
  const racing: DiskSource = {
    description: manual.description,
    open: async signal => {
      const view = await manual.open(signal)
      qsd = await startStorageDaemon({ dir, disk, format: 'qcow2' })
      return view
    }
  }
  const store = await openStore(t, join(dir, 'store'))
  const err = await replicateOnce(store, { pool: scanPool(t), disks: [{ name: 'disk0', source: racing }] }).then(() => undefined, (e: unknown) => e)
  t.match(err, { code: 'CORE_SOURCE_CHANGED', cause: { code: 'APP_DISK_IN_USE' } }, 'the view was not one moment of the disk')
  t.same(await store.listPoints(), [], 'no point')
})
