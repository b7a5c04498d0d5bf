/**
 * Scanning with change tracking's extents: only the blocks the extents touch
 * are read, the manifest equals a full scan's, and odd extents (unaligned,
 * overlapping, unsorted, past the end) are normalised, hostile ones refused.
 */
import t from 'tap'
import { join } from 'node:path'
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { blockRanges } from '../../core/scan/scanner.ts'
import { scanDisk, type ChangedBlock } from '../../core/scan/index.ts'
import { diskRoot } from '../../core/manifest.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { scanPool } from '../helpers/engine.ts'

const MiB = 2 ** 20
const BS = 65536

t.test('blockRanges aligns, merges, sorts and clips', async t => {
  t.same(blockRanges([], 10 * BS, BS), [])
  t.same(blockRanges([{ offset: 1, length: 1 }], 10 * BS, BS), [{ offset: 0, length: BS }])
  t.same(blockRanges([{ offset: 5 * BS, length: BS }, { offset: BS - 1, length: 2 }], 10 * BS, BS), [{ offset: 0, length: 2 * BS }, { offset: 5 * BS, length: BS }], 'unsorted, across a boundary')
  t.same(blockRanges([{ offset: 0, length: 3 * BS }, { offset: 2 * BS, length: 2 * BS }, { offset: 4 * BS, length: 1 }], 10 * BS, BS), [{ offset: 0, length: 5 * BS }], 'overlapping and adjacent ranges merge')
  t.same(blockRanges([{ offset: 9 * BS + 10, length: 5 * BS }, { offset: 20 * BS, length: BS }], 9 * BS + 100, BS), [{ offset: 9 * BS, length: 100 }], 'clipped to a partial last block; past the end dropped')
  t.same(blockRanges([{ offset: 3 * BS, length: 0 }], 10 * BS, BS), [], 'empty extents ignored')
  t.throws(() => blockRanges([{ offset: -1, length: 5 }], 10 * BS, BS), { code: 'CORE_INVALID_ARGUMENT' })
  t.throws(() => blockRanges([{ offset: 0.5, length: 5 }], 10 * BS, BS), { code: 'CORE_INVALID_ARGUMENT' })
})

t.test('a tracked scan reads only the touched blocks and gives the full scan\'s manifest', async t => {
  const dir = await tempDir(t)
  const path = join(dir, 'vm.img')
  const size = 32 * MiB + 4096
  await sparseFile(path, size)
  await writePatches(path, [{ offset: 0, length: 2 * MiB, fill: 3 }, { offset: 20 * MiB, length: MiB, fill: 4 }])
  const pool = scanPool(t)
  const source = new FileDiskSource(path)
  let view = await source.open()
  const base = (await scanDisk(view, { pool, blockSize: BS })).manifest
  await view.close()

  const patches = [{ offset: 100, length: 10, fill: 9 }, { offset: 20 * MiB + 5000, length: 3 * BS, fill: 8 }, { offset: 32 * MiB + 10, length: 20, fill: 7 }]
  await writePatches(path, patches)
  const extents = patches.map(p => ({ offset: p.offset, length: p.length })).reverse()
  view = await source.open()
  const sent: ChangedBlock[] = []
  const tracked = await scanDisk(view, { pool, blockSize: BS, base, changedExtents: extents, onChanged: b => { sent.push(...b) } })
  await view.close()
  view = await source.open()
  const full = await scanDisk(view, { pool, blockSize: BS, base, readHoles: true })
  await view.close()

  t.equal(diskRoot(tracked.manifest), diskRoot(full.manifest), 'same manifest as a full scan')
  t.same(tracked.changed, full.changed, 'same changed blocks')
  t.same(tracked.changed, [0, 320, 321, 322, 323, 512], 'ascending')
  t.same(sent.map(b => b.index), tracked.changed, 'each changed block delivered once, in order')
  t.equal(tracked.bytesRead, 5 * BS + 4096, 'read only the touched blocks')
  t.equal(full.bytesRead, size)
})

t.test('a tracked scan needs a base of the same size', async t => {
  const dir = await tempDir(t)
  const path = join(dir, 'vm.img')
  await sparseFile(path, 4 * MiB)
  const pool = scanPool(t)
  const view = await new FileDiskSource(path).open()
  t.teardown(async () => { await view.close() })
  await t.rejects(scanDisk(view, { pool, blockSize: BS, changedExtents: [] }), TypeError)
  const other = { size: 8 * MiB, blockSize: BS, hashes: new Uint8Array(128 * 32) }
  await t.rejects(scanDisk(view, { pool, blockSize: BS, base: other, changedExtents: [] }), TypeError)
})
