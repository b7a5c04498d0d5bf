/**
 * Manual disks skip their holes: a qcow2 disk read through qemu-nbd tells
 * its unallocated and zero clusters (`base:allocation`, NBD_STATE_ZERO), a
 * raw disk its file holes, and the scan gives exactly the manifest of a full
 * read (and of the same disk converted to raw) while reading only the data.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { FileDiskSource, type DiskSource } from '../../../../core/disk-view/index.ts'
import { scanDisk, type ScanPool, type ScanResult } from '../../../../core/scan/index.ts'
import { ManualDiskSource } from '../../../../appliance/drivers/manual/manual-source.ts'
import { sparseFile, tempDir, writePatches } from '../../../helpers/fixtures.ts'
import { scanPool } from '../../../helpers/engine.ts'
import { requireTools } from '../../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-nbd'])

const run = promisify(execFile)
const MiB = 2 ** 20
const BS = 64 * 1024

async function scanSource (pool: ScanPool, source: DiskSource, readHoles: boolean, expectExtents: boolean): Promise<ScanResult> {
  const view = await source.open()
  try {
    if (expectExtents) t.type(view.dataExtents, 'function', `${source.description} tells its data extents`)
    return await scanDisk(view, { pool, blockSize: BS, readHoles })
  } finally {
    await view.close()
  }
}

t.test('a qcow2 disk with unallocated, zero and data clusters scans as a full read does', async t => {
  const dir = await tempDir(t)
  const pool = scanPool(t)
  const disk = join(dir, 'disk.qcow2')
  const size = 40 * MiB + 512
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=65536', disk, String(size)])
  await run('qemu-io', ['-f', 'qcow2', disk,
    '-c', 'write -P 0x11 1M 64k', // one aligned cluster
    '-c', `write -P 0x22 ${5 * MiB + 17} 100`, // a few bytes inside a cluster
    '-c', 'write -z 8M 2M', // zero clusters
    '-c', 'write -P 0x33 12M 2M',
    '-c', `write -z ${12 * MiB + BS} 64k`, // a zero cluster inside data
    '-c', 'discard 13M 64k', // a discarded cluster inside data
    '-c', 'write -P 0 16M 1M', // zeros written as data
    '-c', `write -P 0x44 ${size - 100} 100`]) // the partial last block
  const raw = join(dir, 'disk.raw')
  await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', disk, raw])
  const skipping = await scanSource(pool, new ManualDiskSource(disk, 'qcow2'), false, true)
  const full = await scanSource(pool, new ManualDiskSource(disk, 'qcow2'), true, true)
  const reference = await scanSource(pool, new FileDiskSource(raw), true, false)
  for (const [how, r] of [['a full read of the qcow2', full], ['the raw conversion', reference]] as const) {
    t.ok(Buffer.from(skipping.manifest.hashes).equals(Buffer.from(r.manifest.hashes)), `same hashes as ${how}`)
    t.same(skipping.changed, r.changed, `same changed blocks as ${how}`)
  }
  t.equal(full.bytesRead, size)
  t.ok(skipping.bytesRead <= 5 * MiB, `only the data was read (${skipping.bytesRead} of ${size} bytes)`)
})

t.test('an empty qcow2 disk reads nothing', async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'empty.qcow2')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, String(20 * MiB)])
  const pool = scanPool(t)
  const skipping = await scanSource(pool, new ManualDiskSource(disk, 'qcow2'), false, true)
  const full = await scanSource(pool, new ManualDiskSource(disk, 'qcow2'), true, true)
  t.ok(Buffer.from(skipping.manifest.hashes).equals(Buffer.from(full.manifest.hashes)), 'same hashes as a full read')
  t.equal(skipping.bytesRead, 0)
})

t.test('a raw manual disk passes its file holes through', async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'disk.raw')
  await sparseFile(disk, 30 * MiB + 1)
  await writePatches(disk, [{ offset: 7, length: 3 * BS }, { offset: 30 * MiB, length: 1 }])
  const pool = scanPool(t)
  const skipping = await scanSource(pool, new ManualDiskSource(disk, 'raw'), false, true)
  const full = await scanSource(pool, new ManualDiskSource(disk, 'raw'), true, true)
  t.ok(Buffer.from(skipping.manifest.hashes).equals(Buffer.from(full.manifest.hashes)), 'same hashes as a full read')
  t.ok(skipping.bytesRead < MiB, `only the data was read (${skipping.bytesRead} bytes)`)
})
