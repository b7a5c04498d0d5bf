/**
 * Damage is found and named: a flipped byte in stored data, a missing pack,
 * a changed replica image; and a source that changes size between or during
 * cycles behaves as documented (docs/store-format.md, "Disk size changes").
 */
import t from 'tap'
import { readdir, unlink, appendFile } from 'node:fs/promises'
import { join } from 'node:path'
import { materializePoint } from '../../core/restore.ts'
import { verifyImage, verifyPoint } from '../../core/verify.ts'
import { RecoveryPointStore } from '../../core/store/index.ts'
import { PACK_HEADER_BYTES, RECORD_HEADER_BYTES } from '../../core/store/pack.ts'
import { FileDiskSource, type DiskSource } from '../../core/disk-view/index.ts'
import { replicateOnce } from '../../core/replicate.ts'
import { fileHash, flipByte, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'

const MiB = 2 ** 20
const BS = 65536

t.test('a flipped byte in a pack is found by verify, and restore refuses it', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 8 * MiB)
  await writePatches(src, [{ offset: 3 * BS, length: BS }]) // exactly one stored block: block 3
  await cycle(store, pool, src)
  const packs = await readdir(store.packsDir)
  t.equal(packs.length, 1)
  await flipByte(join(store.packsDir, packs[0]!), PACK_HEADER_BYTES + RECORD_HEADER_BYTES + 100) // inside the first block's data
  const report = await verifyPoint(store, 1)
  t.notOk(report.ok)
  t.same(report.problems, [{ disk: 'disk0', block: 3, offset: 3 * BS, code: 'CORE_BLOCK_CORRUPT' }])
  await t.rejects(materializePoint(store, 1, 'disk0', join(dir, 'out.img')), { code: 'CORE_BLOCK_CORRUPT' })
})

t.test('a missing pack is reported as CORE_BLOCK_MISSING', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const first = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 4 * MiB)
  await writePatches(src, [{ offset: BS, length: 2 * BS }])
  await cycle(first, pool, src)
  await first.close()
  for (const f of await readdir(join(dir, 'store', 'packs'))) await unlink(join(dir, 'store', 'packs', f))
  const store = await openStore(t, join(dir, 'store'))
  const report = await verifyPoint(store, 1)
  t.same(report.problems.map(p => [p.block, p.code]), [[1, 'CORE_BLOCK_MISSING'], [2, 'CORE_BLOCK_MISSING']])
})

t.test('a changed replica image is found by verifyImage', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 4 * MiB)
  await writePatches(src, [{ offset: 0, length: 4 * MiB }])
  await cycle(store, pool, src)
  await flipByte(store.imagePath('disk0'), 10 * BS + 5)
  const report = await verifyImage(store, 1, 'disk0', store.imagePath('disk0'), pool)
  t.same(report.problems, [{ disk: 'disk0', block: 10, offset: 10 * BS, code: 'CORE_IMAGE_MISMATCH' }])
})

t.test('a source that grows and shrinks between cycles: each point keeps its size and restores exactly', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 16 * MiB)
  await writePatches(src, [{ offset: 16 * MiB - 1000, length: 1000 }])
  const sizes = [16 * MiB]
  const hashes = [await fileHash(src)]
  await cycle(store, pool, src)

  await sparseFile(src, 20 * MiB + 100) // grows into a partial block
  await writePatches(src, [{ offset: 20 * MiB, length: 100 }])
  sizes.push(20 * MiB + 100)
  hashes.push(await fileHash(src))
  const grown = await cycle(store, pool, src)
  t.equal(grown.disks[0]!.previousSize, 16 * MiB, 'the report says the disk grew')

  await sparseFile(src, 10 * MiB + 7) // shrinks
  sizes.push(10 * MiB + 7)
  hashes.push(await fileHash(src))
  await cycle(store, pool, src)

  for (const id of [1, 2, 3]) {
    t.equal((await store.getPoint(id)).disks[0]!.size, sizes[id - 1])
    const out = join(dir, `p${id}.img`)
    await materializePoint(store, id, 'disk0', out)
    t.equal(await fileHash(out), hashes[id - 1], `point ${id} restores exactly`)
  }
  t.equal(await fileHash(store.imagePath('disk0')), hashes[2], 'the image was resized')
})

