/**
 * writeSeed: a seed written in one pass from a scan of disk files (the real
 * scanner in a real worker pool) is byte-identical to the seed exportSeed
 * writes for the same point once stored, imports to disks that restore
 * byte-exact, and is absent whenever the write fails: a scan that delivers
 * blocks its manifest does not reference, an abort, an existing output, a
 * failing write.
 */
import t, { type Test } from 'tap'
import { access, open, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { BlockCodec } from '../../core/compress.ts'
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { hashBlock, toHex } from '../../core/hash.ts'
import { blockCount, hashAt, isZeroBlock } from '../../core/manifest.ts'
import { replicateOnce } from '../../core/replicate.ts'
import { scanDisk, type ScanPool } from '../../core/scan/index.ts'
import { exportSeed, importSeed, readSeedHeader, writeSeed, type SeedBlock, type WriteSeedInit } from '../../core/seed/index.ts'
import type { Manifest } from '../../core/types.ts'
import { fileHash, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { openStore, scanPool } from '../helpers/engine.ts'

const MiB = 2 ** 20
const BS = 65536
const TIME = 1_700_000_000_000
const NOTE = 'guest agent did not answer'
const ORIGIN = { relationship: 'r-0042', peer: '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN' }

type OnBlocks = (blocks: SeedBlock[]) => Promise<void>

/** The scan a primary box runs: scanDisk with no base over a file, every non-zero block delivered encoded. */
function fileScan (pool: ScanPool, files: Record<string, string>): WriteSeedInit['scan'] {
  return async (name, onBlocks, signal) => {
    const view = await new FileDiskSource(files[name]!).open(signal)
    let manifest: Manifest
    try {
      manifest = (await scanDisk(view, { pool, blockSize: BS, reuseResults: true, onChanged: onBlocks, signal })).manifest
    } catch (err) {
      await view.close().catch(() => {})
      throw err
    }
    await view.close()
    return manifest
  }
}

/** A scan that hands `onBlocks` through `wrap` (to count, alter or interrupt what reaches the writer). */
function wrapScan (scan: WriteSeedInit['scan'], wrap: (blocks: SeedBlock[], onBlocks: OnBlocks) => Promise<void>): WriteSeedInit['scan'] {
  return async (name, onBlocks, signal) => await scan(name, async blocks => { await wrap(blocks, onBlocks) }, signal)
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

async function absent (t: Test, path: string): Promise<void> {
  t.notOk(await exists(path), 'no seed')
  t.notOk(await exists(`${path}.partial`), 'no partial file')
}

t.test('writeSeed from a scan', async t => {
  const dir = await tempDir(t)
  const pool = scanPool(t)
  const files = { sys: join(dir, 'sys.img'), data: join(dir, 'data.img') }
  // sys: random data, a run of equal blocks, holes (zero blocks), a partial last block;
  // data: a block equal to sys's run (shared across disks), a partial last block.
  await sparseFile(files.sys, 3 * MiB + 12345)
  await sparseFile(files.data, MiB + 100)
  await writePatches(files.sys, [
    { offset: 0, length: 4 * BS, fill: 7 }, { offset: MiB + 1000, length: 300_000 }, { offset: 3 * MiB, length: 12345 }
  ])
  await writePatches(files.data, [{ offset: 5 * BS, length: 2 * BS, fill: 7 }, { offset: 9 * BS, length: 1000 }, { offset: MiB, length: 100 }])
  const disks = [{ name: 'sys', size: (await stat(files.sys)).size }, { name: 'data', size: (await stat(files.data)).size }]
  const init = (extra: Partial<WriteSeedInit> = {}): WriteSeedInit => ({
    blockSize: BS, time: TIME, consistency: 'crash', consistencyNote: NOTE, origin: ORIGIN, disks, scan: fileScan(pool, files), ...extra
  })

  const store = await openStore(t, join(dir, 'store'))
  const { point } = await replicateOnce(store, {
    pool,
    disks: disks.map(d => ({ name: d.name, source: new FileDiskSource(files[d.name as keyof typeof files]) })),
    time: TIME,
    consistency: 'crash',
    consistencyNote: NOTE
  })
  const exported = join(dir, 'exported.seed')
  const e = await exportSeed(store, point.id, exported, { origin: ORIGIN })

  const written = join(dir, 'written.seed')
  const progress: Array<{ phase: string, done: number, total: number }> = []
  let delivered = 0
  let released = 0
  const counting = wrapScan(init().scan, async (blocks, onBlocks) => {
    delivered += blocks.length
    await onBlocks(blocks.map(b => ({ ...b, release: () => { released++; b.release?.() } })))
  })
  const w = await writeSeed(written, init({ scan: counting }), { onProgress: p => progress.push(p) })

  t.test('byte-identical to the exported seed of the same point', async t => {
    // Both hold the scanner's encoding: replicateOnce stores the blocks as the
    // scan encoded them, and zstd at one level is deterministic.
    t.ok((await readFile(written)).equals(await readFile(exported)), 'same bytes')
    t.same(w, { bytes: e.bytes, blocks: e.blocks, root: point.root, disks: point.disks.map(d => ({ name: d.name, size: d.size, root: d.root })) })
    t.same(await readSeedHeader(written), {
      version: 2, blockSize: BS, time: TIME, consistency: 'crash', consistencyNote: NOTE, origin: ORIGIN, disks: w.disks, root: point.root
    })
  })

  t.test('every block delivered is released once; progress ends at the disks\' size', async t => {
    t.ok(delivered > 0)
    t.equal(released, delivered)
    t.ok(progress.every(p => p.phase === 'seed-export' && p.total === disks[0]!.size + disks[1]!.size))
    t.ok(progress.every((p, i) => i === 0 || p.done >= progress[i - 1]!.done), 'progress never goes back')
    t.equal(progress.at(-1)?.done, progress.at(-1)?.total)
    await absent(t, join(dir, 'none.seed'))
    t.notOk(await exists(`${written}.partial`))
  })

  t.test('dedup: each distinct non-zero block once, across disks', async t => {
    const distinct = new Set<string>()
    for (const d of point.disks) {
      const m = await store.manifest(point.id, d.name)
      for (let i = 0; i < blockCount(m.size, m.blockSize); i++) if (!isZeroBlock(m, i)) distinct.add(toHex(hashAt(m, i)))
    }
    t.equal(w.blocks, distinct.size)
  })

  t.test('imports to a point whose disks restore byte-exact', async t => {
    const target = await openStore(t, join(dir, 'target'))
    const imported = await importSeed(target, written)
    t.equal(imported.root, point.root)
    t.same(imported.disks, point.disks)
    for (const d of disks) t.equal(await fileHash(target.imagePath(d.name)), await fileHash(files[d.name as keyof typeof files]), d.name)
  })

  t.test('zero blocks and repeated blocks passed anyway are skipped', async t => {
    // A scan that also delivers every zero block and repeats every block: same seed.
    const generous = async (name: string, onBlocks: OnBlocks): Promise<Manifest> => {
      const bytes = await readFile(files[name as keyof typeof files])
      const codec = new BlockCodec()
      const hashes = new Uint8Array(blockCount(bytes.byteLength, BS) * 32)
      for (let i = 0; i * BS < bytes.byteLength; i++) {
        const raw = bytes.subarray(i * BS, Math.min(bytes.byteLength, (i + 1) * BS))
        const hash = hashBlock(raw)
        hashes.set(hash, i * 32)
        const block = { index: i, hash, rawLength: raw.byteLength, ...codec.encode(raw) }
        await onBlocks([block, block])
      }
      return { size: bytes.byteLength, blockSize: BS, hashes }
    }
    const out = join(dir, 'generous.seed')
    await writeSeed(out, init({ scan: generous }))
    t.ok((await readFile(out)).equals(await readFile(written)))
  })

  t.test('no origin', async t => {
    const out = join(dir, 'no-origin.seed')
    const { origin, ...rest } = init()
    await writeSeed(out, rest)
    t.equal((await readSeedHeader(out)).origin, null)
    const bare = join(dir, 'bare.seed')
    await exportSeed(store, point.id, bare)
    t.ok((await readFile(out)).equals(await readFile(bare)), 'same bytes as exportSeed without origin')
  })

  t.test('a scan that delivers what its manifest does not reference: CORE_SOURCE_CHANGED, no file', async t => {
    const out = join(dir, 'changed.seed')
    const foreign = Buffer.alloc(BS, 0x33)
    const extra = wrapScan(init().scan, async (blocks, onBlocks) => {
      const first = blocks[0]!
      // The disk "changed" between hashing and the manifest: one block's bytes are other ones.
      await onBlocks([{ ...first, hash: hashBlock(foreign), codec: 0, rawLength: BS, data: foreign }, ...blocks.slice(1)])
    })
    await t.rejects(writeSeed(out, init({ scan: extra })), { code: 'CORE_SOURCE_CHANGED' })
    await absent(t, out)

    const dropped = wrapScan(init().scan, async (blocks, onBlocks) => { await onBlocks(blocks.slice(0, -1)) })
    await t.rejects(writeSeed(out, init({ scan: dropped })), { code: 'CORE_SOURCE_CHANGED' }, 'a block missing')
    await absent(t, out)

    const reversed = wrapScan(init().scan, async (blocks, onBlocks) => { await onBlocks([...blocks].reverse()) })
    await t.rejects(writeSeed(out, init({ scan: reversed })), { code: 'CORE_SOURCE_CHANGED' }, 'blocks out of order')
    await absent(t, out)

    const grown = disks.map(d => ({ ...d, size: d.size + 1 }))
    await t.rejects(writeSeed(out, init({ disks: grown })), { code: 'CORE_SOURCE_CHANGED' }, 'the disk is not the size announced')
    await absent(t, out)
  })

  t.test('abort leaves no file', async t => {
    const out = join(dir, 'aborted.seed')
    const before = new AbortController()
    before.abort()
    await t.rejects(writeSeed(out, init(), { signal: before.signal }), { code: 'CORE_ABORTED' })
    await absent(t, out)

    const during = new AbortController()
    const scan = wrapScan(init().scan, async (blocks, onBlocks) => { await onBlocks(blocks); during.abort() })
    await t.rejects(writeSeed(out, init({ scan }), { signal: during.signal }), { code: 'CORE_ABORTED' })
    await absent(t, out)
  })

  t.test('an existing output is kept unless force', async t => {
    await t.rejects(writeSeed(written, init()), { code: 'CORE_OUTPUT_EXISTS' })
    await writeSeed(written, init(), { force: true })
    t.ok((await readFile(written)).equals(await readFile(exported)))
  })

  t.test('a bad origin is refused before any file exists', async t => {
    const out = join(dir, 'bad-origin.seed')
    for (const origin of [{ relationship: '', peer: ORIGIN.peer }, { relationship: ORIGIN.relationship, peer: '' }, { relationship: 'a/b', peer: ORIGIN.peer }, { relationship: ORIGIN.relationship, peer: 'O0Il' }, { relationship: ORIGIN.relationship, peer: '1'.repeat(129) }]) {
      await t.rejects(writeSeed(out, init({ origin })), { code: 'CORE_INVALID_ARGUMENT' }, JSON.stringify(origin).slice(0, 60))
      await t.rejects(exportSeed(store, point.id, out, { origin }), { code: 'CORE_INVALID_ARGUMENT' })
      await absent(t, out)
    }
  })

  t.test('a point the format cannot hold is refused before any file exists', async t => {
    const out = join(dir, 'unfit.seed')
    const cases: Array<[string, Partial<WriteSeedInit>]> = [
      ['no disk', { disks: [] }],
      ['two disks of one name', { disks: [disks[0]!, { ...disks[1]!, name: 'sys' }] }],
      ['a disk name with a slash', { disks: [{ ...disks[0]!, name: 'a/b' }] }],
      ['a negative size', { disks: [{ ...disks[0]!, size: -1 }] }],
      ['a note over 4096 bytes', { consistencyNote: 'x'.repeat(4097) }],
      ['a block size that is not a power of two', { blockSize: 5000 }]
    ]
    for (const [what, extra] of cases) {
      await t.rejects(writeSeed(out, init(extra)), { code: 'CORE_INVALID_ARGUMENT' }, what)
      await absent(t, out)
    }
  })

  t.test('a failing write: CORE_WRITE_FAILED and no file, at every write', async t => {
    // Fault by wrapper: FileHandle.writev fails its nth call with EIO.
    const probe = await open(written, 'r')
    const proto = Object.getPrototypeOf(probe) as { writev: (...args: unknown[]) => Promise<unknown> }
    await probe.close()
    const writev = proto.writev
    let calls = 0
    let failAt = 0
    proto.writev = async function (this: unknown, ...args: unknown[]) {
      if (++calls === failAt) throw Object.assign(new Error('EIO: i/o error, injected'), { code: 'EIO' })
      return await writev.apply(this, args)
    }
    t.teardown(() => { proto.writev = writev })
    const out = join(dir, 'faulty.seed')
    await writeSeed(out, init())
    const writes = calls
    t.ok(writes >= 3, `${writes} writes: records, head, trailer`)
    for (failAt = 1; failAt <= writes; failAt++) {
      calls = 0
      await t.rejects(writeSeed(out, init(), { force: true }), { code: 'CORE_WRITE_FAILED' }, `write ${failAt} fails`)
      t.notOk(await exists(`${out}.partial`), 'no partial file')
    }
    proto.writev = writev
    t.ok((await readFile(out)).equals(await readFile(written)), 'the earlier seed is untouched')
  })
})
