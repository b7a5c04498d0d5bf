/**
 * A pack walk (readPackEntries) reads the pack through a bounded window, not
 * whole: the entries it yields keep their own data whatever the walk reads
 * next (repacking keeps them), records larger than the window and records
 * across the window's edges are read whole, and the records a `wanted`
 * filter refuses are skipped.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_BLOCK_SIZE } from '../../core/constants.ts'
import { readPackEntries, RecordType, type PackEntry, type PackRecordInfo } from '../../core/store/pack.ts'
import { tempDir, type Teardown } from '../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'

const MIB = 1024 * 1024

/** The one pack of a store that replicated `bytes` of random data in `blockSize` blocks. */
async function onePack (t: Teardown, blockSize: number, bytes: number): Promise<string> {
  const dir = await tempDir(t)
  const src = join(dir, 'disk.img')
  await writeFile(src, randomBytes(bytes))
  const store = await openStore(t, join(dir, 'store'), blockSize)
  await cycle(store, scanPool(t), src)
  const packs = await readdir(store.packsDir)
  if (packs.length !== 1) throw new Error(`${packs.length} packs, not one`)
  return join(store.packsDir, packs[0]!)
}

async function walk (path: string, wanted?: (r: PackRecordInfo) => boolean | Promise<boolean>): Promise<PackEntry[]> {
  const out: PackEntry[] = []
  for await (const e of readPackEntries(path, wanted)) out.push(e)
  return out
}

for (const [name, blockSize, bytes] of [['64 KiB blocks, across the window\'s edges', 64 * 1024, 3 * MIB + 12345], ['blocks larger than the window', MAX_BLOCK_SIZE, 2 * MAX_BLOCK_SIZE]] as const) {
  t.test(`every entry kept after the walk holds its record's bytes (${name})`, async t => {
    const path = await onePack(t, blockSize, bytes)
    const file = await readFile(path)
    const entries = await walk(path)
    t.equal(entries.filter(e => e.type === RecordType.BLOCK).length, Math.ceil(bytes / blockSize), 'every block')
    t.ok(entries.some(e => e.type === RecordType.MANIFEST_PAGE), 'and the manifest page')
    const last = entries[entries.length - 1]!
    t.equal(last.offset + last.data.byteLength, file.byteLength, 'the walk reaches the end of the pack')
    const wrong = entries.filter(e => !Buffer.from(e.data).equals(file.subarray(e.offset, e.offset + e.data.byteLength)))
    t.same(wrong.map(e => e.offset), [], 'no entry\'s data was overwritten by a later read')
  })
}

t.test('a walk yields only the records `wanted` accepts, at the same offsets', async t => {
  const path = await onePack(t, 64 * 1024, 2 * MIB)
  const all = await walk(path)
  const odd = await walk(path, r => r.type === RecordType.BLOCK && all.findIndex(e => e.offset === r.offset) % 2 === 1)
  t.same(odd.map(e => e.offset), all.filter((e, i) => e.type === RecordType.BLOCK && i % 2 === 1).map(e => e.offset))
  t.same(odd.map(e => Buffer.from(e.data)), all.filter((e, i) => e.type === RecordType.BLOCK && i % 2 === 1).map(e => Buffer.from(e.data)))
  const pages = await walk(path, async r => await Promise.resolve(r.type === RecordType.MANIFEST_PAGE))
  t.same(pages.map(e => e.type), [RecordType.MANIFEST_PAGE], 'an async filter: the manifest page alone')
})
