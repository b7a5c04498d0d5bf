/**
 * The replica image (core/store/replica-image.ts): after a crash when the
 * store is also damaged, and across a close and open of its store.
 */
import t from 'tap'
import { readFile, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { RecoveryPointStore, imageRecord, recoverImages } from '../../core/store/index.ts'
import { verifyPoint } from '../../core/verify.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'

/**
 * Found by the torture test: a crash between a commit and the image update,
 * then the loss of a pack the new point needs, made recoverImages throw
 * CORE_BLOCK_MISSING at every open, so no cycle could run again. The image is
 * a cache: it stays `updating`, verify reports the damage, and the next
 * cycle brings the image to the source.
 */
t.test('an image that cannot reach a damaged latest point stays updating and the next cycle fixes it', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const storeDir = join(dir, 'store')
  const pool = scanPool(t)
  let store = await openStore(t, storeDir, 4096)
  await sparseFile(src, 64 * 1024)
  await writePatches(src, [{ offset: 0, length: 64 * 1024 }])
  await cycle(store, pool, src)
  const packsBefore = new Set((await store.packs()).keys())

  await writePatches(src, [{ offset: 0, length: 16 * 1024 }])
  const crash = new Error('crash after the commit')
  await t.rejects(cycle(store, pool, src, { onPhase: phase => { if (phase === 'committed') throw crash } }), crash)
  t.equal((await imageRecord(store, 'disk0'))?.state, 'updating', 'point 2 is committed, its image not yet updated')
  const fresh = [...(await store.packs()).keys()].filter(id => !packsBefore.has(id))
  t.equal(fresh.length, 1)
  await store.close()
  await unlink(join(storeDir, 'packs', `${fresh[0]!}.pack`))

  store = await RecoveryPointStore.open(storeDir)
  t.teardown(async () => { await store.close() })
  t.same(await recoverImages(store), [], 'recoverImages does not throw; it cannot repair this image')
  t.equal((await imageRecord(store, 'disk0'))?.state, 'updating', 'the image stays marked updating')
  t.equal((await verifyPoint(store, 2)).ok, false, 'verify reports the lost blocks')
  t.ok((await verifyPoint(store, 1)).ok, 'the older point is intact')

  await writePatches(src, [{ offset: 0, length: 16 * 1024 }])
  const next = await cycle(store, pool, src)
  t.equal(next.point.id, 3, 'the next cycle works')
  t.ok((await verifyPoint(store, 3)).ok)
  t.same(await readFile(store.imagePath('disk0')), await readFile(src), 'and brings the image to the source')
})

/**
 * Found by `npm run bench:failover` (docs/benchmarks.md): a new image was
 * created with the process umask (0644), the store's close took group and
 * other read away (tightenModes), that chmod moved its ctime, and so the
 * next cycle no longer trusted the image it had just written and hashed the
 * whole disk (25-55 s for 20 GiB) while the next session waited for it.
 */
t.test('a new image is created private, so closing its store does not make the next cycle verify it', async t => {
  const umask = process.umask(0o022) // group and other bits, as a default umask gives
  t.teardown(() => { process.umask(umask) })
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const storeDir = join(dir, 'store')
  const pool = scanPool(t)
  let store = await RecoveryPointStore.open(storeDir, { create: true, blockSize: 4096 })
  await sparseFile(src, 256 * 1024)
  await writePatches(src, [{ offset: 0, length: 64 * 1024 }])
  await cycle(store, pool, src)
  t.equal((await stat(store.imagePath('disk0'))).mode & 0o777, 0o600, 'the image is created 0600')
  await store.close()

  store = await RecoveryPointStore.open(storeDir)
  t.teardown(async () => { await store.close() })
  await writePatches(src, [{ offset: 128 * 1024, length: 4096 }])
  const next = await cycle(store, pool, src)
  t.equal(next.disks[0]!.imageVerified, false, 'the image is trusted: only the changed block is written')
  t.same(await readFile(store.imagePath('disk0')), await readFile(src), 'and it equals the source')
})

t.test('each completed update raises the image\'s generation by one, across commits', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const store = await openStore(t, join(dir, 'store'), 4096)
  const pool = scanPool(t)
  await sparseFile(src, 64 * 1024)
  const generations: Array<number | undefined> = []
  for (let i = 0; i < 3; i++) {
    await writePatches(src, [{ offset: i * 4096, length: 4096 }])
    await cycle(store, pool, src)
    generations.push((await imageRecord(store, 'disk0'))?.generation)
  }
  t.same(generations, [1, 2, 3])
})
