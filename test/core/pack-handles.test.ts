/**
 * Pack read handles under concurrency: many readers over more packs than
 * the cache holds all succeed; a handle is never closed under a reader;
 * a missing pack is CORE_BLOCK_MISSING.
 */
import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PackHandles } from '../../core/store/pack-handles.ts'
import { packPath } from '../../core/store/pack.ts'
import { tempDir } from '../helpers/fixtures.ts'

t.test('concurrent readers over more packs than the cache holds', async t => {
  const dir = await tempDir(t)
  const ids = Array.from({ length: 6 }, (_, i) => `00000000000000${String(i).padStart(2, '0')}`)
  for (const [i, id] of ids.entries()) await writeFile(packPath(dir, id), Buffer.alloc(4096, i))
  const handles = new PackHandles(dir, 2)
  t.teardown(async () => { await handles.closeAll() })
  const reads = Array.from({ length: 300 }, async (_, n) => {
    const i = n % ids.length
    const b = Buffer.alloc(16)
    await handles.use(ids[i]!, async h => {
      await new Promise(resolve => setImmediate(resolve)) // let other readers evict meanwhile
      await h.read(b, 0, 16, (n * 16) % 4096)
    })
    return b.every(x => x === i)
  })
  t.same(new Set(await Promise.all(reads)), new Set([true]), 'every read saw its own pack')
  handles.forget(ids[0]!)
  t.equal(await handles.use(ids[0]!, async h => (await h.stat()).size), 4096, 'a forgotten pack reopens on demand')
})

t.test('a missing pack is CORE_BLOCK_MISSING, and can be retried', async t => {
  const dir = await tempDir(t)
  const handles = new PackHandles(dir, 4)
  t.teardown(async () => { await handles.closeAll() })
  const id = 'ffffffffffffffff'
  await t.rejects(handles.use(id, async () => 1), { code: 'CORE_BLOCK_MISSING' })
  await writeFile(packPath(dir, id), 'x')
  t.equal(await handles.use(id, async () => 2), 2)
})
