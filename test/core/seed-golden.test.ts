/**
 * Seed format versions (docs/seed-format.md): the golden version 2 seed
 * (test/core/fixtures/seed-v2.seed, written once by writeSeed and never
 * regenerated) keeps importing to the same point root and disk bytes; a
 * version 1 seed, built here by hand from it, still imports; origins that
 * break the format's rules are refused with CORE_SEED_INVALID.
 */
import t, { type Test } from 'tap'
import { blake3 } from '@napi-rs/blake-hash'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { importSeed, readSeedHeader } from '../../core/seed/index.ts'
import type { RecoveryPointStore } from '../../core/store/index.ts'
import { prng, tempDir } from '../helpers/fixtures.ts'
import { openStore } from '../helpers/engine.ts'

const GOLDEN = new URL('./fixtures/seed-v2.seed', import.meta.url)
const BS = 4096
const ROOT = 'cbf45d7b89ec562e20a1a93b7a43d692d94726fa6a72b0bd873be3e397be6a54'
const DISKS = [
  { name: 'sys', size: 17384, root: '105ed8a714495608f57c77e35edbe6e3e7759c94e6b93e5d8007d066ff6746ee' },
  { name: 'data', size: 10192, root: 'bfd211061b6b092523f539476f92a93645524d0df3d1361d7f87ba936ca064b4' }
]
const HEADER = {
  blockSize: BS,
  time: 1_765_000_000_000,
  consistency: 'crash',
  consistencyNote: 'guest agent did not answer',
  disks: DISKS,
  root: ROOT
}
const ORIGIN = { relationship: 'r-golden-1', peer: '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN' }

/**
 * The golden seed's disks: sys = text (zstd), a random block, a zero block,
 * a 0x5a block (zstd), a partial random block of 1000 bytes (raw); data = the
 * same random block (a duplicate, written once), a zero block, a partial
 * block of 2000 bytes 0x11 (zstd). Five records.
 */
function goldenDisks (): Record<string, Buffer> {
  const rnd = prng(20251207)
  const random = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)))
  const text = Buffer.from('Tandem golden seed, format version 2. '.repeat(120)).subarray(0, BS)
  const shared = random(BS)
  return {
    sys: Buffer.concat([text, shared, Buffer.alloc(BS), Buffer.alloc(BS, 0x5a), random(1000)]),
    data: Buffer.concat([shared, Buffer.alloc(BS), Buffer.alloc(2000, 0x11)])
  }
}

/**
 * A seed with another version and header body, written by hand (not by the
 * engine's encoder): preamble and both CRCs recomputed, manifests and
 * records kept, the trailer's BLAKE3 recomputed.
 */
function rewrite (seed: Buffer, version: number, body: Buffer): Buffer {
  const h = seed.readUInt32LE(12)
  const preamble = Buffer.alloc(20)
  preamble.write('TNDMSEED', 0, 'latin1')
  preamble.writeUInt32LE(version, 8)
  preamble.writeUInt32LE(body.byteLength, 12)
  preamble.writeUInt32LE(crc32(preamble.subarray(0, 16)), 16)
  const crc = Buffer.alloc(4)
  crc.writeUInt32LE(crc32(body))
  const before = Buffer.concat([preamble, body, crc, seed.subarray(20 + h + 4, seed.byteLength - 48)])
  const trailer = Buffer.from(seed.subarray(seed.byteLength - 48))
  trailer.set(blake3(before), 16)
  return Buffer.concat([before, trailer])
}

/** The header body of a version 2 seed, split around its origin (which follows the note: body offset 16 + N). */
function splitBody (seed: Buffer): { before: Buffer, origin: Buffer, after: Buffer } {
  const body = seed.subarray(20, 20 + seed.readUInt32LE(12))
  const at = 16 + body.readUInt16LE(14)
  const end = at + 1 + body[at]! + 1 + body[at + 1 + body[at]!]!
  return { before: body.subarray(0, at), origin: body.subarray(at, end), after: body.subarray(end) }
}

