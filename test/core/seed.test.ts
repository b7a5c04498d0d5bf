/**
 * Seed export / import on real files and a real LevelDB: round trips restore
 * the exact source bytes, and every damaged, cut or foreign file is refused
 * with its code while the target store keeps exactly the points it had.
 */
import t from 'tap'
import { access, open, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { materializePoint } from '../../core/restore.ts'
import { verifyPoint } from '../../core/verify.ts'
import { exportSeed, importSeed, readSeedHeader } from '../../core/seed/index.ts'
import { RECORD_HEADER_BYTES, TRAILER_BYTES, manifestBytes } from '../../core/seed/seed-format.ts'
import { replicateOnce } from '../../core/replicate.ts'
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { blockCount, hashAt, isZeroBlock } from '../../core/manifest.ts'
import { toHex } from '../../core/hash.ts'
import type { RecoveryPointStore } from '../../core/store/index.ts'
import { fileHash, prng, scatteredPatches, sparseFile, tempDir, testSeed, writePatches, type Patch } from '../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../helpers/engine.ts'

const MiB = 2 ** 20
const BS = 65536
const SIZE = 64 * MiB + 12345 // the last block is partial

/** Scattered patches, the partial last block, and three equal blocks (stored, and exported, once). */
function scattered (seed: number, count: number): Patch[] {
  return [
    ...scatteredPatches(seed, SIZE, count, 150_000),
    { offset: SIZE - 5000, length: 5000 },
    { offset: 10 * BS, length: 3 * BS, fill: 0x5a }
  ]
}

/** Where the parts of a one-disk seed begin (docs/seed-format.md). */
async function layout (path: string, diskSize: number): Promise<{ headerEnd: number, blocksStart: number, trailer: number, size: number }> {
  const bytes = await readFile(path)
  const headerEnd = 20 + bytes.readUInt32LE(12) + 4
  const blocksStart = headerEnd + manifestBytes(diskSize, BS)
  return { headerEnd, blocksStart, trailer: bytes.byteLength - TRAILER_BYTES, size: bytes.byteLength }
}

async function flipByte (src: string, dst: string, offset: number): Promise<void> {
  const bytes = await readFile(src)
  bytes[offset] = bytes[offset]! ^ 0x40
  await writeFile(dst, bytes)
}

async function cut (src: string, dst: string, length: number): Promise<void> {
  await writeFile(dst, (await readFile(src)).subarray(0, length))
}

async function snapshot (store: RecoveryPointStore): Promise<{ points: number[], blocks: number }> {
  return { points: (await store.listPoints()).map(p => p.id), blocks: await store.blockCount() }
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

t.test('seeds: round trip, deltas, refusals', async t => {
  const seed = testSeed(t)
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))

  await sparseFile(src, SIZE)
  await writePatches(src, scattered(seed, 30))
  const hash1 = await fileHash(src)
  const c1 = await cycle(store, pool, src, { consistency: 'app', time: 1_700_000_000_000 })
  await writePatches(src, scattered(seed + 1, 20))
  const hash2 = await fileHash(src)
  const c2 = await cycle(store, pool, src, { consistencyNote: 'guest agent did not answer', time: 1_700_000_300_000 })

  const seed1 = join(dir, 'p1.seed')
  const seed2 = join(dir, 'p2.seed')
  const progress: Array<{ done: number, total: number }> = []
  const e1 = await exportSeed(store, c1.point.id, seed1, { onProgress: p => progress.push(p) })
  const e2 = await exportSeed(store, c2.point.id, seed2)
  t.equal(e1.bytes, (await readFile(seed1)).byteLength, 'the reported size is the file size')
  t.ok(progress.length > 0 && progress.at(-1)!.done === progress.at(-1)!.total, 'export progress ends at its total')
  t.notOk(await exists(`${seed1}.partial`), 'no partial file is left')

  const m1 = await store.manifest(1, 'disk0')
  const distinct = new Set<string>()
  for (let i = 0; i < blockCount(m1.size, m1.blockSize); i++) if (!isZeroBlock(m1, i)) distinct.add(toHex(hashAt(m1, i)))
  t.equal(e1.blocks, distinct.size, 'every distinct non-zero block is exported exactly once')

  t.test('header', async t => {
    const h = await readSeedHeader(seed2)
    t.same(h, {
      version: 2,
      blockSize: BS,
      time: c2.point.time,
      consistency: 'crash',
      consistencyNote: 'guest agent did not answer',
      origin: null,
      disks: [{ name: 'disk0', size: SIZE, root: c2.point.disks[0]!.root }],
      root: c2.point.root
    })
  })

  t.test('the same point exports to the same bytes; no silent overwrite', async t => {
    await t.rejects(exportSeed(store, 1, seed1), { code: 'CORE_OUTPUT_EXISTS' })
    const before = await fileHash(seed1)
    await exportSeed(store, 1, seed1, { force: true })
    t.equal(await fileHash(seed1), before)
  })

  const stores: Array<{ store: RecoveryPointStore, point: number }> = []
  for (const [n, file, hash, source] of [[1, seed1, hash1, c1.point], [2, seed2, hash2, c2.point]] as const) {
    t.test(`point ${n} round-trips through a fresh store`, async t => {
      const target = await openStore(t, join(dir, `fresh${n}`))
      const progress: Array<{ phase: string, done: number, total: number }> = []
      const point = await importSeed(target, file, { onProgress: p => progress.push(p) })
      const last = progress.filter(p => p.phase === 'seed-import').at(-1)
      t.ok(last !== undefined && last.done === last.total && last.total === (await readFile(file)).byteLength, 'import progress ends at the file size')
      t.equal(point.root, source.root, 'same point root')
      t.same(point.disks, source.disks, 'same disks and roots')
      t.equal(point.time, source.time)
      t.equal(point.consistency, source.consistency)
      t.equal(point.consistencyNote, source.consistencyNote)
      const out = join(dir, `restored${n}.img`)
      await materializePoint(target, point.id, 'disk0', out)
      t.equal(await fileHash(out), hash, 'the imported point restores to the source bytes of its cycle')
      t.equal(await fileHash(target.imagePath('disk0')), hash, 'the replica image is built')
      t.ok((await verifyPoint(target, point.id)).ok, 'the imported point verifies')
      stores.push({ store: target, point: point.id })
    })
  }

  t.test('a store holding the older point stores only the difference', async t => {
    const fresh2 = await openStore(t, join(dir, 'count2'))
    await importSeed(fresh2, seed2)
    const full = await fresh2.blockCount()

    const target = await openStore(t, join(dir, 'delta'))
    await importSeed(target, seed1)
    const before = await target.blockCount()
    const point = await importSeed(target, seed2)
    const added = (await target.blockCount()) - before
    t.ok(added < full, `stored ${added} new blocks, a fresh store needs ${full}`)
    t.equal(point.id, 2)
    t.equal(await fileHash(target.imagePath('disk0')), hash2, 'the image moved to the new point')
    t.ok((await verifyPoint(target, 2)).ok)
  })

  t.test('a flipped byte is refused and nothing is committed', async t => {
    const target = await openStore(t, join(dir, 'tamper'))
    await importSeed(target, seed1)
    const before = await snapshot(target)
    const { headerEnd, blocksStart, trailer, size } = await layout(seed2, SIZE)
    const rnd = prng(seed + 7)
    const places: Array<[string, number, string[]]> = [
      ['magic', 3, ['CORE_SEED_INVALID']],
      ['version', 8, ['CORE_SEED_INVALID']],
      ['header length', 12, ['CORE_SEED_INVALID']],
      ['header body', 30, ['CORE_SEED_INVALID', 'CORE_SEED_CORRUPT']],
      ['header CRC', headerEnd - 2, ['CORE_SEED_INVALID', 'CORE_SEED_CORRUPT']],
      ['manifest', headerEnd + 16 + 40 * 32 + 5, ['CORE_SEED_CORRUPT']],
      ['first record hash', blocksStart + 3, ['CORE_SEED_CORRUPT']],
      ['first record stored length', blocksStart + 38, ['CORE_SEED_CORRUPT']],
      ['first block data', blocksStart + RECORD_HEADER_BYTES + 100, ['CORE_SEED_CORRUPT']],
      ['a random place in the block area', blocksStart + Math.floor(rnd() * (trailer - blocksStart)), ['CORE_SEED_CORRUPT']],
      ['last data byte', trailer - 1, ['CORE_SEED_CORRUPT']],
      ['trailer magic', trailer + 2, ['CORE_SEED_CORRUPT']],
      ['trailer count', trailer + 8, ['CORE_SEED_CORRUPT']],
      ['trailer hash', size - 1, ['CORE_SEED_CORRUPT']]
    ]
    const bad = join(dir, 'bad.seed')
    for (const [what, offset, codes] of places) {
      await flipByte(seed2, bad, offset)
      const err = await importSeed(target, bad).then(() => undefined, (e: unknown) => e as { code?: string })
      t.ok(err !== undefined && codes.includes(err.code ?? ''), `${what} (byte ${offset}): ${err?.code} is one of ${codes.join(', ')}`)
      t.same(await snapshot(target), before, `${what}: the store keeps its points and blocks`)
    }
    await writeFile(bad, Buffer.concat([await readFile(seed2), Buffer.from([0])]))
    await t.rejects(importSeed(target, bad), { code: 'CORE_SEED_CORRUPT' }, 'a byte after the trailer')
    t.same(await snapshot(target), before)
  })

  t.test('a cut seed is refused as truncated', async t => {
    const target = await openStore(t, join(dir, 'cut'))
    const { headerEnd, blocksStart, trailer, size } = await layout(seed2, SIZE)
    const cuts: Array<[string, number]> = [
      ['empty', 0], ['mid-magic', 5], ['mid-preamble', 14], ['mid-header', 40], ['before the header CRC', headerEnd - 4],
      ['after the header', headerEnd], ['mid-manifest', headerEnd + 1000], ['before the blocks', blocksStart],
      ['mid-record header', blocksStart + 20], ['mid-block', blocksStart + RECORD_HEADER_BYTES + 1000],
      ['just before the trailer', trailer], ['mid-trailer', trailer + 20], ['last byte missing', size - 1]
    ]
    const short = join(dir, 'short.seed')
    for (const [what, length] of cuts) {
      await cut(seed2, short, length)
      await t.rejects(importSeed(target, short), { code: 'CORE_SEED_TRUNCATED' }, `${what} (${length} bytes)`)
      t.same(await snapshot(target), { points: [], blocks: 0 }, `${what}: nothing committed`)
    }
    await cut(seed2, short, 40)
    await t.rejects(readSeedHeader(short), { code: 'CORE_SEED_TRUNCATED' }, 'readSeedHeader on a cut header')
  })

  t.test('a file that is not a seed', async t => {
    const target = await openStore(t, join(dir, 'foreign'))
    const other = join(dir, 'other.bin')
    await writeFile(other, Buffer.from('#!/bin/sh\necho this is not a seed\n'.repeat(20)))
    await t.rejects(importSeed(target, other), { code: 'CORE_SEED_INVALID' })
    await t.rejects(readSeedHeader(other), { code: 'CORE_SEED_INVALID' })
    await t.rejects(readSeedHeader(src), { code: 'CORE_SEED_INVALID' }, 'a disk image')
    const future = await readFile(seed1)
    future.writeUInt32LE(3, 8)
    await writeFile(other, future)
    await t.rejects(importSeed(target, other), { code: 'CORE_SEED_INVALID' }, 'an unknown version')
    await t.rejects(importSeed(target, join(dir, 'absent.seed')), { code: 'CORE_INVALID_ARGUMENT' }, 'no such file')
    t.same(await snapshot(target), { points: [], blocks: 0 })
  })

  t.test('a store with another block size refuses the seed', async t => {
    const target = await openStore(t, join(dir, 'small-blocks'), 4096)
    await t.rejects(importSeed(target, seed1), { code: 'CORE_INVALID_ARGUMENT' })
    t.same(await snapshot(target), { points: [], blocks: 0 })
  })

  t.test('abort', async t => {
    const ac = new AbortController()
    ac.abort()
    const out = join(dir, 'aborted.seed')
    await t.rejects(exportSeed(store, 1, out, { signal: ac.signal }), { code: 'CORE_ABORTED' })
    t.notOk(await exists(out))
    t.notOk(await exists(`${out}.partial`))
    const target = await openStore(t, join(dir, 'aborted'))
    await t.rejects(importSeed(target, seed1, { signal: ac.signal }), { code: 'CORE_ABORTED' })
    t.same(await snapshot(target), { points: [], blocks: 0 })
  })
})

