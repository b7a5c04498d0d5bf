/**
 * prune keeps the points it is given as pinned, whatever the policy, and
 * they still restore exactly; pruneExcept keeps exactly the points named
 * (the latest dropped too) and the pinned ones; so does a local cycle's
 * retention (replicateOnce's `pinned`).
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { prune, pruneExcept, type RecoveryPointStore } from '../../core/store/index.ts'
import { verifyPoint } from '../../core/verify.ts'
import { materializePoint } from '../../core/restore.ts'
import { replicateOnce } from '../../core/replicate.ts'
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { fileHash, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'

/** A store of four points (ids 1 to 4), each a different MiB written; the disk's hash at each. */
async function fourPoints (t: Test): Promise<{ dir: string, store: RecoveryPointStore, hashes: string[] }> {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 4 * 2 ** 20)
  const hashes: string[] = []
  for (let i = 0; i < 4; i++) {
    await writePatches(src, [{ offset: i * 2 ** 20, length: 2 ** 20 }])
    hashes.push(await fileHash(src))
    await cycle(store, pool, src)
  }
  return { dir, store, hashes }
}

t.test('pinned points survive a prune that keeps only the latest', async t => {
  const { dir, store, hashes } = await fourPoints(t)
  const report = await prune(store, { additional: 0, intervalMs: 0 }, { pinned: [2] })
  t.same(report.removedPoints, [1, 3])
  t.same((await store.listPoints()).map(p => p.id), [2, 4])
  await materializePoint(store, 2, 'disk0', join(dir, 'p2.img'))
  t.equal(await fileHash(join(dir, 'p2.img')), hashes[1], 'the pinned point restores exactly')
  t.same((await prune(store, { additional: 0, intervalMs: 0 })).removedPoints, [2], 'unpinned, it goes')
})

t.test('pruneExcept keeps exactly the points named, the latest dropped too', async t => {
  const { dir, store, hashes } = await fourPoints(t)
  const report = await pruneExcept(store, [2, 99], { pinned: [3] })
  t.same(report.removedPoints, [1, 4], 'an id the store lacks is ignored; the pinned one stays')
  t.same((await store.listPoints()).map(p => p.id), [2, 3])
  t.ok((await verifyPoint(store, 2)).ok, 'the point kept verifies')
  await materializePoint(store, 2, 'disk0', join(dir, 'p2.img'))
  t.equal(await fileHash(join(dir, 'p2.img')), hashes[1], 'and restores exactly')
  t.same((await pruneExcept(store, [2])).removedPoints, [3])
  t.same((await store.listPoints()).map(p => p.id), [2])
})

t.test('a local cycle\'s retention keeps the points it is given as pinned', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 2 ** 20)
  await writePatches(src, [{ offset: 0, length: 65536 }])
  const hash = await fileHash(src)
  await replicateOnce(store, { pool, disks: [{ name: 'disk0', source: new FileDiskSource(src) }], retention: { additional: 0, intervalMs: 0 } })
  await writePatches(src, [{ offset: 65536, length: 65536 }])
  const second = await replicateOnce(store, { pool, disks: [{ name: 'disk0', source: new FileDiskSource(src) }], retention: { additional: 0, intervalMs: 0 }, pinned: [1] })
  t.same(second.pruned.removedPoints, [], 'the pinned first point stays')
  t.same((await store.listPoints()).map(p => p.id), [1, 2])
  await materializePoint(store, 1, 'disk0', join(dir, 'p1.img'))
  t.equal(await fileHash(join(dir, 'p1.img')), hash, 'and restores exactly')
})
