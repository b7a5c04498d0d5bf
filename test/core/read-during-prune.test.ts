/**
 * A block read racing a writer of the same open store (the Replica serves a
 * pinned point while cycles commit and prune): when a prune repacks the
 * block's pack and deletes the old one between readBlock's lookup and its
 * read, the read follows the block to its new pack and returns the right
 * bytes; a block damaged in place still fails CORE_BLOCK_CORRUPT.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { hashAt } from '../../core/manifest.ts'
import { prune, type RecoveryPointStore } from '../../core/store/index.ts'
import type { BlockLocation } from '../../core/store/location.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'
import { damageStoredBlock } from '../helpers/store-facts.ts'

const BS = 65536
const BLOCKS = 16

/** Point 1: 16 random blocks (one pack); point 2: blocks 0-11 rewritten, so pruning point 1 leaves its pack a quarter live. */
async function twoPoints (t: Parameters<typeof tempDir>[0]): Promise<{ store: RecoveryPointStore, src: Buffer }> {
  const dir = await tempDir(t)
  const path = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'), BS)
  await sparseFile(path, BLOCKS * BS)
  await writePatches(path, [{ offset: 0, length: BLOCKS * BS }])
  await cycle(store, pool, path)
  await writePatches(path, [{ offset: 0, length: 12 * BS }])
  await cycle(store, pool, path)
  return { store, src: await readFile(path) }
}

t.test('a read whose pack a prune repacks and deletes between lookup and read gets the block from its new pack', async t => {
  const { store, src } = await twoPoints(t)
  const hash = hashAt(await store.manifest(2, 'disk0'), 14) // unchanged since point 1: in point 1's pack
  const before = (await store.locate(hash))!
  const readStored = store.readStored.bind(store)
  let raced = false
  // The fault, by wrapper: the first read of the block's bytes lets a whole prune run first.
  store.readStored = async (loc: BlockLocation, h?: Uint8Array) => {
    if (!raced) {
      raced = true
      const report = await prune(store, { additional: 0, intervalMs: 0 })
      t.same(report.removedPoints, [1])
      t.equal(report.repackedPacks, 1, 'the pack was rewritten and the old one deleted')
      t.not((await store.locate(hash))!.pack, loc.pack, 'the block moved')
    }
    return await readStored(loc, h)
  }
  const got = await store.readBlock(hash)
  t.ok(raced)
  t.ok(Buffer.from(got).equals(src.subarray(14 * BS, 15 * BS)), 'the right bytes')
  t.not((await store.locate(hash))!.pack, before.pack)
})

t.test('a block damaged where it lies (the index names the same place again) still fails CORE_BLOCK_CORRUPT', async t => {
  const { store } = await twoPoints(t)
  await damageStoredBlock(store, 2, 14)
  await t.rejects(store.readBlock(hashAt(await store.manifest(2, 'disk0'), 14)), { code: 'CORE_BLOCK_CORRUPT' })
})