t.test('several disks sharing blocks', async t => {
  const dir = await tempDir(t)
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  const a = join(dir, 'a.img')
  const b = join(dir, 'b.img')
  await sparseFile(a, 3 * MiB + 100)
  await sparseFile(b, MiB)
  await writePatches(a, [{ offset: 0, length: 4 * BS, fill: 7 }, { offset: 2 * MiB, length: 300_000 }, { offset: 3 * MiB, length: 100 }])
  await writePatches(b, [{ offset: 5 * BS, length: 2 * BS, fill: 7 }, { offset: 9 * BS, length: 1000 }])
  const { point } = await replicateOnce(store, {
    pool,
    disks: [{ name: 'sys', source: new FileDiskSource(a) }, { name: 'data', source: new FileDiskSource(b) }],
    retention: { additional: 10, intervalMs: 0 }
  })
  const file = join(dir, 'two.seed')
  const { blocks } = await exportSeed(store, point.id, file)
  t.equal(blocks, await store.blockCount(), 'a block both disks hold is exported once')
  t.same((await readSeedHeader(file)).disks.map(d => d.name), ['sys', 'data'], 'disks in the point\'s order')

  const target = await openStore(t, join(dir, 'target'))
  const imported = await importSeed(target, file)
  t.equal(imported.root, point.root)
  for (const [name, path] of [['sys', a], ['data', b]] as const) {
    t.equal(await fileHash(target.imagePath(name)), await fileHash(path), `image of ${name} equals its source`)
  }
})

t.test('export never writes a corrupt block', async t => {
  const dir = await tempDir(t)
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  const img = join(dir, 'vm.img')
  await sparseFile(img, MiB)
  await writePatches(img, [{ offset: 3 * BS, length: 2 * BS }])
  const { point } = await cycle(store, pool, img)
  const m = await store.manifest(point.id, 'disk0')
  const loc = (await store.locate(hashAt(m, 4)))!
  const h = await open(join(store.packsDir, `${loc.pack}.pack`), 'r+')
  try {
    const one = Buffer.alloc(1)
    await h.read(one, 0, 1, loc.offset + 10)
    one[0] = one[0]! ^ 1
    await h.write(one, 0, 1, loc.offset + 10)
  } finally {
    await h.close()
  }
  const out = join(dir, 'bad.seed')
  await t.rejects(exportSeed(store, point.id, out), { code: 'CORE_BLOCK_CORRUPT' })
  t.notOk(await exists(out), 'no seed')
  t.notOk(await exists(`${out}.partial`), 'no partial file')
  await t.rejects(exportSeed(store, 99, out), { code: 'CORE_POINT_NOT_FOUND' })
})
