/**
 * The DiskSource compliance suite (core/disk-view/disk-view.ts): one set of
 * tests that every DiskSource of the code passes, whatever reads it (a
 * file, a guarded manual disk, a qemu-nbd of a qcow2, a live QEMU point).
 * A test file calls `diskSourceCompliance(t, factory)` with a factory that
 * makes its kind of source over given bytes.
 *
 * The contract checked:
 * - `open` gives a view whose `size` is the disk's size;
 * - reads return exactly the disk's bytes for any extent (aligned or not,
 *   one byte, the last byte, concurrent reads), into the buffer from its
 *   start and nothing beyond `length`;
 * - reads outside the disk or longer than the buffer are TypeErrors;
 * - views are independent: closing one leaves another readable;
 * - a view is one moment: when the disk is written while a view is open,
 *   the view still reads the bytes of its moment, or the read or `close`
 *   fails with CORE_SOURCE_CHANGED (the cycle then commits nothing);
 * - `dataExtents`, when present: extents in order, inside the range asked,
 *   and every byte it leaves out is zero on the disk (the scan skips them);
 * - `changedSince`, when present: a base the source knows nothing of is
 *   `{ untracked }`; from the base it tracks, the extents cover every byte
 *   that differs and stay inside the disk;
 * - an aborted signal makes `open` and `read` reject with CORE_ABORTED,
 *   and the view still closes.
 */
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import type { Extent } from '../../../core/types.ts'
import type { DiskSource, DiskView } from '../../../core/disk-view/index.ts'
import { CoreErrorCode } from '../../../core/errors.ts'
import { prng } from '../fixtures.ts'

export interface SourceUnderTest {
  source: DiskSource
  /** Writes `bytes` at `offset` of the disk the way its writer does (a guest, another process); absent when nothing can write it. */
  write?: (offset: number, bytes: Uint8Array) => Promise<void>
  /** With a history: the manifest root the source's change tracking counts from. */
  baseRoot?: string
}

export interface DiskSourceFactory {
  /**
   * A source over a disk holding exactly `bytes`. With `history` (asked
   * only when `tracking` is set), the source's change tracking counts from
   * the disk as it held `history.base` (same size) and the factory returns
   * that base's root. Clean up through `t.teardown`.
   */
  make: (t: Test, bytes: Uint8Array, history?: { base: Uint8Array }) => Promise<SourceUnderTest>
  /** The source tracks changes (its views have changedSince) and can be made with a history. */
  tracking?: boolean
  /** Disk size for the suite (default 4 MiB); a multiple of BLOCK. */
  size?: number
}

const MiB = 2 ** 20
/** Tandem's smallest block size: changes are made and checked in such blocks. */
const BLOCK = 64 * 1024

const bytesOf = (seed: number, size: number): Uint8Array => {
  const r = prng(seed)
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i += 4) {
    const v = Math.floor(r() * 2 ** 32)
    out[i] = v & 0xff; out[i + 1] = (v >>> 8) & 0xff; out[i + 2] = (v >>> 16) & 0xff; out[i + 3] = v >>> 24
  }
  return out
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

async function readAt (view: DiskView, offset: number, length: number): Promise<Uint8Array> {
  const into = new Uint8Array(length)
  await view.read(offset, length, into)
  return into
}

