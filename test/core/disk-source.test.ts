/**
 * FileDiskSource (a raw image file) against the DiskSource compliance suite.
 * Its views are not point-in-time: a write while one is open must fail the
 * close with CORE_SOURCE_CHANGED, which the suite accepts as "said it could not".
 */
import t from 'tap'
import { open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { diskSourceCompliance } from '../helpers/compliance/disk-source.ts'
import { tempDir } from '../helpers/fixtures.ts'

await diskSourceCompliance(t, {
  make: async (t, bytes) => {
    const path = join(await tempDir(t), 'disk.raw')
    await writeFile(path, bytes)
    return {
      source: new FileDiskSource(path),
      write: async (offset, data) => {
        const h = await open(path, 'r+')
        try { await h.write(data, 0, data.length, offset) } finally { await h.close() }
      }
    }
  }
})
