/**
 * The engine end to end on a real 5 GiB sparse image and a real LevelDB:
 * two cycles, only changed blocks stored, every point restores exactly.
 */
import t from 'tap'
import { join } from 'node:path'
import { materializePoint } from '../../core/restore.ts'
import { verifyImage, verifyPoint } from '../../core/verify.ts'
import { scanDisk } from '../../core/scan/index.ts'
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { diskRoot } from '../../core/manifest.ts'
import { fileHash, scatteredPatches, sparseFile, testSeed, tempDir, touchedBlocks, writePatches, type Patch } from '../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'

const GiB = 2 ** 30
const BS = 65536
const SIZE = 5 * GiB + 12345 // the last block is partial

/** Scattered unaligned patches, the partial last block, and data past 4 GiB (offsets beyond 32 bits). */
function scattered (seed: number, count: number): Patch[] {
  return [
    ...scatteredPatches(seed, SIZE, count, 200_000),
    { offset: SIZE - 5000, length: 5000 },
    { offset: 4 * GiB + 100, length: 70_000 }
  ]
}

t.test('5 GiB sparse image: two cycles, deltas only, exact restores', async t => {
  const seed = testSeed(t)
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))

  await sparseFile(src, SIZE)
  const first = scattered(seed, 40)
  await writePatches(src, first)
  const hash1 = await fileHash(src)
  const c1 = await cycle(store, pool, src)
  t.equal(c1.point.id, 1)
  t.equal(c1.disks[0]!.size, SIZE)
  t.equal(c1.disks[0]!.storedBlocks, touchedBlocks(first, BS).size, 'first cycle stores exactly the non-zero blocks')

  const second = scattered(seed + 1, 25)
  await writePatches(src, second)
  const hash2 = await fileHash(src)
  const c2 = await cycle(store, pool, src)
  const changed = touchedBlocks(second, BS)
  t.equal(c2.disks[0]!.changedBlocks, changed.size, 'the scan finds exactly the touched blocks')
  t.equal(c2.disks[0]!.storedBlocks, changed.size, 'the second cycle stores only the changed blocks')
  t.equal(c2.disks[0]!.imageVerified, false, 'the untouched replica image is trusted: not re-hashed')
  t.ok(c2.disks[0]!.imageWrittenBytes <= changed.size * BS, 'and only the changed blocks are written into it')

  const out1 = join(dir, 'p1.img')
  const out2 = join(dir, 'p2.img')
  await materializePoint(store, 1, 'disk0', out1)
  await materializePoint(store, 2, 'disk0', out2)
  t.equal(await fileHash(out1), hash1, 'point 1 restores to the source bytes of cycle 1')
  t.equal(await fileHash(out2), hash2, 'point 2 restores to the source bytes of cycle 2')
  t.equal(await fileHash(store.imagePath('disk0')), hash2, 'the replica image is the latest point')

  const view = await new FileDiskSource(out1).open()
  const rescanned = await scanDisk(view, { pool, blockSize: BS })
  await view.close()
  t.equal(diskRoot(rescanned.manifest), (await store.getPoint(1)).disks[0]!.root, 'hashing a restored image reproduces its root hash')

  t.ok((await verifyPoint(store, 2)).ok, 'the stored point verifies')
  t.ok((await verifyImage(store, 2, 'disk0', store.imagePath('disk0'), pool)).ok, 'the replica image verifies')
  await t.rejects(materializePoint(store, 2, 'disk0', out2), { code: 'CORE_OUTPUT_EXISTS' }, 'restore never overwrites silently')
})