t.test('a source that changes during the scan: CORE_SOURCE_CHANGED, nothing committed', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  let store = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 64 * MiB)
  await writePatches(src, [{ offset: 0, length: MiB }])
  await cycle(store, pool, src)
  // Someone writes to the disk after its view was opened, while it is read.
  const changing: DiskSource = {
    description: 'a file written while it is read',
    open: async signal => {
      const view = await new FileDiskSource(src).open(signal)
      await appendFile(src, 'x')
      return view
    }
  }
  await t.rejects(replicateOnce(store, { pool, disks: [{ name: 'disk0', source: changing }] }), { code: 'CORE_SOURCE_CHANGED' })
  t.same((await store.listPoints()).map(p => p.id), [1], 'no point was committed')
  await store.close()
  store = await RecoveryPointStore.open(join(dir, 'store'))
  t.teardown(async () => { await store.close() })
  t.equal((await readdir(store.packsDir)).length, (await store.packs()).size, 'the aborted cycle left no pack behind')
})

t.test('opening a directory that is not a store is refused', async t => {
  const dir = await tempDir(t)
  await t.rejects(RecoveryPointStore.open(dir), { code: 'CORE_STORE_INCOMPATIBLE' })
  const store = await RecoveryPointStore.open(join(dir, 's'), { create: true })
  await t.rejects(RecoveryPointStore.open(join(dir, 's')), { code: 'CORE_STORE_UNAVAILABLE' }, 'a second opener is locked out')
  await store.close()
  await store.close() // closing twice is harmless
  await t.rejects(RecoveryPointStore.open(join(dir, 's'), { create: true, blockSize: 4096 }), { code: 'CORE_INVALID_ARGUMENT' }, 'block size cannot change')
  await t.rejects(RecoveryPointStore.open(join(dir, 't'), { create: true, blockSize: 5000 }), { code: 'CORE_INVALID_ARGUMENT' })
})

t.test('a replica image written to behind the store\'s back is repaired by the next cycle', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 8 * MiB)
  await writePatches(src, [{ offset: 0, length: 2 * MiB }])
  await cycle(store, pool, src)
  // Someone boots a VM straight on the image: it writes where the source did not change.
  await writePatches(store.imagePath('disk0'), [{ offset: 5 * MiB, length: 4096 }])
  await writePatches(src, [{ offset: 7 * MiB, length: 1000 }])
  const result = await cycle(store, pool, src)
  t.equal(result.disks[0]!.changedBlocks, 1)
  t.equal(result.disks[0]!.imageVerified, true, 'the touched image is not trusted')
  t.equal(await fileHash(store.imagePath('disk0')), await fileHash(src), 'the stray write is gone: the image equals the latest point')
})

/**
 * Found again by the torture test (header flips), as issue 11 item 2 says:
 * a flipped byte in a record header (type, codec, lengths, hash, its CRC)
 * must be reported like a flipped data byte (docs/store-format.md, schema 2).
 */
t.test('a flipped byte in a record header is found by verify', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 8 * MiB)
  await writePatches(src, [{ offset: 3 * BS, length: BS }]) // exactly one stored block: block 3
  await cycle(store, pool, src)
  const packs = await readdir(store.packsDir)
  for (const [field, at] of [['type', 0], ['codec', 1], ['stored length', 2], ['raw length', 6], ['hash', 10 + 17], ['CRC', 42]] as const) {
    await flipByte(join(store.packsDir, packs[0]!), PACK_HEADER_BYTES + at)
    const report = await verifyPoint(store, 1, { record: false })
    t.same(report.problems.map(p => [p.block, p.code]), [[3, 'CORE_BLOCK_CORRUPT']], `a flip in the ${field} is reported`)
    await flipByte(join(store.packsDir, packs[0]!), PACK_HEADER_BYTES + at)
  }
})
