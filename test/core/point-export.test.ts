/**
 * One disk of a recovery point as an NBD export (core/point-export.ts):
 * reads equal the materialized disk at any range; zero blocks cost no
 * store read; duplicate blocks and reads that come back to a block are
 * served from the bounded cache; a corrupt block fails the reads touching
 * it and no other; extents are the runs of zero and stored blocks.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { hashAt, isZeroBlock } from '../../core/manifest.ts'
import { openPointExport, type PointExportStore } from '../../core/point-export.ts'
import { materializePoint } from '../../core/restore.ts'
import type { BlockHash } from '../../core/types.ts'
import { toHex } from '../../core/hash.ts'
import { sparseFile, tempDir, writePatches, type Teardown } from '../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'
import { damageStoredBlock } from '../helpers/store-facts.ts'
import type { RecoveryPointStore } from '../../core/store/index.ts'

const BS = 64 * 1024
const BLOCKS = 20
const SIZE = BLOCKS * BS + 1000 // a partial last block

/**
 * A store with one point of a disk with zero blocks (0, 2, 4, 6, 8, 10, 12+),
 * random blocks (1, 5), two identical blocks (3 and 7), a partly written
 * block (9) and a partial last block; and the materialized disk.
 */
async function pointFixture (t: Teardown): Promise<{ store: RecoveryPointStore, disk: Buffer, dir: string }> {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  await sparseFile(src, SIZE)
  await writePatches(src, [
    { offset: BS, length: BS },
    { offset: 3 * BS, length: BS, fill: 0x42 },
    { offset: 5 * BS, length: BS },
    { offset: 7 * BS, length: BS, fill: 0x42 },
    { offset: 9 * BS + 100, length: 1000 },
    { offset: BLOCKS * BS + 10, length: 900 }
  ])
  const store = await openStore(t, join(dir, 'store'))
  await cycle(store, scanPool(t), src)
  await materializePoint(store, 1, 'disk0', join(dir, 'ref.img'))
  return { store, disk: await readFile(join(dir, 'ref.img')), dir }
}

/** The store, counting block reads by hash (a wrapper: the store itself is untouched). */
function counting (store: RecoveryPointStore): { store: PointExportStore, reads: Map<string, number>, total: () => number } {
  const reads = new Map<string, number>()
  return {
    store: {
      manifest: async (p, d) => await store.manifest(p, d),
      readBlock: async (hash: BlockHash) => {
        reads.set(toHex(hash), (reads.get(toHex(hash)) ?? 0) + 1)
        return await store.readBlock(hash)
      }
    },
    reads,
    total: () => [...reads.values()].reduce((a, b) => a + b, 0)
  }
}

const signal = new AbortController().signal

t.test('reads equal the materialized disk, whatever the range', async t => {
  const { store, disk } = await pointFixture(t)
  const e = await openPointExport(store, 1, 'disk0')
  t.equal(e.name, 'disk0')
  t.equal(e.size, SIZE)
  t.equal(e.blockSize, BS)
  t.ok(Buffer.from(await e.read(0, SIZE, signal)).equals(disk), 'the whole disk')
  const ranges = [
    [0, 1], [BS - 1, 2], [BS + 100, 200], [2 * BS - 10, 3 * BS], [9 * BS, BS], [9 * BS + 50, 2000],
    [BLOCKS * BS - 5, 1005], [SIZE - 1, 1], [BS * 3, BS * 5]
  ]
  for (const [offset, length] of ranges) {
    t.ok(Buffer.from(await e.read(offset!, length!, signal)).equals(disk.subarray(offset!, offset! + length!)), `[${offset}, +${length})`)
  }
  await t.rejects(e.read(SIZE - 1, 2, signal), TypeError, 'past the end is a caller mistake')
  await t.rejects(e.read(0, 0, signal), TypeError)
})

