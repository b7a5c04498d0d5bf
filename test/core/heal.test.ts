/**
 * Healing (docs/store-format.md, "Healing"): verify records the blocks it
 * finds bad; the next cycle whose source still holds that content stores
 * them again, and every point that shares them verifies and restores good.
 */
import t, { type Test } from 'tap'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Codec } from '../../core/compress.ts'
import { FileDiskSource, type DiskSource } from '../../core/disk-view/index.ts'
import { hashAt } from '../../core/manifest.ts'
import { materializePoint } from '../../core/restore.ts'
import { listBadBlocks } from '../../core/store/bad-blocks.ts'
import { prune, StagedCycle, type RecoveryPointStore } from '../../core/store/index.ts'
import { packPath } from '../../core/store/pack.ts'
import { verifyPoint } from '../../core/verify.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'
import { fileHash, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { damageStoredBlock } from '../helpers/store-facts.ts'

const MiB = 2 ** 20
const BS = 65536

async function restoresExactly (t: Test, store: RecoveryPointStore, pointId: number, expected: string, dir: string): Promise<void> {
  const out = join(dir, `restore-${pointId}-${Math.random().toString(16).slice(2)}.img`)
  await materializePoint(store, pointId, 'disk0', out)
  t.equal(await fileHash(out), expected, `point ${pointId} restores byte for byte`)
}

/** Point 1 of a 4 MiB source with blocks 1..6 written; returns the file's hash. */
async function onePoint (store: RecoveryPointStore, src: string, pool: ReturnType<typeof scanPool>): Promise<string> {
  await sparseFile(src, 4 * MiB)
  await writePatches(src, [{ offset: BS, length: 6 * BS }])
  await cycle(store, pool, src)
  return await fileHash(src)
}

t.test('a damaged block is recorded by verify and healed by the next cycle: both points verify and restore', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  const image = await onePoint(store, src, pool)
  const hex = await damageStoredBlock(store, 1, 3)
  const damagedPack = (await store.locate(Buffer.from(hex, 'hex')))!.pack
  const liveBefore = (await store.packs()).get(damagedPack)!.liveBlocks

  const report = await verifyPoint(store, 1)
  t.same(report.problems.map(p => [p.block, p.code]), [[3, 'CORE_BLOCK_CORRUPT']])
  t.same((await listBadBlocks(store)).map(b => [b.hash, b.code]), [[hex, 'CORE_BLOCK_CORRUPT']], 'verify recorded it')

  const c2 = await cycle(store, pool, src)
  t.equal(c2.disks[0]!.healedBlocks, 1)
  t.equal(c2.disks[0]!.changedBlocks, 0, 'a healed block is not a change')
  t.same(await listBadBlocks(store), [], 'the record is gone')
  t.same(await listBadBlocks(store), [])
  t.ok((await verifyPoint(store, 2)).ok, 'the new point verifies')
  t.ok((await verifyPoint(store, 1)).ok, 'the old point verifies: it shares the healed block')
  await restoresExactly(t, store, 1, image, dir)
  await restoresExactly(t, store, 2, image, dir)
  t.not((await store.locate(Buffer.from(hex, 'hex')))!.pack, damagedPack, 'the block lives in the new pack')
  t.equal((await store.packs()).get(damagedPack)!.liveBlocks, liveBefore - 1, 'the damaged copy is dead space')

  const c3 = await cycle(store, pool, src)
  t.equal(c3.disks[0]!.healedBlocks, 0, 'nothing left to heal')
  t.equal(c3.disks[0]!.storedBlocks, 0)
})

t.test('heals a block that change tracking says is unchanged', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  const image = await onePoint(store, src, pool)
  await damageStoredBlock(store, 1, 5)
  await verifyPoint(store, 1)
  // A source whose tracking vouches that nothing changed since the base.
  const file = new FileDiskSource(src)
  const tracked: DiskSource = {
    description: 'a file with change tracking that says nothing changed',
    open: async signal => {
      const view = await file.open(signal)
      return Object.assign(view, { changedSince: async () => [] })
    }
  }
  const c2 = await cycle(store, pool, src, { disks: [{ name: 'disk0', source: tracked }] })
  t.ok(c2.disks[0]!.tracked)
  t.equal(c2.disks[0]!.healedBlocks, 1)
  t.equal(c2.disks[0]!.bytesRead, BS, 'only the damaged block was read')
  t.ok((await verifyPoint(store, 1)).ok)
  await restoresExactly(t, store, 1, image, dir)
})

