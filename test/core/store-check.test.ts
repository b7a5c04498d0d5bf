/**
 * Every byte of a pack is covered by a check (issue 11, "What we saw" 2):
 * flipping any one byte of a small pack, headers included, makes the store
 * check report it; a flipped record-header byte also fails the point's verify.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { checkStore, RecoveryPointStore } from '../../core/store/index.ts'
import { encodeRecord } from '../../core/store/db.ts'
import { SCHEMA_KEY } from '../../core/store/keys.ts'
import { PACK_HEADER_BYTES, RECORD_HEADER_BYTES, readPackEntries } from '../../core/store/pack.ts'
import { pointFilePath } from '../../core/store/point-file.ts'
import { verifyPoint } from '../../core/verify.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'

const BLOCK = 4096

/** A small disk: a compressible block, a random one, a partial random tail. */
async function smallDisk (path: string): Promise<void> {
  const text = Buffer.from('tandem keeps every byte checked. '.repeat(200)).subarray(0, BLOCK)
  await writeFile(path, Buffer.concat([text, randomBytes(BLOCK), randomBytes(1000)]))
}

t.test('flipping any byte of a pack or a point file is reported by the store check', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'disk.img')
  await smallDisk(src)
  const store = await openStore(t, join(dir, 'store'), BLOCK)
  await cycle(store, scanPool(t), src)
  t.ok((await checkStore(store)).ok, 'the fresh store checks clean')

  const packs = await readdir(store.packsDir)
  t.equal(packs.length, 1, 'one pack')
  const path = join(store.packsDir, packs[0]!)
  const good = await readFile(path)
  // Every header byte (file header, each record header), and a dense sample
  // of the data (each record's first and last byte, and every 7th).
  const offsets = new Set<number>()
  for (let at = 0; at < PACK_HEADER_BYTES; at++) offsets.add(at)
  for await (const e of readPackEntries(path)) {
    for (let at = e.offset - RECORD_HEADER_BYTES; at < e.offset; at++) offsets.add(at)
    for (let at = e.offset; at < e.offset + e.data.byteLength; at += 7) offsets.add(at)
    offsets.add(e.offset + e.data.byteLength - 1)
  }
  t.equal(Math.max(...offsets), good.byteLength - 1, 'the sample reaches the last byte')
  const missed: number[] = []
  for (const at of offsets) {
    const bad = Buffer.from(good)
    bad[at] = bad[at]! ^ 0x5a
    await writeFile(path, bad)
    const report = await checkStore(store)
    if (report.ok) missed.push(at)
  }
  await writeFile(path, good)
  t.same(missed, [], `every one of ${offsets.size} flipped offsets (of ${good.byteLength}) is caught`)
  t.ok((await checkStore(store)).ok, 'the restored pack checks clean again')

  const pointPath = pointFilePath(store.pointsDir, 1)
  const goodPoint = await readFile(pointPath)
  const missedPoint: number[] = []
  for (let at = 0; at < goodPoint.byteLength; at++) {
    const bad = Buffer.from(goodPoint)
    bad[at] = bad[at]! ^ 0x01
    await writeFile(pointPath, bad)
    const report = await checkStore(store)
    if (report.ok || !report.problems.some(p => p.code === 'CORE_POINT_FILE_CORRUPT')) missedPoint.push(at)
  }
  await writeFile(pointPath, goodPoint)
  t.same(missedPoint, [], `every one of the point file's ${goodPoint.byteLength} bytes is caught`)
})

t.test('a flipped record-header byte fails the point verify with CORE_BLOCK_CORRUPT', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'disk.img')
  await smallDisk(src)
  const store = await openStore(t, join(dir, 'store'), BLOCK)
  await cycle(store, scanPool(t), src)
  const path = join(store.packsDir, (await readdir(store.packsDir))[0]!)
  const good = await readFile(path)
  // Each field of the first record's header: type, codec, lengths, hash, CRC.
  for (const field of [0, 1, 2, 6, 10, 41, 42]) {
    const bad = Buffer.from(good)
    bad[PACK_HEADER_BYTES + field] = bad[PACK_HEADER_BYTES + field]! ^ 0x01
    await writeFile(path, bad)
    const report = await verifyPoint(store, 1)
    t.notOk(report.ok, `header byte ${field} flipped: verify fails`)
    t.same(report.problems.map(p => p.code), ['CORE_BLOCK_CORRUPT'], 'as CORE_BLOCK_CORRUPT')
  }
  await writeFile(path, good)
  t.ok((await verifyPoint(store, 1)).ok)
})

t.test('a schema-1 store (never released) is refused with CORE_STORE_INCOMPATIBLE', async t => {
  const dir = await tempDir(t)
  const storeDir = join(dir, 'store')
  const store = await RecoveryPointStore.open(storeDir, { create: true })
  await store.db.put(SCHEMA_KEY, encodeRecord({ version: 1, blockSize: BLOCK, created: 0 }))
  await store.close()
  await t.rejects(RecoveryPointStore.open(storeDir), { code: 'CORE_STORE_INCOMPATIBLE' })
})

t.test('a deleted pack and a deleted point file are reported with their codes', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'disk.img')
  await smallDisk(src)
  const store = await openStore(t, join(dir, 'store'), BLOCK)
  await cycle(store, scanPool(t), src)
  const pack = (await readdir(store.packsDir))[0]!
  await unlink(join(store.packsDir, pack))
  await unlink(pointFilePath(store.pointsDir, 1))
  const report = await checkStore(store)
  t.notOk(report.ok)
  const codes = new Set(report.problems.map(p => p.code))
  t.ok(codes.has('CORE_BLOCK_MISSING'), 'the missing pack: CORE_BLOCK_MISSING')
  t.ok(codes.has('CORE_POINT_FILE_MISSING'), 'the missing point file: CORE_POINT_FILE_MISSING')
  t.ok(codes.has('CORE_MANIFEST_INVALID'), 'its manifest pages are in no pack: CORE_MANIFEST_INVALID')
})