t.test('zero blocks cost no store read; duplicate and revisited blocks come from the cache', async t => {
  const { store } = await pointFixture(t)
  const m = await store.manifest(1, 'disk0')
  const c = counting(store)
  const e = await openPointExport(c.store, 1, 'disk0')
  await e.read(10 * BS, 2 * BS, signal)
  t.equal(c.total(), 0, 'blocks 10 and 11 are zero: no read')
  await e.read(3 * BS, 5 * BS, signal)
  t.equal(c.reads.get(toHex(hashAt(m, 3))), 1, 'blocks 3 and 7 are the same block: read once')
  for (let at = 5 * BS; at < 6 * BS; at += 4096) await e.read(at, 4096, signal)
  t.equal(c.reads.get(toHex(hashAt(m, 5))), 1, '16 small reads inside block 5: one store read')
})

t.test('the cache is bounded: blocks pushed out are read again', async t => {
  const { store } = await pointFixture(t)
  const m = await store.manifest(1, 'disk0')
  const c = counting(store)
  const e = await openPointExport(c.store, 1, 'disk0', { cacheBytes: 2 * BS })
  await e.read(BS, 1, signal) // block 1
  await e.read(BS, 1, signal)
  t.equal(c.reads.get(toHex(hashAt(m, 1))), 1, 'kept')
  await e.read(3 * BS, 1, signal) // block 3
  await e.read(5 * BS, 1, signal) // block 5: over two blocks, block 1 goes
  await e.read(BS, 1, signal)
  t.equal(c.reads.get(toHex(hashAt(m, 1))), 2, 'read again after it was pushed out')
})

t.test('a corrupt block fails the reads that touch it, and no other; it is not cached as good', async t => {
  const { store, disk } = await pointFixture(t)
  await damageStoredBlock(store, 1, 5)
  const c = counting(store)
  const e = await openPointExport(c.store, 1, 'disk0')
  await t.rejects(e.read(5 * BS + 10, 10, signal), { code: 'CORE_BLOCK_CORRUPT' })
  await t.rejects(e.read(4 * BS, 3 * BS, signal), { code: 'CORE_BLOCK_CORRUPT' }, 'a range across it')
  t.ok(Buffer.from(await e.read(0, 5 * BS, signal)).equals(disk.subarray(0, 5 * BS)), 'before it')
  t.ok(Buffer.from(await e.read(6 * BS, SIZE - 6 * BS, signal)).equals(disk.subarray(6 * BS)), 'after it')
  const m = await store.manifest(1, 'disk0')
  t.equal(c.reads.get(toHex(hashAt(m, 5))), 2, 'each attempt reads it again (a failure is not cached)')
})

t.test('extents: runs of zero and stored blocks, clipped to the range', async t => {
  const { store } = await pointFixture(t)
  const m = await store.manifest(1, 'disk0')
  const e = await openPointExport(store, 1, 'disk0')
  const zero = Array.from({ length: BLOCKS + 1 }, (_, i) => isZeroBlock(m, i))
  t.same(zero.slice(0, 11), [true, false, true, false, true, false, true, false, true, false, true], 'the fixture')
  t.same(await e.extents!(0, SIZE, signal), [
    { length: BS, zero: true }, { length: BS, zero: false }, { length: BS, zero: true }, { length: BS, zero: false },
    { length: BS, zero: true }, { length: BS, zero: false }, { length: BS, zero: true }, { length: BS, zero: false },
    { length: BS, zero: true }, { length: BS, zero: false }, { length: 10 * BS, zero: true }, { length: 1000, zero: false }
  ])
  t.same(await e.extents!(BS + 10, BS, signal), [{ length: BS - 10, zero: false }, { length: 10, zero: true }], 'clipped at both ends')
  t.same(await e.extents!(11 * BS, 100, signal), [{ length: 100, zero: true }])
})

t.test('an aborted read stops with CORE_ABORTED; unknown points and disks are named', async t => {
  const { store } = await pointFixture(t)
  const e = await openPointExport(store, 1, 'disk0')
  const ac = new AbortController()
  ac.abort()
  await t.rejects(e.read(0, SIZE, ac.signal), { code: 'CORE_ABORTED' })
  await t.rejects(openPointExport(store, 2, 'disk0'), { code: 'CORE_POINT_NOT_FOUND' })
  await t.rejects(openPointExport(store, 1, 'disk9'), { code: 'CORE_DISK_NOT_FOUND' })
})