t.test('the source no longer holds the content: nothing healed, still reported bad', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await onePoint(store, src, pool)
  const hex = await damageStoredBlock(store, 1, 3)
  await verifyPoint(store, 1)
  await writePatches(src, [{ offset: 3 * BS, length: BS }]) // block 3 now holds other data
  const c2 = await cycle(store, pool, src)
  t.equal(c2.disks[0]!.healedBlocks, 0)
  t.equal(c2.disks[0]!.changedBlocks, 1)
  t.ok((await verifyPoint(store, 2)).ok, 'the new point does not need the damaged block')
  t.same((await verifyPoint(store, 1)).problems.map(p => [p.block, p.code]), [[3, 'CORE_BLOCK_CORRUPT']], 'the old point is still bad')
  t.same((await listBadBlocks(store)).map(b => b.hash), [hex], 'still recorded')

  // prune: once no point references the damaged block, its record goes too.
  const pruned = await prune(store, { additional: 0, intervalMs: 0 })
  t.same(pruned.removedPoints, [1])
  t.same(await listBadBlocks(store), [], 'prune dropped the record of a block no point needs')
})

t.test('a resumed (staged) cycle heals', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  const image = await onePoint(store, src, pool)
  await damageStoredBlock(store, 1, 2)
  await verifyPoint(store, 1)
  const manifest = await store.manifest(1, 'disk0')
  const good = (await readFile(src)).subarray(2 * BS, 3 * BS)

  const id = 'ab'.repeat(16)
  const first = new StagedCycle(store, id)
  t.equal(await first.putBlocks([{ hash: hashAt(manifest, 2), codec: Codec.RAW, rawLength: BS, data: good }]), 1, 'a stored but damaged block is staged')
  await first.checkpoint(1)
  await first.release()

  const resumed = (await StagedCycle.resume(store, id))!
  resumed.cycle.setDisk('disk0', manifest, { point: 1, manifest })
  await resumed.cycle.commit({ time: Date.now(), consistency: 'crash' })
  t.same(await listBadBlocks(store), [])
  t.ok((await verifyPoint(store, 1)).ok)
  await restoresExactly(t, store, 1, image, dir)
})

t.test('data that does not hash right heals nothing: a block is staged only under its own hash', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await onePoint(store, src, pool)
  const hex = await damageStoredBlock(store, 1, 4)
  await verifyPoint(store, 1)
  // Another block's data (under its own hash) arrives: the damaged one stays recorded.
  const other = (await readFile(src)).subarray(1 * BS, 2 * BS)
  const c = new StagedCycle(store)
  const manifest = await store.manifest(1, 'disk0')
  await c.putBlocks([{ hash: hashAt(manifest, 1), codec: Codec.RAW, rawLength: BS, data: other }])
  c.setDisk('disk0', manifest, { point: 1, manifest })
  await c.commit({ time: Date.now(), consistency: 'crash' })
  t.same((await listBadBlocks(store)).map(b => b.hash), [hex])
  t.notOk((await verifyPoint(store, 1)).ok)
})

t.test('a pack whose only block was healed is deleted by the next prune', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 4 * MiB)
  await writePatches(src, [{ offset: 3 * BS, length: BS }]) // one stored block: one pack
  await cycle(store, pool, src)
  const [damagedPack] = [...(await store.packs()).keys()]
  await damageStoredBlock(store, 1, 3)
  await verifyPoint(store, 1)
  t.equal((await listBadBlocks(store)).length > 0, true)
  t.equal((await cycle(store, pool, src)).disks[0]!.healedBlocks, 1)
  t.equal((await store.packs()).get(damagedPack!)!.liveBlocks, 0, 'nothing live is left in the damaged pack')
  await writePatches(src, [{ offset: 5 * BS, length: BS }])
  const c3 = await cycle(store, pool, src, { retention: { additional: 0, intervalMs: 0 } })
  t.same(c3.pruned.removedPoints, [1, 2])
  t.notOk((await store.packs()).has(damagedPack!), 'the damaged pack is gone')
  await t.rejects(stat(packPath(store.packsDir, damagedPack!)), { code: 'ENOENT' })
  t.ok((await verifyPoint(store, 3)).ok)
})

t.test('verify with record: false reports without recording', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await onePoint(store, src, pool)
  await damageStoredBlock(store, 1, 2)
  t.notOk((await verifyPoint(store, 1, { record: false })).ok)
  t.same(await listBadBlocks(store), [])
})
