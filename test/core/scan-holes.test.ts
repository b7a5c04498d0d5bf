/**
 * Scans that skip holes: a file view tells its data extents (SEEK_DATA /
 * SEEK_HOLE) and the scanner gives the blocks in holes the zero block's hash
 * without reading them. The manifest, the changed blocks and the blocks
 * delivered are the same byte for byte as a full read's, whatever the
 * layout; only the bytes read differ.
 */
import t from 'tap'
import { join } from 'node:path'
import { FileDiskSource, type DiskView } from '../../core/disk-view/index.ts'
import { ScanPool, scanDisk, type ScanResult } from '../../core/scan/index.ts'
import { windowPieces } from '../../core/scan/scan-plan.ts'
import type { Manifest } from '../../core/types.ts'
import { sparseFile, tempDir, writePatches, type Patch } from '../helpers/fixtures.ts'
import { scanPool } from '../helpers/engine.ts'

const KiB = 1024
const MiB = 2 ** 20
const BS = 64 * KiB

/** The same view without `dataExtents`: a source that cannot tell its holes. */
function withoutExtents (v: DiskView): DiskView {
  return { size: v.size, fd: v.fd, read: v.read.bind(v), close: v.close.bind(v) }
}

/** The same view, telling more data than there is (every window is data from its start to the middle): allowed by the contract. */
function overReporting (v: DiskView): DiskView {
  return {
    ...withoutExtents(v),
    dataExtents: async (offset, length, signal) => [{ offset, length: Math.ceil(length / 2) }, ...await v.dataExtents!(offset, length, signal)]
  }
}

interface Scanned { result: ScanResult, delivered: Array<{ index: number, hash: string }> }

async function scan (pool: ScanPool, view: DiskView, options: { base?: Manifest, readHoles?: boolean, blockSize?: number } = {}): Promise<Scanned> {
  const delivered: Array<{ index: number, hash: string }> = []
  const result = await scanDisk(view, {
    pool,
    blockSize: options.blockSize ?? BS,
    base: options.base,
    readHoles: options.readHoles,
    onChanged: blocks => { for (const b of blocks) { delivered.push({ index: b.index, hash: Buffer.from(b.hash).toString('hex') }); b.release() } }
  })
  return { result, delivered }
}

const layouts: Array<[string, number, Patch[]]> = [
  ['no data at all', 40 * MiB, []],
  ['a file of one partial block, in a hole', 1000, []],
  ['block-aligned data', 40 * MiB, [{ offset: BS, length: 2 * BS }, { offset: 17 * MiB, length: 3 * MiB }]],
  ['unaligned data, across block and chunk boundaries', 40 * MiB + 333, [{ offset: 5, length: 3 }, { offset: 4 * MiB - 7, length: 20 }, { offset: 9 * MiB + 12345, length: 777 * KiB }]],
  ['data at the very end, partial last block', 40 * MiB + 333, [{ offset: 40 * MiB + 300, length: 33 }]],
  ['a file ending in a hole', 40 * MiB, [{ offset: 0, length: 5 * MiB }]],
  ['zeros written as data', 20 * MiB, [{ offset: 2 * MiB, length: 3 * MiB, fill: 0 }, { offset: 6 * MiB, length: BS, fill: 1 }]],
  ['a fully dense file', 9 * MiB + 100, [{ offset: 0, length: 9 * MiB + 100 }]]
]

t.test('a hole-skipping scan gives exactly the manifest of a full read', async t => {
  const dir = await tempDir(t)
  const pool = scanPool(t)
  // A base to diff against: another layout's manifest, so that changed and delivered blocks are compared too.
  const basePath = join(dir, 'base.img')
  await sparseFile(basePath, 40 * MiB + 333)
  await writePatches(basePath, [{ offset: 3 * MiB, length: 2 * MiB }, { offset: 17 * MiB, length: BS, fill: 0x42 }])
  const baseView = await new FileDiskSource(basePath).open()
  const base = (await scanDisk(baseView, { pool, blockSize: BS, readHoles: true })).manifest
  await baseView.close()

  for (const [name, size, patches] of layouts) {
    const path = join(dir, `${name.replaceAll(' ', '-')}.img`)
    await sparseFile(path, size)
    await writePatches(path, patches)
    const view = await new FileDiskSource(path).open()
    t.type(view.dataExtents, 'function', `${name}: the file view tells its holes`)
    for (const withBase of [undefined, base]) {
      const label = `${name}${withBase === undefined ? '' : ', against a base'}`
      const full = await scan(pool, view, { base: withBase, readHoles: true })
      const skipping = await scan(pool, view, { base: withBase })
      const blind = await scan(pool, withoutExtents(view), { base: withBase })
      const generous = await scan(pool, overReporting(view), { base: withBase })
      t.equal(full.result.bytesRead, size, `${label}: readHoles reads every byte`)
      for (const [how, s] of [['skipping holes', skipping], ['without dataExtents', blind], ['with data over-reported', generous]] as const) {
        t.ok(Buffer.from(s.result.manifest.hashes).equals(Buffer.from(full.result.manifest.hashes)), `${label}, ${how}: same hashes byte for byte`)
        t.equal(s.result.manifest.size, size)
        t.same(s.result.changed, full.result.changed, `${label}, ${how}: same changed blocks`)
        t.same(s.delivered, full.delivered, `${label}, ${how}: same blocks delivered`)
      }
      const data = patches.reduce((n, p) => n + p.length, 0)
      if (data < size / 2) t.ok(skipping.result.bytesRead < size / 2, `${label}: the holes were not read (${skipping.result.bytesRead} of ${size} bytes)`)
    }
    await view.close()
  }
})

