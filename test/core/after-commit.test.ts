/**
 * A failure after a cycle's commit says the point was committed (issue 11,
 * "errors that mislead"): retention failing is CORE_RETENTION_FAILED with the
 * point in details, the point is whole, and the next prune applies the
 * policy. (An image update failing on a real full disk: full-disk.test.ts.)
 */
import t from 'tap'
import { join } from 'node:path'
import { prune } from '../../core/store/prune.ts'
import { verifyPoint } from '../../core/verify.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'

const MiB = 2 ** 20

t.test('retention failing after the commit: CORE_RETENTION_FAILED naming the committed point', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  await sparseFile(src, 4 * MiB)
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await writePatches(src, [{ offset: 0, length: 100_000 }])
  await cycle(store, pool, src)
  await writePatches(src, [{ offset: MiB, length: 100_000 }])
  const injected = Object.assign(new Error('injected: EIO'), { code: 'EIO' })
  await t.rejects(cycle(store, pool, src, {
    retention: { additional: 0, intervalMs: 0 },
    onPhase: phase => { if (phase === 'points-removed') throw injected }
  }), { code: 'CORE_RETENTION_FAILED', details: { point: 2, path: store.dir, cause: 'EIO' } })
  t.same((await store.listPoints()).map(p => p.id), [2], 'the new point is committed (the old one was removed before the failure)')
  t.ok((await verifyPoint(store, 2)).ok, 'and whole')
  await prune(store, { additional: 0, intervalMs: 0 })
  t.ok((await verifyPoint(store, 2)).ok, 'the next prune finishes the sweep; the point still verifies')
})

t.test('an abort after the commit: CORE_ABORTED naming the committed point', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  await sparseFile(src, 4 * MiB)
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await writePatches(src, [{ offset: 0, length: 100_000 }])
  const controller = new AbortController()
  await t.rejects(cycle(store, pool, src, {
    signal: controller.signal,
    onPhase: phase => { if (phase === 'committed') controller.abort() }
  }), { code: 'CORE_ABORTED', details: { point: 1 } })
  t.same((await store.listPoints()).map(p => p.id), [1])
})