function originBytes (relationship: string, peer: string): Buffer {
  return Buffer.concat([Buffer.from([relationship.length]), Buffer.from(relationship, 'latin1'), Buffer.from([peer.length]), Buffer.from(peer, 'latin1')])
}

async function restoredDisks (t: Test, store: RecoveryPointStore): Promise<void> {
  const want = goldenDisks()
  for (const d of DISKS) t.ok((await readFile(store.imagePath(d.name))).equals(want[d.name]!), `disk ${d.name} has its bytes`)
}

t.test('the golden version 2 seed', async t => {
  const dir = await tempDir(t)
  t.same(await readSeedHeader(GOLDEN.pathname), { version: 2, ...HEADER, origin: ORIGIN })
  const store = await openStore(t, join(dir, 'store'), BS)
  const point = await importSeed(store, GOLDEN.pathname)
  t.equal(point.root, ROOT)
  t.same(point.disks.map(d => ({ name: d.name, size: d.size, root: d.root })), DISKS)
  t.equal(await store.blockCount(), 5, 'five distinct non-zero blocks')
  await restoredDisks(t, store)
})

t.test('version 1 (no origin) is still read', async t => {
  const dir = await tempDir(t)
  const golden = await readFile(GOLDEN)
  const { before, after } = splitBody(golden)
  const v1 = join(dir, 'v1.seed')
  await writeFile(v1, rewrite(golden, 1, Buffer.concat([before, after])))
  t.same(await readSeedHeader(v1), { version: 1, ...HEADER, origin: null })
  const store = await openStore(t, join(dir, 'store'), BS)
  const point = await importSeed(store, v1)
  t.equal(point.root, ROOT)
  await restoredDisks(t, store)

  const v1WithOrigin = join(dir, 'v1-origin.seed')
  await writeFile(v1WithOrigin, rewrite(golden, 1, golden.subarray(20, 20 + golden.readUInt32LE(12))))
  await t.rejects(readSeedHeader(v1WithOrigin), { code: 'CORE_SEED_INVALID' }, 'a version 1 header has no origin')
})

t.test('origins', async t => {
  const dir = await tempDir(t)
  const golden = await readFile(GOLDEN)
  const { before, after } = splitBody(golden)
  const file = join(dir, 'x.seed')
  const withOrigin = async (origin: Buffer): Promise<void> => { await writeFile(file, rewrite(golden, 2, Buffer.concat([before, origin, after]))) }

  await withOrigin(originBytes('', ''))
  t.equal((await readSeedHeader(file)).origin, null, 'both empty: no origin')
  const store = await openStore(t, join(dir, 'store'), BS)
  t.equal((await importSeed(store, file)).root, ROOT, 'and it imports')

  const refused: Array<[string, Buffer]> = [
    ['relationship only', originBytes(ORIGIN.relationship, '')],
    ['peer only', originBytes('', ORIGIN.peer)],
    ['a relationship outside the disk-name pattern', originBytes('-r/1', ORIGIN.peer)],
    ['a peer outside base58btc', originBytes(ORIGIN.relationship, '12D3KooW0OIl')],
    ['a relationship of 65 characters', originBytes('r'.repeat(65), ORIGIN.peer)],
    ['a peer of 129 characters', originBytes(ORIGIN.relationship, '1'.repeat(129))],
    ['a length past the header', Buffer.from([200])]
  ]
  for (const [what, origin] of refused) {
    await withOrigin(origin)
    await t.rejects(readSeedHeader(file), { code: 'CORE_SEED_INVALID' }, what)
  }
  const bound = Buffer.from(golden)
  bound.writeUInt32LE(92, 12)
  bound.writeUInt32LE(crc32(bound.subarray(0, 16)), 16)
  await writeFile(file, bound)
  await t.rejects(readSeedHeader(file), { code: 'CORE_SEED_INVALID' }, 'H = 92 is under version 2\'s minimum (94)')
})