t.test('a file view reports its data extents inside the range asked', async t => {
  const dir = await tempDir(t)
  const path = join(dir, 'vm.img')
  await sparseFile(path, 64 * MiB)
  await writePatches(path, [{ offset: 8 * MiB, length: MiB }, { offset: 30 * MiB, length: 2 * MiB }])
  const view = await new FileDiskSource(path).open()
  t.teardown(async () => { await view.close() })
  const covered = (extents: Array<{ offset: number, length: number }>, at: number): boolean => extents.some(e => e.offset <= at && at < e.offset + e.length)
  const all = await view.dataExtents!(0, 64 * MiB)
  for (const at of [8 * MiB, 9 * MiB - 1, 30 * MiB, 32 * MiB - 1]) t.ok(covered(all, at), `byte ${at} is data`)
  t.notOk(covered(all, 0) || covered(all, 20 * MiB) || covered(all, 64 * MiB - 1), 'holes are not data')
  const part = await view.dataExtents!(8 * MiB + 100, 22 * MiB)
  for (const e of part) t.ok(e.offset >= 8 * MiB + 100 && e.offset + e.length <= 30 * MiB + 100, 'clipped to the range')
  t.ok(covered(part, 8 * MiB + 100) && covered(part, 30 * MiB + 99))
  t.same(await view.dataExtents!(40 * MiB, 0), [], 'an empty range has no data')
  await t.rejects(view.dataExtents!(60 * MiB, 5 * MiB), TypeError, 'past the end is a programmer error')
})

t.test('a view answering extents that are not byte ranges fails the scan with CORE_INVALID_ARGUMENT', async t => {
  const dir = await tempDir(t)
  const path = join(dir, 'vm.img')
  await sparseFile(path, 8 * MiB)
  const view = await new FileDiskSource(path).open()
  t.teardown(async () => { await view.close() })
  const lying: DiskView = { ...withoutExtents(view), dataExtents: async () => [{ offset: -1, length: 5 }] }
  await t.rejects(scanDisk(lying, { pool: scanPool(t), blockSize: BS }), { code: 'CORE_INVALID_ARGUMENT' })
})

t.test('windowPieces: data blocks read whole, zero runs between them, clipped to the window', async t => {
  const w = { offset: 16 * BS, length: 16 * BS }
  const size = 100 * BS + 10
  t.same(windowPieces(w, [], size, BS, 4 * BS), [{ offset: 16 * BS, length: 16 * BS, zero: true }], 'no data: one zero run')
  t.same(windowPieces(w, [w], size, BS, 4 * BS), [0, 1, 2, 3].map(i => ({ offset: (16 + 4 * i) * BS, length: 4 * BS, zero: false })), 'all data: chunks')
  t.same(windowPieces(w, [{ offset: 17 * BS + 1, length: 1 }, { offset: 0, length: 16 * BS + 1 }, { offset: 31 * BS + 5, length: 9 * BS }], size, BS, 4 * BS), [
    { offset: 16 * BS, length: 2 * BS, zero: false },
    { offset: 18 * BS, length: 13 * BS, zero: true },
    { offset: 31 * BS, length: BS, zero: false }
  ], 'partial blocks read whole; data outside the window ignored; unsorted input')
  const last = { offset: 96 * BS, length: 4 * BS + 10 }
  t.same(windowPieces(last, [{ offset: 100 * BS + 9, length: 1 }], size, BS, 4 * BS), [
    { offset: 96 * BS, length: 4 * BS, zero: true },
    { offset: 100 * BS, length: 10, zero: false }
  ], 'the partial last block')
  t.throws(() => windowPieces(w, [{ offset: 0.5, length: 1 }], size, BS, 4 * BS), { code: 'CORE_INVALID_ARGUMENT' })
})
