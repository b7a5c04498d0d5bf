/**
 * The orphan sweep deletes only what a committed, readable index names as
 * pending (staged, never committed) or garbage (retired by pruning); a pack
 * the index does not name is a stray, kept and reported. Issue 11 "What we
 * saw" 1: with index/ gone, the next replicate deleted every pack.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { access, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { RecoveryPointStore } from '../../core/store/index.ts'
import { GARBAGE_PACK_RANGE, PENDING_PACK_RANGE, garbagePackKey } from '../../core/store/keys.ts'
import { createPendingPack } from '../../core/store/sweep.ts'
import { scatteredPatches, sparseFile, tempDir, writePatches, type Teardown } from '../helpers/fixtures.ts'
import { cycle, scanPool } from '../helpers/engine.ts'

const MiB = 2 ** 20
const SIZE = 8 * MiB

async function keys (store: RecoveryPointStore, range: { gt: string, lt: string }): Promise<string[]> {
  const out: string[] = []
  for await (const k of store.db.keys(range)) out.push(k)
  return out
}

async function storeWithPoints (t: Teardown, dir: string): Promise<{ storeDir: string, src: string }> {
  const src = join(dir, 'vm.img')
  const storeDir = join(dir, 'store')
  await sparseFile(src, SIZE)
  const pool = scanPool(t)
  const store = await RecoveryPointStore.open(storeDir, { create: true })
  for (let i = 0; i < 3; i++) {
    await writePatches(src, scatteredPatches(i + 1, SIZE, 10, 100_000))
    await cycle(store, pool, src)
  }
  await store.close()
  return { storeDir, src }
}

t.test('with index/ deleted, opening and replicating never deletes a pack', async t => {
  const dir = await tempDir(t)
  const { storeDir, src } = await storeWithPoints(t, dir)
  const packs = await readdir(join(storeDir, 'packs'))
  t.ok(packs.length >= 3, 'the store has packs')
  const pointFiles = (await readdir(join(storeDir, 'points'))).sort()
  t.equal(pointFiles.length, 3)
  await rm(join(storeDir, 'index'), { recursive: true })
  // Whether open refuses (CORE_STORE_DAMAGED) or goes on is the open path's
  // business; either way no pack may go.
  try {
    const store = await RecoveryPointStore.open(storeDir, { create: true })
    try {
      t.same(store.strays.sort(), [...packs].sort(), 'every old pack is reported as a stray')
      // The fresh index would reuse point id 1: the old point file stops it.
      await t.rejects(cycle(store, scanPool(t), src), { code: 'CORE_STORE_DAMAGED' }, 'a cycle refuses to overwrite a point file of the lost index')
    } finally {
      await store.close()
    }
    const again = await RecoveryPointStore.open(storeDir, { create: true })
    await again.close()
  } catch {}
  for (const p of packs) await t.resolves(access(join(storeDir, 'packs', p)), `pack ${p} is still there`)
  t.same((await readdir(join(storeDir, 'points'))).sort(), pointFiles, 'and every point file')
})

t.test('a stray file in packs/ is kept and reported', async t => {
  const dir = await tempDir(t)
  const { storeDir } = await storeWithPoints(t, dir)
  const strays = ['0123456789abcdef.pack', 'notes.txt']
  for (const s of strays) await writeFile(join(storeDir, 'packs', s), randomBytes(100))
  const store = await RecoveryPointStore.open(storeDir)
  t.teardown(async () => { await store.close() })
  t.same(store.strays.sort(), strays.sort(), 'both are reported')
  for (const s of strays) await t.resolves(access(join(storeDir, 'packs', s)), `${s} is kept`)
})

t.test('a pending pack (never committed) and a garbage pack are deleted by the next open, and their keys cleared', async t => {
  const dir = await tempDir(t)
  const { storeDir } = await storeWithPoints(t, dir)
  let store = await RecoveryPointStore.open(storeDir)
  const writer = await createPendingPack(store)
  await writer.append(randomBytes(32), 0, 10, randomBytes(10))
  await writer.seal()
  const garbageId = 'fedcba9876543210'
  await writeFile(join(storeDir, 'packs', `${garbageId}.pack`), randomBytes(100))
  await store.db.put(garbagePackKey(garbageId), new Uint8Array(0), { sync: true })
  const before = (await readdir(store.packsDir)).length
  await store.close()

  store = await RecoveryPointStore.open(storeDir)
  t.teardown(async () => { await store.close() })
  const after = await readdir(store.packsDir)
  t.equal(after.length, before - 2, 'exactly those two pack files are gone')
  t.notOk(after.includes(`${writer.id}.pack`), 'the pending pack is deleted')
  t.notOk(after.includes(`${garbageId}.pack`), 'the garbage pack is deleted')
  t.same(await keys(store, PENDING_PACK_RANGE), [], 'no pending key remains')
  t.same(await keys(store, GARBAGE_PACK_RANGE), [], 'no garbage key remains')
  t.same(store.strays, [], 'nothing is a stray')
  t.equal((await store.listPoints()).length, 3, 'the points are untouched')
})