export async function diskSourceCompliance (t: Test, factory: DiskSourceFactory): Promise<void> {
  const size = factory.size ?? 4 * MiB
  const disk = bytesOf(7, size)

  await t.test('size, and the bytes of every extent', async t => {
    const { source } = await factory.make(t, disk)
    t.match(source.description, /\S/, 'a description')
    const view = await source.open()
    try {
      t.equal(view.size, size)
      let whole = true
      for (let at = 0; at < size; at += BLOCK) whole &&= same(await readAt(view, at, BLOCK), disk.subarray(at, at + BLOCK))
      t.ok(whole, 'every block, read in order')
      const extents: Array<[number, number]> = [[0, 1], [size - 1, 1], [12_345, 70_001], [BLOCK - 3, 6], [size - BLOCK - 7, BLOCK + 7], [0, size], [size, 0]]
      for (const [offset, length] of extents) t.ok(same(await readAt(view, offset, length), disk.subarray(offset, offset + length)), `${length} bytes at ${offset}`)
      const r = prng(11)
      const random = Array.from({ length: 24 }, () => {
        const offset = Math.floor(r() * (size - 1))
        return [offset, 1 + Math.floor(r() * Math.min(300_000, size - offset - 1))] as const
      })
      const got = await Promise.all(random.map(async ([o, l]) => await readAt(view, o, l)))
      t.ok(random.every(([o, l], i) => same(got[i]!, disk.subarray(o, o + l))), 'concurrent reads of random extents')
    } finally {
      await view.close()
    }
  })

  await t.test('a read fills the buffer from its start and nothing beyond its length', async t => {
    const { source } = await factory.make(t, disk)
    const view = await source.open()
    try {
      const into = new Uint8Array(5000).fill(0xee)
      await view.read(4096, 1000, into)
      t.ok(same(into.subarray(0, 1000), disk.subarray(4096, 5096)), 'the bytes at the start')
      t.ok(into.subarray(1000).every(b => b === 0xee), 'the rest untouched')
    } finally {
      await view.close()
    }
  })

  await t.test('reads outside the disk or the buffer are TypeErrors', async t => {
    const { source } = await factory.make(t, disk)
    const view = await source.open()
    try {
      await t.rejects(view.read(size - 10, 11, new Uint8Array(11)), TypeError, 'past the end')
      await t.rejects(view.read(size, 1, new Uint8Array(1)), TypeError, 'at the end')
      await t.rejects(view.read(-1, 1, new Uint8Array(1)), TypeError, 'a negative offset')
      await t.rejects(view.read(0, 100, new Uint8Array(10)), TypeError, 'longer than the buffer')
      t.ok(same(await readAt(view, 0, 100), disk.subarray(0, 100)), 'the view still reads after them')
    } finally {
      await view.close()
    }
  })

  await t.test('views are independent', async t => {
    const { source } = await factory.make(t, disk)
    const a = await source.open()
    const b = await source.open()
    try {
      t.equal(b.size, size)
      await a.close()
      t.ok(same(await readAt(b, size - BLOCK, BLOCK), disk.subarray(size - BLOCK)), 'the other view reads after one closed')
    } finally {
      await b.close()
    }
  })

  await t.test('a view is one moment: it reads its moment, or says it could not', async t => {
    const made = await factory.make(t, disk)
    if (made.write === undefined) {
      t.comment('nothing can write this source')
      return
    }
    const view = await made.source.open()
    const at = 3 * BLOCK + 512
    const changed = randomBytes(2 * BLOCK)
    let readError: unknown
    let got: Uint8Array | undefined
    try {
      await made.write(at, changed)
      got = await readAt(view, at, changed.length).catch((err: unknown) => { readError = err; return undefined })
    } finally {
      const closeError = await view.close().then(() => undefined, (err: unknown) => err)
      const failed = [readError, closeError].find(e => e !== undefined) as { code?: string } | undefined
      if (got !== undefined && same(got, disk.subarray(at, at + changed.length)) && failed === undefined) {
        t.ok(true, 'the view read the bytes of its moment and closed cleanly')
      } else {
        t.equal(failed?.code, CoreErrorCode.CORE_SOURCE_CHANGED, 'the read or the close failed with CORE_SOURCE_CHANGED')
        if (readError !== undefined) t.equal((readError as { code?: string }).code, CoreErrorCode.CORE_SOURCE_CHANGED, 'a failed read says the source changed')
        if (got !== undefined && !same(got, disk.subarray(at, at + changed.length))) t.equal((closeError as { code?: string } | undefined)?.code, CoreErrorCode.CORE_SOURCE_CHANGED, 'bytes of another moment were read: close must fail')
      }
    }
  })

  await t.test('changedSince: untracked for an unknown base, a cover of every change from the tracked one', async t => {
    if (factory.tracking !== true) {
      const { source } = await factory.make(t, disk)
      const view = await source.open()
      try {
        if (view.changedSince !== undefined) {
          const answer = await view.changedSince('0'.repeat(64))
          t.ok(!Array.isArray(answer) && typeof answer.untracked === 'string', 'an unknown base is untracked')
        } else {
          t.ok(true, 'no change tracking: every block is hashed')
        }
      } finally {
        await view.close()
      }
      return
    }
    const base = disk.slice()
    const r = prng(5)
    const changedBlocks = new Set<number>()
    while (changedBlocks.size < 6) changedBlocks.add(Math.floor(r() * (size / BLOCK)))
    for (const b of changedBlocks) base.set(randomBytes(BLOCK), b * BLOCK)
    const made = await factory.make(t, disk, { base })
    t.match(made.baseRoot, /^[0-9a-f]{64}$/, 'the factory names the base root')
    const view = await made.source.open()
    try {
      t.ok(view.changedSince !== undefined, 'a tracking source has changedSince')
      const unknown = await view.changedSince!(randomBytes(32).toString('hex'))
      t.ok(!Array.isArray(unknown) && typeof unknown.untracked === 'string', 'an unknown base is untracked')
      const extents = await view.changedSince!(made.baseRoot!)
      t.ok(Array.isArray(extents), `the tracked base gives extents: ${JSON.stringify(extents)}`)
      const list = extents as Extent[]
      t.ok(list.every(e => e.offset >= 0 && e.length > 0 && e.offset + e.length <= size), 'inside the disk')
      const covered = (offset: number): boolean => list.some(e => e.offset <= offset && offset < e.offset + e.length)
      for (const b of changedBlocks) t.ok(covered(b * BLOCK) && covered(b * BLOCK + BLOCK - 1), `changed block ${b} is covered`)
      const coveredBytes = list.reduce((n, e) => n + e.length, 0)
      t.ok(coveredBytes < size, 'and not the whole disk')
    } finally {
      await view.close()
    }
  })

  await t.test('dataExtents, when present: in order, inside the range, and every byte left out reads as zero', async t => {
    // Zero runs of several sizes and alignments between data (a source may
    // store them as holes or zero clusters, or as data: both are allowed).
    const holey = disk.slice()
    const zeros: Array<[number, number]> = [[0, BLOCK], [3 * BLOCK + 100, 2 * BLOCK], [size / 2, size / 4], [size - BLOCK, BLOCK]]
    for (const [o, l] of zeros) holey.fill(0, o, o + l)
    const { source } = await factory.make(t, holey)
    const view = await source.open()
    try {
      if (view.dataExtents === undefined) {
        t.ok(true, 'no dataExtents: every block is read')
        return
      }
      for (const [offset, length] of [[0, size], [BLOCK + 7, size - 2 * BLOCK - 9], [size / 2 + 5, 3], [size, 0]] as const) {
        const list = await view.dataExtents(offset, length)
        let at = offset
        let ordered = true
        for (const e of list) {
          ordered &&= Number.isSafeInteger(e.offset) && Number.isSafeInteger(e.length) && e.length > 0 && e.offset >= at && e.offset + e.length <= offset + length
          at = e.offset + e.length
        }
        t.ok(ordered, `${length} bytes at ${offset}: ascending, not overlapping, inside the range`)
        const data = new Uint8Array(size)
        for (const e of list) data.fill(1, e.offset, e.offset + e.length)
        let zeroOutside = true
        for (let i = offset; i < offset + length; i++) if (data[i] === 0 && holey[i] !== 0) { zeroOutside = false; break }
        t.ok(zeroOutside, `${length} bytes at ${offset}: every byte left out is zero on the disk`)
      }
      const all = await view.dataExtents(0, size)
      const left = (all.reduce((n, e) => n - e.length, size))
      t.comment(`${left} of ${size} bytes reported as zeros`)
    } finally {
      await view.close()
    }
  })

  await t.test('an aborted signal: open and read reject with CORE_ABORTED', async t => {
    const { source } = await factory.make(t, disk)
    const aborted = AbortSignal.abort(new Error('test abort'))
    await t.rejects(source.open(aborted), { code: CoreErrorCode.CORE_ABORTED }, 'open')
    const view = await source.open()
    try {
      await t.rejects(view.read(0, BLOCK, new Uint8Array(BLOCK), aborted), { code: CoreErrorCode.CORE_ABORTED }, 'read')
      t.ok(same(await readAt(view, 0, 10), disk.subarray(0, 10)), 'the view still reads without the signal')
    } finally {
      await view.close()
    }
  })
}
