/**
 * ManualDiskSource against the DiskSource compliance suite, for both of its
 * read paths: a raw disk read as a file, and a qcow2 disk read through its
 * private read-only qemu-nbd. Another process writing the disk while a view
 * is open must fail the read or the close with CORE_SOURCE_CHANGED.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ManualDiskSource } from '../../../../appliance/drivers/manual/index.ts'
import { diskSourceCompliance } from '../../../helpers/compliance/disk-source.ts'
import { tempDir } from '../../../helpers/fixtures.ts'
import { requireTools } from '../../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-nbd'])

const run = promisify(execFile)
/** The guard's re-check interval here: short, so a check may also land while a view is open. */
const GUARD_MS = 50

t.test('raw', async t => {
  await diskSourceCompliance(t, {
    make: async (t, bytes) => {
      const path = join(await tempDir(t), 'manual.raw')
      await writeFile(path, bytes)
      return {
        source: new ManualDiskSource(path, 'raw', { intervalMs: GUARD_MS }),
        write: async (offset, data) => {
          const h = await open(path, 'r+')
          try { await h.write(data, 0, data.length, offset) } finally { await h.close() }
        }
      }
    }
  })
})

t.test('qcow2', async t => {
  await diskSourceCompliance(t, {
    make: async (t, bytes) => {
      const dir = await tempDir(t)
      const raw = join(dir, 'content.raw')
      const path = join(dir, 'manual.qcow2')
      await writeFile(raw, bytes)
      await run('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, path])
      return {
        source: new ManualDiskSource(path, 'qcow2', { intervalMs: GUARD_MS }),
        // another QEMU tool writing the image, as a VM would (it takes the image lock while it writes)
        write: async (offset, data) => {
          const src = join(dir, `write-${offset}.bin`)
          await writeFile(src, data)
          await run('qemu-io', ['-f', 'qcow2', path, '-c', `write -s ${src} ${offset} ${data.length}`])
        }
      }
    }
  })
})
