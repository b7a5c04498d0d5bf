/**
 * An error the pool reports outside any task (piscina's 'error' event: a
 * task aborted while its thread posted its result, "Unexpected message from
 * Worker") must not end the process: the pool keeps it and goes on scanning.
 * The event is injected on the pool's piscina instance (fault injection).
 */
import t from 'tap'
import type { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { diskRoot } from '../../core/manifest.ts'
import { ScanPool, scanDisk } from '../../core/scan/index.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'

t.test('a pool-level error is kept, not thrown, and the pool still scans', async t => {
  const pool = new ScanPool({ threads: 1 })
  t.teardown(async () => { await pool.stop() })
  const race = new Error('Unexpected message from Worker: { taskId: 32 }')
  const piscina = (pool as unknown as { piscina: EventEmitter }).piscina
  t.doesNotThrow(() => piscina.emit('error', race))
  t.equal(pool.lastPoolError, race)

  const dir = await tempDir(t)
  const path = join(dir, 'disk.raw')
  await sparseFile(path, 1 << 20)
  await writePatches(path, [{ offset: 4096, length: 8192 }])
  const scan = async (): Promise<string> => {
    const view = await new FileDiskSource(path).open()
    try {
      return diskRoot((await scanDisk(view, { pool, blockSize: 65536 })).manifest)
    } finally {
      await view.close()
    }
  }
  t.match(await scan(), /^[0-9a-f]{64}$/, 'the pool scans after it')
})
