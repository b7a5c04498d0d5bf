/**
 * The replica image after a crash (core/store/replica-image.ts), when the
 * store is also damaged.
 */
import t from 'tap'
import { readFile, unlink } from 'node:fs/promises'
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
