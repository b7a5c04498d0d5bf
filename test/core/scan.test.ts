/**
 * The scanner: same manifest whether workers read the file themselves or
 * the main thread reads and moves buffers to them; progress reaches the
 * total; an abort stops it with CORE_ABORTED and commits nothing.
 */
import t from 'tap'
import { join } from 'node:path'
import { FileDiskSource, type DiskSource, type DiskView } from '../../core/disk-view/index.ts'
import { ScanPool, scanDisk } from '../../core/scan/index.ts'
import { diskRoot } from '../../core/manifest.ts'
import { replicateOnce } from '../../core/replicate.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { openStore, scanPool } from '../helpers/engine.ts'

const MiB = 2 ** 20

/** A source whose views hide their file descriptor, forcing the main-thread read path (as NBD views will). */
function withoutFd (inner: DiskSource): DiskSource {
  return {
    description: `${inner.description} (no fd)`,
    open: async signal => {
      const v = await inner.open(signal)
      const view: DiskView = { size: v.size, read: v.read.bind(v), close: v.close.bind(v) }
      return view
    }
  }
}

t.test('worker reads and main-thread reads give the same manifest', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  await sparseFile(src, 40 * MiB + 333)
  await writePatches(src, [{ offset: 5, length: 3 * MiB }, { offset: 40 * MiB, length: 333 }, { offset: 20 * MiB, length: MiB, fill: 7 }])
  const pool = scanPool(t)
  const results = []
  for (const source of [new FileDiskSource(src), withoutFd(new FileDiskSource(src))]) {
    const view = await source.open()
    results.push(await scanDisk(view, { pool, blockSize: 65536 }))
    await view.close()
  }
  t.equal(diskRoot(results[0]!.manifest), diskRoot(results[1]!.manifest))
  t.equal(results[0]!.manifest.size, 40 * MiB + 333)
})

t.test('progress is reported up to the total', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  await sparseFile(src, 64 * MiB + 1)
  const pool = scanPool(t)
  await writePatches(src, [{ offset: 30 * MiB, length: MiB }])
  const view = await new FileDiskSource(src).open()
  for (const readHoles of [true, false]) {
    const seen: number[] = []
    await scanDisk(view, { pool, blockSize: 65536, readHoles, onProgress: p => { seen.push(p.done); t.equal(p.total, 64 * MiB + 1) } })
    t.ok(seen.length > 1, 'several progress events')
    t.same(seen, [...seen].sort((a, b) => a - b), 'progress never goes back')
    t.equal(seen[seen.length - 1], 64 * MiB + 1, `and ends at the total, holes ${readHoles ? 'read' : 'skipped'} included`)
  }
  await view.close()
})

t.test('abort stops a cycle with CORE_ABORTED and commits nothing', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  await sparseFile(src, 256 * MiB)
  await writePatches(src, [{ offset: 0, length: 16 * MiB }])
  const pool = scanPool(t)
  const store = await openStore(t, join(dir, 'store'))
  const controller = new AbortController()
  await t.rejects(replicateOnce(store, {
    pool,
    disks: [{ name: 'disk0', source: new FileDiskSource(src) }],
    signal: controller.signal,
    onProgress: p => { if (p.done > 0) controller.abort() }
  }), { code: 'CORE_ABORTED' })
  t.same(await store.listPoints(), [], 'no point')
  await t.rejects(replicateOnce(store, { pool, disks: [{ name: 'disk0', source: new FileDiskSource(src) }], signal: controller.signal }), { code: 'CORE_ABORTED' }, 'an already-aborted signal is refused up front')
})

t.test('an abort while tasks wait in the pool leaves no rejection unhandled (issue 11, Ctrl-C during a scan)', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  await sparseFile(src, 64 * MiB)
  await writePatches(src, [{ offset: 0, length: 64 * MiB }])
  // One thread: when the first chunk's blocks arrive, later chunks are still running or queued.
  const pool = new ScanPool({ threads: 1 })
  t.teardown(async () => { await pool.stop() })
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const view = await new FileDiskSource(src).open()
  t.teardown(async () => { await view.close() })
  const controller = new AbortController()
  await t.rejects(scanDisk(view, {
    pool,
    blockSize: 65536,
    signal: controller.signal,
    onChanged: async () => {
      controller.abort()
      // The sink does real I/O: the pending tasks' rejections land while it waits.
      await new Promise(resolve => setImmediate(resolve))
    }
  }), { code: 'CORE_ABORTED' })
  await new Promise(resolve => setImmediate(resolve))
  t.same(unhandled.map(e => (e as Error).name), [], 'no unhandled rejection')
})

