/**
 * Change tracking carried across a shared point (core/shared-tracking.ts):
 * the blocks to read are the view's tracked ones plus those where the base
 * and the shared point differ; a scan of only those gives the full scan's
 * manifest; any doubt is a reason, never a guess.
 */
import t from 'tap'
import { copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FileDiskSource, type DiskView } from '../../core/disk-view/index.ts'
import { diskRoot } from '../../core/manifest.ts'
import { scanDisk } from '../../core/scan/index.ts'
import { differingExtents, trackedViaShared } from '../../core/shared-tracking.ts'
import type { Extent, Manifest } from '../../core/types.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { scanPool } from '../helpers/engine.ts'

const MiB = 2 ** 20
const BS = 65536

/** A manifest whose block i hashes to 32 bytes of letters[i]. */
function m (size: number, letters: string, blockSize = BS): Manifest {
  const hashes = new Uint8Array(letters.length * 32)
  for (let i = 0; i < letters.length; i++) hashes.fill(letters.charCodeAt(i), i * 32, (i + 1) * 32)
  return { size, blockSize, hashes }
}

t.test('differingExtents: the blocks that differ, adjacent ones merged, the partial last block clipped', async t => {
  t.same(differingExtents(m(4 * BS, 'abcd'), m(4 * BS, 'abcd')), [])
  t.same(differingExtents(m(4 * BS, 'abcd'), m(4 * BS, 'xycz')), [{ offset: 0, length: 2 * BS }, { offset: 3 * BS, length: BS }])
  t.same(differingExtents(m(2 * BS + 10, 'abc'), m(2 * BS + 10, 'abx')), [{ offset: 2 * BS, length: 10 }])
  t.throws(() => differingExtents(m(2 * BS, 'ab'), m(3 * BS, 'abc')), TypeError)
})

/** A view whose tracking vouches for `extents` since the disk of root `since`, reads counted. */
function trackedView (view: DiskView, since: string, extents: Extent[]): DiskView {
  return {
    ...view,
    changedSince: async root => root === since ? extents : { untracked: 'another base' }
  }
}

t.test('a scan against the other side reads only the tracked blocks and the base\'s divergent ones, and equals a full scan', async t => {
  const dir = await tempDir(t)
  const shared = join(dir, 'shared.img')
  const size = 16 * MiB
  await sparseFile(shared, size)
  await writePatches(shared, [{ offset: 0, length: 4 * MiB, fill: 1 }, { offset: 8 * MiB, length: 2 * MiB, fill: 2 }])
  const mine = join(dir, 'mine.img')
  const theirs = join(dir, 'theirs.img')
  await copyFile(shared, mine)
  await copyFile(shared, theirs)
  const pool = scanPool(t)
  const scan = async (path: string, base?: Manifest, changedExtents?: Extent[]): Promise<Awaited<ReturnType<typeof scanDisk>>> => {
    const view = await new FileDiskSource(path).open()
    try {
      return await scanDisk(view, { pool, blockSize: BS, ...(base === undefined ? {} : { base }), ...(changedExtents === undefined ? {} : { changedExtents }) })
    } finally {
      await view.close()
    }
  }
  const sharedManifest = (await scan(shared)).manifest
  // this side wrote blocks 3 and 100..101; the other side wrote blocks 3 (other data), 50 and 200
  const mineWrites = [{ offset: 3 * BS, length: BS, fill: 7 }, { offset: 100 * BS + 5, length: BS, fill: 8 }]
  await writePatches(mine, mineWrites)
  await writePatches(theirs, [{ offset: 3 * BS, length: 10, fill: 9 }, { offset: 50 * BS, length: BS, fill: 9 }, { offset: 200 * BS, length: 1, fill: 9 }])
  const base = (await scan(theirs)).manifest

  const view = await new FileDiskSource(mine).open()
  const tracked = trackedView(view, diskRoot(sharedManifest), mineWrites.map(w => ({ offset: w.offset, length: w.length })))
  const extents = await trackedViaShared(tracked, base, sharedManifest)
  t.ok(Array.isArray(extents))
  const result = await scanDisk(tracked, { pool, blockSize: BS, base, changedExtents: extents as Extent[] })
  await view.close()
  const full = await scan(mine, base)
  t.equal(diskRoot(result.manifest), diskRoot(full.manifest), 'the manifest of a full scan')
  t.same(result.changed, full.changed, 'the same blocks differ')
  t.same(result.changed, [3, 50, 100, 101, 200])
  t.equal(result.bytesRead, 5 * BS, 'read the tracked blocks (3, 100, 101) and the base\'s divergent ones (3, 50, 200) only')
})

t.test('any doubt is a reason', async t => {
  const view: DiskView = { size: 4 * BS, read: async () => {}, close: async () => {} }
  const shared = m(4 * BS, 'abcd')
  t.match(await trackedViaShared(view, m(4 * BS, 'abcx'), shared), /no change tracking/)
  const root = diskRoot(shared)
  const tracked = { ...view, changedSince: async (r: string) => r === root ? [] : { untracked: 'relative to another point' } }
  t.same(await trackedViaShared(tracked, m(4 * BS, 'abcx'), shared), [{ offset: 3 * BS, length: BS }], 'nothing tracked: the base\'s divergent block')
  t.match(await trackedViaShared(tracked, m(4 * BS, 'abcx'), m(4 * BS, 'zbcd')), /relative to another point/, 'tracking relative to another point')
  t.match(await trackedViaShared(tracked, m(5 * BS, 'abcxe'), shared), /size/, 'a base of another size')
  t.match(await trackedViaShared(tracked, m(4 * BS, 'abcx'), m(4 * BS, 'ab', 2 * BS)), /size|block/, 'another block size')
})
