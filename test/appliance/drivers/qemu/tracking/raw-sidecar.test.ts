/**
 * A raw disk gets a qcow2 metadata sidecar (for its persistent dirty
 * bitmap) with its data unchanged, byte for byte; an existing sidecar is
 * kept; one that belongs to another disk or size is refused, not replaced.
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { readFile, readdir, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ensureRawSidecar } from '../../../../../appliance/drivers/qemu/tracking/raw-sidecar.ts'
import { imageInfo, qemuImg } from '../../../../../appliance/drivers/qemu/tracking/qemu-img.ts'
import { prng, tempDir } from '../../../../helpers/fixtures.ts'
import { requireTools } from '../../../../helpers/tools.ts'

requireTools(t, ['qemu-img'])

const MiB = 2 ** 20
const sha256 = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex')

async function randomDisk (path: string, size: number, seed: number): Promise<void> {
  const rand = prng(seed)
  const data = Buffer.alloc(size)
  for (let i = 0; i < size; i += 4) data.writeUInt32LE(Math.floor(rand() * 2 ** 32), i)
  await writeFile(path, data)
}

t.test('the sidecar points at the raw disk, whose bytes do not change', async t => {
  const dir = await tempDir(t)
  const raw = join(dir, 'disk.raw')
  const sidecar = join(dir, 'disk.meta.qcow2')
  await randomDisk(raw, 8 * MiB, 1)
  const before = await sha256(raw)
  t.same(await ensureRawSidecar(raw, sidecar), { created: true })
  t.equal(await sha256(raw), before, 'raw data unchanged after creating the sidecar')
  const info = await imageInfo(sidecar)
  t.equal(info.format, 'qcow2')
  t.equal(info.virtualSize, 8 * MiB)
  t.equal(info.dataFile, raw)
  t.equal(info.dataFileRaw, true)
  t.same((await readdir(dir)).sort(), ['disk.meta.qcow2', 'disk.raw'], 'no temporary files left')

  // The sidecar reads as the raw disk, and takes a persistent bitmap, still without touching the data.
  await qemuImg(['compare', '-q', '-f', 'qcow2', '-F', 'raw', sidecar, raw])
  await qemuImg(['bitmap', '--add', '-g', '65536', sidecar, 'tandem-1'])
  t.same((await imageInfo(sidecar)).bitmaps.map(b => b.name), ['tandem-1'])
  t.equal(await sha256(raw), before, 'raw data unchanged after adding a bitmap')

  t.same(await ensureRawSidecar(raw, sidecar), { created: false }, 'an existing sidecar is kept')
  t.same((await imageInfo(sidecar)).bitmaps.map(b => b.name), ['tandem-1'], 'with its bitmaps')
})

t.test('a sidecar of another disk or another size is refused', async t => {
  const dir = await tempDir(t)
  const a = join(dir, 'a.raw')
  const b = join(dir, 'b.raw')
  await randomDisk(a, 2 * MiB, 2)
  await randomDisk(b, 2 * MiB, 3)
  const sidecar = join(dir, 'a.meta.qcow2')
  await ensureRawSidecar(a, sidecar)
  await t.rejects(ensureRawSidecar(b, sidecar), { code: 'APP_SIDECAR_MISMATCH' }, 'another disk')
  await truncate(a, 4 * MiB)
  await t.rejects(ensureRawSidecar(a, sidecar), { code: 'APP_SIDECAR_MISMATCH' }, 'the disk was resized')
  await t.rejects(ensureRawSidecar(join(dir, 'missing.raw'), join(dir, 'm.qcow2')), { code: 'ENOENT' }, 'no disk')
})

t.test('qemu-img failures carry APP_QEMU_IMG_FAILED', async t => {
  const dir = await tempDir(t)
  await t.rejects(imageInfo(join(dir, 'nothing.qcow2')), { code: 'APP_QEMU_IMG_FAILED' })
})
