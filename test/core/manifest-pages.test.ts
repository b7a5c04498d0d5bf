/**
 * Manifests are stored as shared, content-addressed pages: a cycle that
 * changes one region adds one page; pruning deletes the pages no point
 * lists; a damaged page is detected, never restored from.
 */
import t from 'tap'
import { join } from 'node:path'
import { prune } from '../../core/store/index.ts'
import { listedPages, storedPages } from '../helpers/store-facts.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'

const MiB = 2 ** 20
const PAGE_SPAN = 1024 * 65536 // disk bytes one page of hashes covers

t.test('unchanged regions share pages; pruning drops only unlisted ones', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 4 * PAGE_SPAN)
  for (let i = 0; i < 4; i++) await writePatches(src, [{ offset: i * PAGE_SPAN + MiB, length: 4096 }]) // four distinct pages
  await cycle(store, pool, src)
  t.equal((await storedPages(store)).size, 4)
  await writePatches(src, [{ offset: 2 * PAGE_SPAN + 5 * MiB, length: 100 }])
  await cycle(store, pool, src)
  t.equal((await storedPages(store)).size, 5, 'a change in one region adds one page')
  await writePatches(src, [{ offset: 2 * PAGE_SPAN + 7 * MiB, length: 100 }])
  await cycle(store, pool, src)
  t.equal((await storedPages(store)).size, 6)
  await prune(store, { additional: 0, intervalMs: 0 })
  t.same(await storedPages(store), await listedPages(store), 'exactly the listed pages remain')
  t.equal((await storedPages(store)).size, 4)
})

t.test('a damaged manifest page fails with CORE_MANIFEST_INVALID', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  await sparseFile(src, 8 * MiB)
  await writePatches(src, [{ offset: 0, length: MiB }])
  await cycle(store, pool, src)
  const [key] = await storedPages(store)
  const page = Buffer.from((await store.db.get(key!))!)
  page[100] = page[100]! ^ 1
  await store.db.put(key!, page)
  await t.rejects(store.manifest(1, 'disk0'), { code: 'CORE_MANIFEST_INVALID' })
  await store.db.del(key!)
  await t.rejects(store.manifest(1, 'disk0'), { code: 'CORE_MANIFEST_INVALID' }, 'a missing page too')
})
