/**
 * A scan pool that ends its threads when idle (ScanPoolInit.idleTimeoutMs,
 * the daemon's): no thread before the first task; threads while it scans;
 * none, and no kept buffer, once idle; started again by the next scan,
 * which gives the same manifest. `trim` frees the kept buffers at once. A
 * pool without the option starts its threads with itself and keeps them.
 * Counts are read through the pool's API; waits are on `idle()`, never on time.
 */
import t from 'tap'
import { join } from 'node:path'
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { diskRoot } from '../../core/manifest.ts'
import { ScanPool, scanDisk, type ChangedBlock } from '../../core/scan/index.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'

const MiB = 2 ** 20
const BS = 65536

/** Scans `path` as a replication sender does (blocks released), noting the pool's thread count while blocks arrive. */
async function scan (pool: ScanPool, path: string, release = true): Promise<{ root: string, threadsWhileScanning: number, blocks: ChangedBlock[] }> {
  const view = await new FileDiskSource(path).open()
  let threadsWhileScanning = 0
  const blocks: ChangedBlock[] = []
  try {
    const result = await scanDisk(view, {
      pool,
      blockSize: BS,
      reuseResults: true,
      onChanged: got => {
        threadsWhileScanning = Math.max(threadsWhileScanning, pool.threadCount)
        blocks.push(...got)
        if (release) for (const b of got) b.release()
      }
    })
    return { root: diskRoot(result.manifest), threadsWhileScanning, blocks }
  } finally {
    await view.close()
  }
}

async function disk (t: Parameters<typeof tempDir>[0]): Promise<string> {
  const path = join(await tempDir(t), 'vm.img')
  await sparseFile(path, 24 * MiB)
  await writePatches(path, [{ offset: 0, length: 24 * MiB }]) // every block changed, none zero: every result carries data
  return path
}

t.test('threads start with the first task, end when idle with the kept buffers, and start again', async t => {
  const path = await disk(t)
  const pool = new ScanPool({ threads: 2, idleTimeoutMs: 0 })
  t.teardown(async () => { await pool.stop() })
  t.equal(pool.threadCount, 0, 'no thread before the first task')

  const first = await scan(pool, path)
  t.ok(first.threadsWhileScanning > 0, 'threads while scanning')
  await pool.idle()
  t.equal(pool.threadCount, 0, 'none once idle')
  t.equal(pool.spareCount, 0, 'and no result buffer kept')

  const second = await scan(pool, path)
  t.ok(second.threadsWhileScanning > 0, 'the next scan starts them again')
  t.equal(second.root, first.root, 'and gives the same manifest')
  await pool.idle()
  t.equal(pool.threadCount, 0, 'and end again')
})

t.test('a buffer given back after the threads ended is freed, not kept', async t => {
  const path = await disk(t)
  const pool = new ScanPool({ threads: 2, idleTimeoutMs: 0 })
  t.teardown(async () => { await pool.stop() })
  const { blocks } = await scan(pool, path, false)
  await pool.idle()
  // The sender's acks may come after the threads ended: the buffers then go at once.
  for (const b of blocks) b.release()
  t.equal(pool.spareCount, 0, 'nothing kept')
  t.ok(blocks.every(b => b.data.byteLength === 0), 'every block\'s buffer was freed (its views emptied)')
})

t.test('trim frees the kept buffers now; a pool without idleTimeoutMs keeps its threads', async t => {
  const path = await disk(t)
  const pool = new ScanPool({ threads: 2 })
  t.teardown(async () => { await pool.stop() })
  t.equal(pool.threadCount, 2, 'threads start with the pool')
  const { blocks } = await scan(pool, path)
  t.ok(pool.spareCount > 0, 'released results are kept for reuse')
  t.equal(pool.threadCount, 2, 'threads stay after the scan')
  // Views that still show data are in the kept buffers (the others' buffers went to later chunks).
  const kept = blocks.filter(b => b.data.byteLength > 0)
  t.ok(kept.length > 0, 'some buffers are kept whole')
  pool.trim()
  t.equal(pool.spareCount, 0, 'trim frees them')
  t.ok(kept.every(b => b.data.byteLength === 0), 'their memory is gone, not left to a later collection')
  pool.trim()
  t.equal(pool.spareCount, 0, 'trim again: nothing to do')
  t.equal((await scan(pool, path)).blocks.length, 384, 'the next scan allocates anew')
})

t.test('idleTimeoutMs must be a whole number of milliseconds', async t => {
  for (const idleTimeoutMs of [-1, 1.5, Number.NaN]) t.throws(() => new ScanPool({ threads: 1, idleTimeoutMs }), TypeError, String(idleTimeoutMs))
})