t.test('an unreadable source fails with CORE_SOURCE_UNREADABLE', async t => {
  const dir = await tempDir(t)
  await t.rejects(new FileDiskSource(join(dir, 'missing.img')).open(), { code: 'CORE_SOURCE_UNREADABLE' })
  await t.rejects(new FileDiskSource(dir).open(), { code: 'CORE_SOURCE_UNREADABLE' }, 'a directory is not a disk')
})

t.test('worker results travel as one moved buffer: layout round trip', async t => {
  const { encodeResult, decodeResult } = await import('../../core/scan/scan-task.ts')
  const hashes = new Uint8Array(3 * 32).map((_, i) => i)
  const buffer = encodeResult(hashes, [0, 2], [{ index: 2, codec: 1, rawLength: 65536, data: Uint8Array.from([9, 8, 7]) }])
  const r = decodeResult(buffer)
  t.same([...r.hashes], [...hashes])
  t.same([...r.changed], [0, 2])
  t.equal(r.encoded.length, 1)
  t.same({ ...r.encoded[0]!, data: [...r.encoded[0]!.data] }, { index: 2, codec: 1, rawLength: 65536, data: [9, 8, 7] })
  t.equal(r.encoded[0]!.data.buffer, buffer, 'entries are views into the moved buffer, not copies')
})

t.test('a result written into a given-back buffer, and one that does not fit it', async t => {
  const { encodeResult, decodeResult, resultCapacity } = await import('../../core/scan/scan-task.ts')
  const hashes = new Uint8Array(2 * 32).fill(5)
  const room = new ArrayBuffer(resultCapacity(2 * 65536, 65536))
  const fits = encodeResult(hashes, [1], [{ index: 1, codec: 0, rawLength: 65536, data: new Uint8Array(65536).fill(3) }], room)
  t.equal(fits, room, 'written into the room')
  t.same([...decodeResult(fits).encoded[0]!.data.subarray(0, 4)], [3, 3, 3, 3])
  const small = new ArrayBuffer(64)
  const fresh = encodeResult(hashes, [1], [{ index: 1, codec: 0, rawLength: 65536, data: new Uint8Array(65536).fill(4) }], small, resultCapacity(2 * 65536, 65536))
  t.not(fresh, small, 'too small a room: a new buffer')
  t.equal(fresh.byteLength, resultCapacity(2 * 65536, 65536), 'as large as any result of such a chunk')
  t.equal(small.byteLength, 64, 'the small room is left as it was')
})

t.test('released blocks give their buffer back for reuse; the data handed out stays exact', async t => {
  const { BlockCodec } = await import('../../core/compress.ts')
  const { hashBlock, equalHashes } = await import('../../core/hash.ts')
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  await sparseFile(src, 48 * MiB)
  await writePatches(src, [{ offset: 0, length: 48 * MiB }]) // every block changed, none zero
  const pool = scanPool(t)
  const codec = new BlockCodec()
  const kept: Array<{ index: number, codec: number, data: Uint8Array }> = []
  const copies = new Map<number, { codec: number, data: Buffer }>()
  const releasedViews: Uint8Array[] = []
  const view = await new FileDiskSource(src).open()
  const result = await scanDisk(view, {
    pool,
    blockSize: 65536,
    reuseResults: true,
    onChanged: blocks => {
      for (const b of blocks) {
        // One block in 97 is never released: its chunk's buffer is never reused.
        if (b.index % 97 === 0) { kept.push({ index: b.index, codec: b.codec, data: b.data }); continue }
        copies.set(b.index, { codec: b.codec, data: Buffer.from(b.data) })
        releasedViews.push(b.data)
        b.release()
        b.release() // twice: counted once
      }
    }
  })
  await view.close()
  const exact = (index: number, c: number, data: Uint8Array): boolean => equalHashes(hashBlock(codec.decode(c, data, 65536)), 0, result.manifest.hashes, index * 32)
  t.equal(copies.size + kept.length, 768, 'every block handed out')
  t.ok([...copies].every(([index, c]) => exact(index, c.codec, c.data)), 'released blocks were exact when handed out')
  t.ok(kept.every(k => k.data.byteLength > 0 && exact(k.index, k.codec, k.data)), 'blocks never released still hold their data')
  // A buffer given back is moved to a worker for a later chunk: the views into it are emptied, never overwritten under a reader.
  t.ok(releasedViews.some(v => v.byteLength === 0), 'released buffers were reused')
})
